/**
 * @file The room page (an ES module): wires the room's {@link ChatClient} (static/chatweb-client.js, the
 * `chatweb.v2` protocol of docs/PROTOCOL.md) to the message list, the people list, the compose box, the
 * per-message menu, attachments (uploaded as they are added, sent with the next message), threads and
 * pins (side panels), reactions, `@` suggestions, the topic, and the title
 * count and notifications while the tab is hidden. The server renders the first messages (and their JSON in
 * `#history-data`); the client resumes after the last of them, so nothing is missed or shown twice. Older
 * messages come page by page from the history API when you scroll to the top. Replies, reactions and pins
 * are drawn from the client's aggregates (the `as_of` rule). `?at=<id>` (a search hit) opens the room
 * scrolled to that message, loading older pages until it is shown. User text only ever reaches the page
 * as text.
 */

import { ChatClient } from '/static/chatweb-client.js';
import { MessageLog } from '/static/room-log.js';
import { Viewport } from '/static/room-viewport.js';
import { People } from '/static/room-people.js';
import { Composer } from '/static/room-compose.js';
import { Attachments } from '/static/room-files.js';
import { MessageMenu } from '/static/room-menu.js';
import { ReactionPicker } from '/static/room-reactions.js';
import { ThreadPanel, PinsPanel } from '/static/room-panels.js';
import { MentionSuggest } from '/static/room-mentions.js';
import { Notifier } from '/static/room-notify.js';
import { mountHooks } from '/static/room-hooks.js';
import { mountOutgoingHooks } from '/static/room-outgoing-hooks.js';
import { mentions } from '/static/room-message.js';
import { mentionsOf } from '/static/markdown.js';

/** Messages per older page. */
const PAGE = 50;

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const main = byId('room');
const room = main.dataset.room || '';
const kind = main.dataset.kind || 'public';
const role = main.dataset.role || '';
const signedIn = main.dataset.signedIn === 'true';
const staff = main.dataset.staff === 'true';
const me = {
  name: main.dataset.me || '',
  signedIn,
  staff,
  // Who may pin (docs/PROTOCOL.md): owners, moderators, staff; every member of a direct room (where
  // nobody else, staff included, ever is).
  mayPin: signedIn && (kind === 'direct' || staff || role === 'owner' || role === 'moderator'),
};
const initial = JSON.parse(byId('history-data').textContent || '[]');

const chat = new ChatClient({ room, since: Number(main.dataset.lastId) || 0 });
mountHooks(room);
mountOutgoingHooks(room);

const viewport = new Viewport({
  scroller: byId('chat-log'),
  list: byId('messages'),
  jump: /** @type {HTMLButtonElement} */ (byId('jump-newest')),
  jumpCount: byId('jump-count'),
  onNearTop: () => loadOlder(),
  onSeen: (id) => { if (me.signedIn) chat.markRead(id); },
});

/** @type {import('/static/room-message.js').Conversation} */
const conversation = {
  aggregate: (id) => chat.aggregate(id),
  message: (id) => log.get(id),
  repliesTo: (root) => log.repliesTo(root),
  canReact: me.signedIn,
  me: me.name,
  mentionsMe: (msg) => mentionsMe(msg),
  openThread: (id, opener) => { thread.openThread(id, opener); },
  toggleReaction: (id, emoji) => toggleReaction(id, emoji),
  openPicker: (id, opener) => picker.open(id, opener),
};

const log = new MessageLog({
  list: /** @type {HTMLOListElement} */ (byId('messages')),
  viewport,
  me,
  onMenu: (id, button) => menu.open(id, button),
  conversation,
});

const people = new People({
  list: /** @type {HTMLUListElement} */ (byId('people')),
  count: byId('people-count'),
  typingLine: byId('typing'),
  me,
});

