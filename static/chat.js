/**
 * @file The room page (an ES module): wires the room's {@link ChatClient} (static/chatweb-client.js, the
 * `chatweb.v2` protocol of docs/PROTOCOL.md) to the message list, the people list, the compose box and the
 * per-message menu. The server renders the first messages (and their JSON in `#history-data`); the client
 * resumes after the last of them, so nothing is missed or shown twice. Older messages come page by page
 * from the history API when you scroll to the top. User text only ever reaches the page as text.
 */

import { ChatClient } from '/static/chatweb-client.js';
import { MessageLog } from '/static/room-log.js';
import { Viewport } from '/static/room-viewport.js';
import { People } from '/static/room-people.js';
import { Composer } from '/static/room-compose.js';
import { MessageMenu } from '/static/room-menu.js';

/** Messages per older page. */
const PAGE = 50;

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const main = byId('room');
const room = main.dataset.room || '';
const me = {
  name: main.dataset.me || '',
  signedIn: main.dataset.signedIn === 'true',
  staff: main.dataset.staff === 'true',
};
const initial = JSON.parse(byId('history-data').textContent || '[]');

const chat = new ChatClient({ room, since: Number(main.dataset.lastId) || 0 });

const viewport = new Viewport({
  scroller: byId('chat-log'),
  list: byId('messages'),
  jump: /** @type {HTMLButtonElement} */ (byId('jump-newest')),
  jumpCount: byId('jump-count'),
  onNearTop: () => loadOlder(),
  onSeen: (id) => { if (me.signedIn) chat.markRead(id); },
});

const log = new MessageLog({
  list: /** @type {HTMLOListElement} */ (byId('messages')),
  viewport,
  me,
  onMenu: (id, button) => menu.open(id, button),
});

const people = new People({
  list: /** @type {HTMLUListElement} */ (byId('people')),
  count: byId('people-count'),
  typingLine: byId('typing'),
  me,
});

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
});

const menu = new MessageMenu({
  menu: byId('message-menu'),
  allowed: (id) => {
    const msg = log.get(id);
    return msg ? log.allowed(msg) : { edit: false, delete: false };
  },
  onEdit: (id) => {
    const msg = log.get(id);
    if (msg && !msg.deleted) composer.startEdit(id, msg.message);
  },
  onDelete: (id) => {
    chat.delete(id).catch((e) => log.system('Could not delete the message: ' + describe(e), 'notice'));
  },
});

/** A refusal in words. */
function describe(error) {
  const detail = error && (error.detail || error.message);
  return detail ? String(detail) : String(error && error.code ? error.code : error);
}

function send(text) {
  const key = log.addPending(text);
  chat.send(text).then(
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

async function loadOlder() {
  if (older.loading || older.before === null) return;
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
  if (!ok) return;
  // Still at the top (a short page, or a tall window): keep filling.
  if (older.before !== null && viewport.nearTop()) requestAnimationFrame(() => loadOlder());
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
  people.stopTyping(msg.user);
});
chat.addEventListener('edit', (e) => {
  const { target, message } = /** @type {CustomEvent} */ (e).detail;
  log.edit(target, message);
});
chat.addEventListener('delete', (e) => {
  const { target } = /** @type {CustomEvent} */ (e).detail;
  log.remove(target);
  if (composer.editing === target) composer.stopEditing();
});
chat.addEventListener('clear', (e) => {
  const { through } = /** @type {CustomEvent} */ (e).detail;
  log.clear(through);
  if (composer.editing !== null && composer.editing <= through) composer.stopEditing();
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

log.reset(initial);
showStart(older.before === null ? 'This is the start of ' + room + '.' : 'Older messages are above.');
chat.connect();
byId('chat-message-input').focus();
