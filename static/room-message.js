/**
 * @file One message of the room page as DOM: its author (and a guest tag), its local time (the full date
 * as tooltip), its text (Markdown, static/markdown.js) or "message deleted", "(edited)", its files
 * (static/message-files.js), and a "⋯" menu button when you may act on it. Also the line a send shows while it waits for its ack. User text only
 * ever goes in as text nodes built by the renderer or `textContent`.
 */

import { plainText, render } from '/static/markdown.js';
import { fileList } from '/static/message-files.js';

/**
 * A message as the socket and the history API carry it.
 * @typedef {{id: number, ts: string, user: string, message: string, guest?: boolean, bot?: boolean,
 *   deleted?: boolean, edited?: boolean, reply_to?: number, mentions?: string[],
 *   files?: import('/static/chatweb-client.js').FileInfo[]}} Message
 */

/** Messages by one author closer together than this share one header. */
const GROUP_GAP_MS = 5 * 60 * 1000;

const TIME = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const DAY_TIME = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit',
});
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

/**
 * A new element with a class and text (as text, never as HTML).
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A `<time>` showing `ts` in local time (with the date when it is not today), the full date as tooltip.
 * @param {string} ts RFC 3339
 */
export function timeElement(ts) {
  const date = new Date(ts);
  const node = element('time');
  if (Number.isNaN(date.getTime())) return node;
  node.dateTime = ts;
  const today = new Date().toDateString() === date.toDateString();
  node.textContent = (today ? TIME : DAY_TIME).format(date);
  node.title = FULL.format(date);
  return node;
}

/**
 * The text of a message as DOM: its Markdown rendered (`me`'s own mentions stronger), in a `div.text`.
 * @param {string} text
 * @param {string} me
 */
export function messageText(text, me) {
  const node = element('div', 'text');
  node.append(render(text, { me }));
  return node;
}

/**
 * Whether `msg` mentions `name`, as the server resolved it (`mentions`, any case).
 * @param {Message} msg
 * @param {string} name
 */
export function mentions(msg, name) {
  const lower = name.toLowerCase();
  return Boolean(name) && Array.isArray(msg.mentions) && msg.mentions.some((m) => String(m).toLowerCase() === lower);
}

/**
 * Whether message `b` continues the group of `a` just above it: same author, close in time.
 * @param {Message} a
 * @param {Message} b
 */
export function continues(a, b) {
  return a.user === b.user && Boolean(a.guest) === Boolean(b.guest) &&
    Math.abs(Date.parse(b.ts) - Date.parse(a.ts)) < GROUP_GAP_MS;
}

/**
 * A message's aggregates as the client keeps them (static/chatweb-client.js, `aggregate(id)`).
 * @typedef {{replies: number, lastReplyId: number | null, pinned: boolean,
 *   reactions: {emoji: string, count: number, users: string[]}[]}} Aggregate
 */

/**
 * What a message can do, and what it shows beyond its text.
 * @typedef {object} Conversation
 * @property {(id: number) => Aggregate | null} aggregate its replies, reactions and pin
 * @property {(id: number) => Message | null} message another message shown (a reply's root)
 * @property {(root: number) => Message[]} repliesTo the replies to `root` shown in the room's log
 * @property {boolean} canReact signed in (guests cannot react)
 * @property {string} me the name of the one looking
 * @property {(msg: Message) => boolean} mentionsMe whether `msg` names the one looking
 * @property {(id: number, opener: HTMLElement) => void} openThread the thread of message `id`
 * @property {(id: number, emoji: string) => void} toggleReaction yours, on or off
 * @property {(id: number, opener: HTMLButtonElement) => void} openPicker the emoji picker for `id`
 */

/**
 * Fills `li` (emptied first) from `msg`.
 * @param {HTMLLIElement} li
 * @param {Message} msg
 * @param {object} how
 * @param {boolean} how.own said by the one looking
 * @param {string} how.me the name of the one looking (their mentions are highlighted)
 * @param {{edit: boolean, delete: boolean, pin?: boolean}} how.may what they may do with it
 * @param {(button: HTMLButtonElement) => void} how.onMenu its menu button was pressed
 * @param {Conversation} [how.conversation] replies, reactions, pins (without it: the text alone)
 * @param {'log' | 'thread'} [how.place] in the room's log (default) or in a thread's panel
 */