const menu = new MessageMenu({
  menu: byId('message-menu'),
  allowed: (id) => {
    const msg = log.get(id) || thread.byId.get(id)?.msg;
    if (!msg) return { edit: false, delete: false, pin: false };
    return Object.assign(log.allowed(msg), { pinned: Boolean(chat.aggregate(id)?.pinned) });
  },
  onPin: (id, pin) => {
    (pin ? chat.pin(id) : chat.unpin(id))
      .catch((e) => log.system('Could not ' + (pin ? 'pin' : 'unpin') + ' the message: ' + describe(e), 'notice'));
  },
  onEdit: (id) => {
    const msg = log.get(id);
    if (msg && !msg.deleted) composer.startEdit(id, msg.message);
  },
  onDelete: (id) => {
    chat.delete(id).catch((e) => log.system('Could not delete the message: ' + describe(e), 'notice'));
  },
});

const picker = new ReactionPicker({
  picker: byId('reaction-picker'),
  onPick: (id, emoji) => toggleReaction(id, emoji),
});

const thread = new ThreadPanel({
  panel: byId('thread-panel'),
  chat,
  me,
  conversation,
  allowed: (msg) => log.allowed(msg),
  isOwn: (msg) => log.isOwn(msg),
  onMenu: (id, button) => menu.open(id, button),
  describe,
});

const pins = new PinsPanel({
  panel: byId('pins-panel'),
  toggle: /** @type {HTMLButtonElement} */ (byId('pins-button')),
  chat,
  me,
  show: (id) => {
    const li = log.item(id);
    if (!li) {
      log.system('That message is further back: scroll up to load it.', 'notice');
      return;
    }
    pins.close(false);
    li.scrollIntoView({ block: 'center' });
    li.focus();
  },
  unpin: (id) => chat.unpin(id).catch((e) => log.system('Could not unpin the message: ' + describe(e), 'notice')),
  describe,
});

const notifier = new Notifier({
  room,
  direct: kind === 'direct',
  button: /** @type {HTMLButtonElement} */ (byId('notify-button')),
  state: byId('notify-state'),
});

/** Your reaction `emoji` on message `id`, on or off. */
function toggleReaction(id, emoji) {
  const mine = chat.aggregate(id)?.reactions.find((r) => r.emoji === emoji)?.users.includes(me.name);
  (mine ? chat.unreact(id, emoji) : chat.react(id, emoji))
    .catch((e) => log.system('Could not ' + (mine ? 'take back' : 'add') + ' the reaction: ' + describe(e), 'notice'));
}

/** Whether `msg` names you: as the server resolved it, or (from a server without mentions) as typed. */
function mentionsMe(msg) {
  if (!me.signedIn || msg.deleted) return false;
  if (Array.isArray(msg.mentions)) return mentions(msg, me.name);
  const mine = me.name.toLowerCase();
  return mentionsOf(msg.message).some((n) => n.toLowerCase() === mine);
}

// ---- names to mention --------------------------------------------------------------------------------

/** @type {Promise<string[]> | null} the room's members, asked once */
let members = null;

async function mentionable() {
  if (!members) {
    members = fetch('/api/rooms/' + encodeURIComponent(room) + '/members', {
      headers: { Accept: 'application/json' }, credentials: 'same-origin',
    }).then((r) => (r.ok ? r.json() : []))
      .then((list) => (Array.isArray(list) ? list.map((m) => String(m.user)) : []))
      .catch(() => []);
  }
  const present = chat.users.filter((p) => !p.guest).map((p) => p.user);
  return present.concat(await members).filter((name) => name !== me.name);
}

new MentionSuggest({
  input: /** @type {HTMLTextAreaElement} */ (byId('chat-message-input')),
  list: /** @type {HTMLUListElement} */ (byId('compose-mentions')),
  names: mentionable,
});
new MentionSuggest({
  input: /** @type {HTMLTextAreaElement} */ (byId('thread-input')),
  list: /** @type {HTMLUListElement} */ (byId('thread-mentions')),
  names: mentionable,
});

