/**
 * @file One message of the room page as DOM: its author (and a guest tag), its local time (the full date
 * as tooltip), its text (Markdown, static/markdown.js) or "message deleted", "(edited)", and a "⋯" menu
 * button when you may act on it. Also the line a send shows while it waits for its ack. User text only
 * ever goes in as text nodes built by the renderer or `textContent`.
 */

import { render } from '/static/markdown.js';

/**
 * A message as the socket and the history API carry it.
 * @typedef {{id: number, ts: string, user: string, message: string, guest?: boolean,
 *   deleted?: boolean, edited?: boolean, reply_to?: number, mentions?: string[]}} Message
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
 * Fills `li` (emptied first) from `msg`.
 * @param {HTMLLIElement} li
 * @param {Message} msg
 * @param {object} how
 * @param {boolean} how.own said by the one looking
 * @param {string} how.me the name of the one looking (their mentions are highlighted)
 * @param {{edit: boolean, delete: boolean}} how.may what they may do with it
 * @param {(button: HTMLButtonElement) => void} how.onMenu its menu button was pressed
 */
export function renderMessage(li, msg, { own, me, may, onMenu }) {
  li.replaceChildren();
  li.dataset.id = String(msg.id);
  li.classList.add('msg');
  li.classList.toggle('own', own);
  li.classList.toggle('guest', Boolean(msg.guest));
  li.classList.toggle('deleted', Boolean(msg.deleted));
  li.classList.toggle('edited', Boolean(msg.edited) && !msg.deleted);
  li.classList.toggle('mentions-me', !msg.deleted && !own && mentions(msg, me));
  const meta = element('div', 'meta');
  meta.append(element('span', 'author', msg.user));
  if (msg.guest) meta.append(' ', element('span', 'tag guest-tag', 'guest'));
  const time = timeElement(msg.ts);
  meta.append(' ', time);
  const body = element('div', 'body');
  body.title = time.title;
  body.append(msg.deleted ? element('div', 'text', 'message deleted') : messageText(msg.message, me));
  if (msg.edited && !msg.deleted) body.append(' ', element('span', 'edited-mark', '(edited)'));
  li.append(meta, body);
  if (may.edit || may.delete) {
    const button = /** @type {HTMLButtonElement} */ (element('button', 'msg-menu-button'));
    button.type = 'button';
    button.setAttribute('aria-haspopup', 'menu');
    button.setAttribute('aria-expanded', 'false');
    button.setAttribute('aria-label', 'Actions for the message by ' + msg.user);
    const dots = element('span', '', '⋯');
    dots.setAttribute('aria-hidden', 'true');
    button.append(dots);
    button.addEventListener('click', () => onMenu(button));
    li.append(button);
  }
}

/**
 * The line of a send waiting for its ack ("sending…").
 * @param {string} key
 * @param {string} text
 * @param {{name: string, signedIn: boolean}} me
 */
export function pendingItem(key, text, me) {
  const li = /** @type {HTMLLIElement} */ (element('li', 'msg own pending'));
  li.dataset.pending = key;
  const meta = element('div', 'meta');
  meta.append(element('span', 'author', me.name));
  if (!me.signedIn) meta.append(' ', element('span', 'tag guest-tag', 'guest'));
  meta.append(' ', element('span', 'state', 'sending…'));
  const body = element('div', 'body');
  body.append(messageText(text, me.name));
  li.append(meta, body);
  return li;
}