export function renderMessage(li, msg, { own, me, may, onMenu, conversation, place = 'log' }) {
  li.replaceChildren();
  li.dataset.id = String(msg.id);
  li.tabIndex = -1; // reachable by the log's arrow keys, and `r` replies to it
  li.classList.add('msg');
  li.classList.toggle('own', own);
  li.classList.toggle('guest', Boolean(msg.guest));
  li.classList.toggle('deleted', Boolean(msg.deleted));
  li.classList.toggle('edited', Boolean(msg.edited) && !msg.deleted);
  li.classList.toggle('mentions-me', !msg.deleted && !own &&
    (conversation ? conversation.mentionsMe(msg) : mentions(msg, me)));
  li.classList.toggle('reply', typeof msg.reply_to === 'number');
  const meta = element('div', 'meta');
  meta.append(element('span', 'author', msg.user));
  if (msg.guest) meta.append(' ', element('span', 'tag guest-tag', 'guest'));
  if (msg.bot) meta.append(' ', element('span', 'tag bot-tag', 'bot'));
  const time = timeElement(msg.ts);
  meta.append(' ', time);
  if (typeof msg.reply_to === 'number' && place === 'log' && conversation) {
    li.append(replyContext(msg, conversation));
  }
  const body = element('div', 'body');
  body.title = time.title;
  body.append(msg.deleted ? element('div', 'text', 'message deleted') : messageText(msg.message, me));
  if (msg.edited && !msg.deleted) body.append(' ', element('span', 'edited-mark', '(edited)'));
  const files = msg.deleted ? null : fileList(msg.files);
  if (files) body.append(files);
  li.append(meta, body);
  if (conversation) {
    const foot = element('div', 'msg-foot');
    li.append(foot);
    renderFoot(li, msg, conversation, place);
    if (!msg.deleted) li.append(actions(msg, conversation, place));
  }
  if (may.edit || may.delete || may.pin) {
    const button = /** @type {HTMLButtonElement} */ (element('button', 'msg-menu-button'));
    button.type = 'button';
    button.setAttribute('aria-haspopup', 'menu');
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-label', 'More actions for the message by ' + msg.user);
    const dots = element('span', '', '⋯');
    dots.setAttribute('aria-hidden', 'true');
    button.append(dots);
    button.addEventListener('click', () => onMenu(button));
    li.append(button);
  }
}

/**
 * Redraws what is under a message's text (its reactions, "N replies", "pinned") from its aggregates,
 * keeping the focus on the same chip when it was on one.
 * @param {HTMLLIElement} li
 * @param {Message} msg
 * @param {Conversation} conversation
 * @param {'log' | 'thread'} place
 */
export function renderFoot(li, msg, conversation, place) {
  const foot = li.querySelector(':scope > .msg-foot');
  if (!foot) return;
  const focused = /** @type {HTMLElement | null} */ (foot.contains(document.activeElement) ? document.activeElement : null);
  const focusKey = focused ? focused.dataset.emoji || focused.className : null;
  foot.replaceChildren();
  const agg = msg.deleted ? null : conversation.aggregate(msg.id);
  li.classList.toggle('pinned', Boolean(agg && agg.pinned));
  if (agg && agg.pinned) foot.append(element('span', 'tag pin-tag', 'pinned'));
  if (agg && agg.reactions.length) {
    const group = element('div', 'reactions');
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', 'Reactions');
    for (const r of agg.reactions) group.append(chip(msg, r, conversation));
    foot.append(group);
  }
  if (place === 'log' && typeof msg.reply_to !== 'number' && agg && agg.replies > 0) {
    const link = /** @type {HTMLButtonElement} */ (element('button', 'link-button replies-link',
      agg.replies === 1 ? '1 reply' : agg.replies + ' replies'));
    link.type = 'button';
    link.setAttribute('aria-label', (agg.replies === 1 ? '1 reply' : agg.replies + ' replies') +
      ' to ' + msg.user + ': open the thread');
    link.addEventListener('click', () => conversation.openThread(msg.id, link));
    foot.append(link);
  }
  foot.hidden = foot.childElementCount === 0;
  if (focusKey) {
    const again = Array.from(foot.querySelectorAll('button'))
      .find((b) => (b.dataset.emoji || b.className) === focusKey);
    (again || li).focus();
  }
}