/** Files for the next send; null where this person may not upload (the page has no attach button). */
const attachments = document.getElementById('attach-button') ? new Attachments({
  room,
  button: /** @type {HTMLButtonElement} */ (byId('attach-button')),
  picker: /** @type {HTMLInputElement} */ (byId('attach-input')),
  tray: byId('attachments'),
  list: /** @type {HTMLUListElement} */ (byId('attachment-list')),
  dropZone: main,
  input: /** @type {HTMLTextAreaElement} */ (byId('chat-message-input')),
  status: byId('attach-status'),
  maxBytes: Number(main.dataset.maxUploadBytes) || undefined,
}) : null;

const composer = new Composer({
  form: /** @type {HTMLFormElement} */ (byId('compose')),
  input: /** @type {HTMLTextAreaElement} */ (byId('chat-message-input')),
  counter: byId('byte-counter'),
  editingBar: byId('editing'),
  cancel: /** @type {HTMLButtonElement} */ (byId('edit-cancel')),
  maxBytes: Number(main.dataset.maxBytes) || 4096,
  onSend: send,
  onEdit: (id, text) => {
    if (text === log.get(id)?.message) return;
    chat.edit(id, text).catch((e) => log.system('Could not edit the message: ' + describe(e), 'notice'));
  },
  onTyping: () => chat.typing(),
  lastOwn: () => (me.signedIn ? log.lastOwn() : null), // guests cannot edit
  onRefused: (text) => log.system(text, 'notice'),
  canSendEmpty: () => Boolean(attachments && attachments.ready),
});

/** A refusal in words. */
function describe(error) {
  const detail = error && (error.detail || error.message);
  return detail ? String(detail) : String(error && error.code ? error.code : error);
}

/** Sends `text` with the finished attachments (a text of spaces alone goes as none). */
function send(text) {
  const files = attachments ? attachments.take() : [];
  if (files.length && !text.trim()) text = '';
  const key = log.addPending(text, files);
  chat.send(text, { files: files.map((f) => f.id) }).then(
    (ack) => log.confirm(key, ack.id),
    (error) => log.fail(key, describe(error)),
  );
}

// ---- older messages --------------------------------------------------------------------------------

const loadButton = /** @type {HTMLButtonElement} */ (byId('load-older'));
const startText = byId('log-start-text');
const older = {
  loading: false,
  /** @type {number | null} pass as `before` for the next page; null: nothing older */
  before: initial.length && initial[0].id > 1 ? initial[0].id : null,
};

function showStart(text) {
  viewport.keepView(() => {
    startText.textContent = text;
    // Disabled rather than hidden while loading: at the very top nothing above could make up for it.
    loadButton.disabled = older.loading;
    loadButton.hidden = older.before === null;
  });
}

/** @type {Promise<boolean> | null} the older page being loaded */
let loadingOlder = null;

/**
 * Loads the next older page (once at a time: a second call while one loads waits for it).
 * @returns {Promise<boolean>} whether a page came
 */
function loadOlder() {
  if (!loadingOlder) loadingOlder = loadOlderPage().finally(() => { loadingOlder = null; });
  return loadingOlder;
}

/** @returns {Promise<boolean>} whether a page came */
async function loadOlderPage() {
  if (older.loading || older.before === null) return false;
  older.loading = true;
  showStart('Loading older messages…');
  let ok = false;
  try {
    const page = await chat.history({ before: older.before, limit: PAGE });
    viewport.keepView(() => {
      log.prepend(page.messages);
      older.before = typeof page.before === 'number' ? page.before : null;
      older.loading = false;
      showStart(older.before === null ? 'This is the start of ' + room + '.' : 'Older messages are above.');
    });
    ok = true;
  } catch (error) {
    older.loading = false;
    showStart('Could not load older messages: ' + describe(error)); // the button stays, to try again
  }
  if (!ok) return false;
  // Still at the top (a short page, or a tall window): keep filling.
  if (older.before !== null && viewport.nearTop() && !seeking) requestAnimationFrame(() => loadOlder());
  return true;
}

