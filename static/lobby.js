/**
 * @file The lobby (an ES module): keeps a guest's nickname in a cookie and goes to /chat/<room>/ on Enter
 * or the button; keeps the room lists live (people in each room now, your unread counts when signed in) by
 * polling `GET /api/rooms/` every few seconds while the page is visible: public rooms in "Rooms", the
 * private and direct rooms you belong to in "Your rooms" (shown only to the signed-in; the API lists only
 * rooms the caller may see). Room names and people's names reach the page as text only.
 */

/** How often the room list is refreshed while the page is visible. */
const POLL_MS = 4000;

const form = /** @type {HTMLFormElement} */ (document.getElementById('room-form'));
const nick = /** @type {HTMLInputElement | null} */ (document.getElementById('nickname-input'));
const roomInput = /** @type {HTMLInputElement} */ (document.getElementById('room-name-input'));
const error = /** @type {HTMLElement} */ (document.getElementById('room-name-error'));
const list = /** @type {HTMLUListElement} */ (document.getElementById('room-list'));
const empty = /** @type {HTMLElement} */ (document.getElementById('no-rooms'));
const myList = /** @type {HTMLUListElement | null} */ (document.getElementById('my-room-list'));
const myEmpty = /** @type {HTMLElement | null} */ (document.getElementById('no-my-rooms'));
/**
 * What the server named each of your rooms (a direct room: its other members), kept across refreshes;
 * a room the page has not seen yet shows its own name.
 * @type {Map<string, string>}
 */
const labels = new Map();
if (myList) {
  for (const li of myList.querySelectorAll('li[data-room]')) {
    labels.set(/** @type {HTMLElement} */ (li).dataset.room ?? '', /** @type {HTMLElement} */ (li).dataset.label ?? '');
  }
}
// The server's rule (src/domain/room_name.rs): NFC, letters and digits of any script, '-', '_', '.', not
// '.' or '..' (the browser would resolve those away), no invisible character (src/domain/invisible.rs).
const ROOM = /^[\p{Alphabetic}\p{N}_.-]{1,64}$/u;
const INVISIBLE =
  /[\p{Cc}\p{Cf}\u034F\u115F\u1160\u17B4\u17B5\u180B-\u180F\u2028\u2029\u2800\u3164\uFE00-\uFE0F\uFFA0\uFFF0-\uFFF8\u{E0000}-\u{E0FFF}]/u;

/** @param {string} name */
function validRoom(name) {
  return ROOM.test(name) && !INVISIBLE.test(name) && name !== '.' && name !== '..';
}

// Signed-in users have no nickname box: the server knows their name.
function saveNickname() {
  if (!nick) return;
  const value = nick.value.trim();
  document.cookie = nick.dataset.cookie + '=' + encodeURIComponent(value) +
    '; path=/; max-age=31536000; samesite=lax';
}

if (nick) nick.addEventListener('change', saveNickname);
// A refused form (shown again with its reason) takes the focus; else the room box does.
const refused = document.querySelector('#create-room-error, #dm-error');
const refusedInput = /** @type {HTMLInputElement | null | undefined} */ (
  refused?.parentElement?.querySelector('form input:not([type=hidden])'));
(refusedInput ?? roomInput).focus();
form.addEventListener('submit', (event) => {
  event.preventDefault();
  saveNickname();
  const name = roomInput.value.trim().normalize('NFC');
  if (!validRoom(name)) {
    error.textContent = 'Room names are 1 to 64 letters, digits, "-", "_" or "." (but not "." or "..").';
    return;
  }
  window.location.pathname = '/chat/' + encodeURIComponent(name) + '/';
});

// ---- the live room list --------------------------------------------------------------------------------

/**
 * @typedef {{name: string, kind: string, last_id: number, last_activity: string, members: number,
 *   unread: number | null, mentions?: number, topic?: string}} RoomInfo
 */

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

function span(className, text) {
  const node = document.createElement('span');
  node.className = className;
  node.textContent = text;
  return node;
}