/** One reaction chip: the emoji and its count, yours pressed, the names in its label and tooltip. */
function chip(msg, r, conversation) {
  const button = /** @type {HTMLButtonElement} */ (element('button', 'chip'));
  button.type = 'button';
  button.dataset.emoji = r.emoji;
  const mine = conversation.canReact && r.users.includes(conversation.me);
  button.setAttribute('aria-pressed', String(mine));
  const names = r.users.slice(0, 20).join(', ') + (r.count > r.users.length ? ' and ' + (r.count - r.users.length) + ' more' : '');
  const label = r.emoji + ' ' + r.count + ', from ' + names;
  button.setAttribute('aria-label', label + (conversation.canReact ? (mine ? '. Press to take yours back' : '. Press to add yours') : ''));
  button.title = label;
  const emoji = element('span', 'chip-emoji', r.emoji);
  emoji.setAttribute('aria-hidden', 'true');
  const count = element('span', 'chip-count', String(r.count));
  count.setAttribute('aria-hidden', 'true');
  button.append(emoji, count);
  if (conversation.canReact) button.addEventListener('click', () => conversation.toggleReaction(msg.id, r.emoji));
  else button.setAttribute('aria-disabled', 'true');
  return button;
}

/** "↳ ada: the first words of the root", opening the thread; for a reply in the room's log. */
function replyContext(msg, conversation) {
  const root = conversation.message(/** @type {number} */ (msg.reply_to));
  const button = /** @type {HTMLButtonElement} */ (element('button', 'link-button reply-context'));
  button.type = 'button';
  const arrow = element('span', 'reply-arrow', '↳ ');
  arrow.setAttribute('aria-hidden', 'true');
  let words = 'a thread';
  if (root) words = root.user + ': ' + (root.deleted ? 'message deleted' : summary(root));
  button.append(arrow, element('span', '', 'in reply to ' + words));
  button.addEventListener('click', () => conversation.openThread(/** @type {number} */ (msg.reply_to), button));
  return button;
}

/** The first words of `text` (its Markdown left out) on one line. */
export function snippet(text, max = 80) {
  const line = plainText(String(text));
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

/**
 * A message in a few words: the first of its text, or the names of its files when it has no text.
 * @param {Message} msg
 * @param {number} [max]
 */
export function summary(msg, max = 80) {
  const text = snippet(msg.message || '', max);
  if (text || !Array.isArray(msg.files) || msg.files.length === 0) return text;
  return snippet(msg.files.map((f) => String(f && f.name)).join(', '), max);
}

/** Reply and React, shown on hover and focus (always on touch screens). */
function actions(msg, conversation, place) {
  const bar = element('div', 'msg-actions');
  if (place === 'log') {
    const reply = /** @type {HTMLButtonElement} */ (element('button', 'reply-button'));
    reply.type = 'button';
    reply.setAttribute('aria-label', 'Reply to ' + msg.user + ' in a thread');
    reply.title = 'Reply in a thread (r)';
    const icon = element('span', '', '↩');
    icon.setAttribute('aria-hidden', 'true');
    reply.append(icon, element('span', 'action-word', ' Reply'));
    reply.addEventListener('click', () => conversation.openThread(msg.id, reply));
    bar.append(reply);
  }
  if (conversation.canReact) {
    const react = /** @type {HTMLButtonElement} */ (element('button', 'react-button'));
    react.type = 'button';
    react.setAttribute('aria-label', 'Add a reaction to the message by ' + msg.user);
    react.setAttribute('aria-haspopup', 'dialog');
    react.setAttribute('aria-expanded', 'false');
    react.title = 'Add a reaction';
    const icon = element('span', '', '☺+');
    icon.setAttribute('aria-hidden', 'true');
    react.append(icon);
    react.addEventListener('click', () => conversation.openPicker(msg.id, react));
    bar.append(react);
  }
  return bar;
}

/**
 * The line of a send waiting for its ack ("sending…"), with the files it attaches.
 * @param {string} key
 * @param {string} text
 * @param {{name: string, signedIn: boolean}} me
 * @param {import('/static/chatweb-client.js').FileInfo[]} [files]
 */
export function pendingItem(key, text, me, files) {
  const li = /** @type {HTMLLIElement} */ (element('li', 'msg own pending'));
  li.dataset.pending = key;
  const meta = element('div', 'meta');
  meta.append(element('span', 'author', me.name));
  if (!me.signedIn) meta.append(' ', element('span', 'tag guest-tag', 'guest'));
  meta.append(' ', element('span', 'state', 'sending…'));
  const body = element('div', 'body');
  body.append(messageText(text, me.name));
  const list = fileList(files);
  if (list) body.append(list);
  li.append(meta, body);
  return li;
}