// ---- opening at a message (`?at=<id>`, what a search hit links to) ---------------------------------

/** At most this many older pages are loaded to reach the message asked for. */
const AT_PAGES = 20;
/** Going back to a message: the loads are its, not the top's. */
let seeking = false;

/**
 * Scrolls to message `id` and marks it (a class, and focus for screen readers). When it is older than
 * what is shown, older pages come in the way scrolling up brings them (the history API, with its `as_of`
 * aggregates, before the socket's events), at most {@link AT_PAGES} of them.
 */
async function openAt(id) {
  seeking = true;
  try {
    for (let pages = 0; ; pages += 1) {
      const li = log.item(id);
      if (li) {
        for (const old of document.querySelectorAll('#messages li.at-target')) old.classList.remove('at-target');
        li.classList.add('at-target');
        viewport.show(li);
        li.focus({ preventScroll: true });
        return;
      }
      if (older.before === null || id >= older.before || pages >= AT_PAGES) break;
      if (!(await loadOlder())) break; // it failed: the start line says so
    }
  } finally {
    seeking = false;
  }
  log.system('That message is not in this room any more (deleted, or too far back to fetch here).', 'notice');
}

loadButton.addEventListener('click', () => loadOlder());

// ---- the connection ----------------------------------------------------------------------------------

const statusEl = byId('status');
let statusText = 'connecting…';
let unsent = 0;

function showStatus() {
  statusEl.textContent = statusText + (unsent ? ' · ' + unsent + ' unsent' : '');
}

chat.addEventListener('status', (e) => {
  const { state, attempt, delayMs } = /** @type {CustomEvent} */ (e).detail;
  let shown = 'connecting';
  if (state === 'open') {
    shown = 'open';
    statusText = 'connected';
  } else if (state === 'reconnecting') {
    shown = 'offline';
    statusText = 'offline, retrying in ' + Math.max(1, Math.ceil(delayMs / 1000)) + ' s';
  } else if (state === 'closed') {
    shown = 'offline';
    statusText = 'disconnected (reload to rejoin)';
  } else {
    statusText = attempt ? 'reconnecting…' : 'connecting…';
  }
  main.dataset.state = shown;
  statusEl.className = 'status ' + shown;
  showStatus();
});

chat.addEventListener('pending', (e) => {
  unsent = /** @type {CustomEvent} */ (e).detail.count;
  showStatus();
});

chat.addEventListener('message', (e) => {
  const msg = /** @type {CustomEvent} */ (e).detail;
  log.add(msg, !msg.history);
  thread.message(msg);
  people.stopTyping(msg.user);
  if (!msg.history && !log.isOwn(msg)) notifier.message(msg, mentionsMe(msg));
});
chat.addEventListener('edit', (e) => {
  const { target, message } = /** @type {CustomEvent} */ (e).detail;
  log.edit(target, message);
  thread.changed({ id: target, message, edited: true });
});
chat.addEventListener('delete', (e) => {
  const { target } = /** @type {CustomEvent} */ (e).detail;
  log.remove(target);
  thread.changed({ id: target, message: '', deleted: true });
  if (composer.editing === target) composer.stopEditing();
});
chat.addEventListener('clear', (e) => {
  const { through } = /** @type {CustomEvent} */ (e).detail;
  log.clear(through);
  for (const id of thread.byId.keys()) if (id <= through) thread.changed({ id, message: '', deleted: true });
  if (composer.editing !== null && composer.editing <= through) composer.stopEditing();
});
chat.addEventListener('aggregate', (e) => {
  const { id } = /** @type {CustomEvent} */ (e).detail;
  log.refreshFoot(id);
  thread.refreshFoot(id);
});
chat.addEventListener('pin', () => {
  if (pins.open || pinsCounted) pins.reload();
});
chat.addEventListener('topic', (e) => {
  const { topic } = /** @type {CustomEvent} */ (e).detail;
  const line = byId('room-topic');
  line.textContent = String(topic || '');
  line.hidden = !topic;
});
chat.addEventListener('presence', (e) => people.set(/** @type {CustomEvent} */ (e).detail.users));
chat.addEventListener('join', (e) => {
  const { user, guest } = /** @type {CustomEvent} */ (e).detail;
  log.system(user + (guest ? ' (guest)' : '') + ' joined');
});
chat.addEventListener('leave', (e) => {
  const { user, guest } = /** @type {CustomEvent} */ (e).detail;
  log.system(user + (guest ? ' (guest)' : '') + ' left');
});
chat.addEventListener('typing', (e) => people.typing(/** @type {CustomEvent} */ (e).detail.user));
chat.addEventListener('read', (e) => log.markUnread(/** @type {CustomEvent} */ (e).detail.id));
chat.addEventListener('error', (e) => {
  const { code, detail } = /** @type {CustomEvent} */ (e).detail;
  log.system('[' + code + '] ' + (detail || ''), 'notice');
});