/** "5 minutes ago", in the reader's language. */
function ago(date) {
  const seconds = Math.round((date.getTime() - Date.now()) / 1000);
  const steps = [[60, 'second'], [60, 'minute'], [24, 'hour'], [7, 'day'], [4.35, 'week'], [12, 'month']];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return RELATIVE.format(Math.round(value), /** @type {any} */ (unit));
    value /= size;
  }
  return RELATIVE.format(Math.round(value), 'year');
}

/** @param {RoomInfo} room */
function roomItem(room) {
  const li = document.createElement('li');
  li.dataset.room = room.name;
  li.dataset.members = String(room.members);
  li.dataset.unread = room.unread === null || room.unread === undefined ? '' : String(room.unread);
  li.dataset.mentions = String(room.mentions || 0);
  const link = document.createElement('a');
  link.className = 'room-link';
  link.href = '/chat/' + encodeURIComponent(room.name) + '/';
  const mine = room.kind && room.kind !== 'public';
  link.textContent = mine ? labels.get(room.name) || room.name : room.name;
  li.append(link);
  if (mine) {
    li.dataset.kind = room.kind;
    li.dataset.label = link.textContent;
    li.append(' ', span('tag kind-tag', room.kind));
  }
  if (room.unread) {
    const badge = span('unread', room.unread > 99 ? '99+' : String(room.unread));
    badge.title = room.unread + ' unread';
    const hidden = span('visually-hidden', ' unread');
    badge.append(hidden);
    li.append(' ', badge);
  }
  if (room.mentions) {
    // Unread messages that name you: a badge of its own, before the plain count.
    const shown = room.mentions > 99 ? '99+' : String(room.mentions);
    const badge = span('mention-badge', '@' + shown);
    const words = room.mentions === 1 ? ' mention of you' : ' mentions of you';
    badge.title = room.mentions + words;
    badge.append(span('visually-hidden', words));
    li.append(' ', badge);
  }
  if (room.topic) li.append(' ', span('room-topic-line', room.topic));
  const meta = span('room-meta', '');
  const members = span('members' + (room.members ? ' active' : ''),
    room.members ? room.members + ' here' : 'nobody here');
  meta.append(members);
  const date = new Date(room.last_activity);
  if (!Number.isNaN(date.getTime())) {
    const time = document.createElement('time');
    time.className = 'activity';
    time.dateTime = room.last_activity;
    time.title = FULL.format(date);
    time.textContent = 'active ' + ago(date);
    meta.append(' · ', time);
  }
  li.append(' ', meta);
  return li;
}

/**
 * @param {HTMLUListElement} into
 * @param {HTMLElement} none
 * @param {RoomInfo[]} rooms
 */
function fill(into, none, rooms) {
  into.replaceChildren(...rooms.map(roomItem));
  into.hidden = rooms.length === 0;
  none.hidden = rooms.length !== 0;
  into.dataset.updated = new Date().toISOString();
}

/** @param {RoomInfo[]} rooms */
function showRooms(rooms) {
  fill(list, empty, rooms.filter((room) => !room.kind || room.kind === 'public'));
  if (myList && myEmpty) fill(myList, myEmpty, rooms.filter((room) => room.kind && room.kind !== 'public'));
}

let timer = 0;
let stopped = false;

async function refresh() {
  clearTimeout(timer);
  if (stopped || document.visibilityState !== 'visible') return;
  try {
    const response = await fetch('/api/rooms/', {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    });
    if (response.status === 401 || response.status === 403) {
      stopped = true; // not allowed to see them: the server-rendered list (if any) stays
      return;
    }
    if (response.ok) {
      const body = await response.json();
      if (body && Array.isArray(body.rooms)) showRooms(body.rooms);
    }
  } catch (e) {
    // Offline or the server is restarting: keep what is shown and try again on the next tick.
  }
  if (!stopped && document.visibilityState === 'visible') timer = window.setTimeout(refresh, POLL_MS);
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') refresh();
  else clearTimeout(timer);
});
// Coming back with the back button shows a cached page: bring it up to date.
window.addEventListener('pageshow', (e) => { if (e.persisted) refresh(); });
refresh();