// Leaving the page (or its going into the back/forward cache) closes the socket at once, so the room sees
// you leave now rather than when a keepalive runs out; coming back from that cache resumes.
window.addEventListener('pagehide', () => chat.close());
window.addEventListener('pageshow', (e) => { if (/** @type {PageTransitionEvent} */ (e).persisted) chat.connect(); });

// ---- keyboard: arrows between messages, `r` replies to the one in focus -----------------------------

byId('chat-log').addEventListener('keydown', (e) => {
  const target = /** @type {HTMLElement} */ (e.target);
  if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || target.closest('input, textarea')) return;
  const li = /** @type {HTMLElement | null} */ (target.closest('li.msg[data-id]'));
  if (!li) return;
  if (e.key === 'r' || e.key === 'R') {
    e.preventDefault();
    const opener = /** @type {HTMLElement} */ (li.querySelector('.reply-button') || li);
    thread.openThread(Number(li.dataset.id), opener);
  } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    const items = Array.from(document.querySelectorAll('#messages li.msg[data-id]'));
    const next = items[items.indexOf(li) + (e.key === 'ArrowDown' ? 1 : -1)];
    if (next) {
      e.preventDefault();
      /** @type {HTMLElement} */ (next).focus();
    }
  }
});

// ---- start -------------------------------------------------------------------------------------------

/** Whether the pin count on the header button is kept (once the pins were asked for). */
let pinsCounted = false;

// The server rendered these with the room's last id: their aggregates, when it gave any, count as of it;
// without any, they count as the socket's would (a reply in its root), and the API's answer below
// completes them (reactions are events the page was not given).
if (initial.some((m) => 'replies' in m || 'reactions' in m || 'pinned' in m)) {
  chat.absorb(initial, Number(main.dataset.lastId) || 0);
} else {
  chat.absorbStream(initial);
}
log.reset(initial);
showStart(older.before === null ? 'This is the start of ' + room + '.' : 'Older messages are above.');
chat.connect();
byId('chat-message-input').focus();
const at = Number(new URLSearchParams(location.search).get('at'));
if (Number.isInteger(at) && at > 0) openAt(at);

// Once connected: the shown messages' aggregates as the API counts them, and the pins' count.
chat.addEventListener('status', function first(e) {
  if (/** @type {CustomEvent} */ (e).detail.state !== 'open') return;
  chat.removeEventListener('status', first);
  if (initial.length) {
    chat.history({ before: initial[initial.length - 1].id + 1, limit: Math.min(200, initial.length) })
      .then((page) => { for (const msg of page.messages) log.amend(msg); })
      .catch(() => {});
  }
  pinsCounted = true;
  pins.reload();
});
