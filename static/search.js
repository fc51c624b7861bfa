/**
 * @file The search page (an ES module): asks `GET /api/search` for the page's `q`, newest hits first,
 * and shows them grouped by room (a heading per room, in the order its newest hit came), each with its
 * author, time and text, the matches in `<mark>`s built from the hit's `highlights` (offsets in code
 * points). "More results" asks for the next page with `next` and adds to the groups. Every hit links to
 * `/chat/<room>/?at=<id>`, which opens the room at that message. User text only ever reaches the page as
 * text.
 */

/** Hits per page. */
const LIMIT = 20;

const main = /** @type {HTMLElement} */ (document.getElementById('search'));
const status = /** @type {HTMLElement} */ (document.getElementById('search-status'));
const results = /** @type {HTMLElement} */ (document.getElementById('search-results'));
const more = /** @type {HTMLButtonElement} */ (document.getElementById('search-more'));
const q = main.dataset.q || '';

/** @type {Map<string, HTMLOListElement>} each room's list of hits */
const groups = new Map();
/** @type {string | null} the `before` of the next page; null: no more */
let next = null;
let shown = 0;

/**
 * @typedef {object} Hit
 * @property {string} room
 * @property {number} id
 * @property {string} ts
 * @property {string} user
 * @property {string} message
 * @property {[number, number][]} highlights
 */

/**
 * `message` as text nodes with a `<mark>` around each `[start, end)` range (code points), appended to
 * `parent`. Ranges out of order, overlapping or out of bounds are tolerated.
 * @param {HTMLElement} parent
 * @param {string} message
 * @param {[number, number][]} highlights
 */
export function highlighted(parent, message, highlights) {
  const chars = Array.from(message);
  const ranges = (Array.isArray(highlights) ? highlights : [])
    .filter((r) => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] < r[1])
    .map(([s, e]) => [Math.max(0, s), Math.min(chars.length, e)])
    .sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [start, end] of ranges) {
    if (end <= at) continue;
    const from = Math.max(start, at);
    if (from > at) parent.append(chars.slice(at, from).join(''));
    const mark = document.createElement('mark');
    mark.textContent = chars.slice(from, end).join('');
    parent.append(mark);
    at = end;
  }
  if (at < chars.length) parent.append(chars.slice(at).join(''));
}

/** The list for `room`'s hits, made (with its heading) the first time. */
function group(room) {
  let list = groups.get(room);
  if (list) return list;
  const section = document.createElement('section');
  section.className = 'search-group';
  section.dataset.room = room;
  const heading = document.createElement('h2');
  heading.id = 'room-' + groups.size;
  heading.textContent = room;
  section.setAttribute('aria-labelledby', heading.id);
  list = document.createElement('ol');
  list.className = 'hits';
  section.append(heading, list);
  results.append(section);
  groups.set(room, list);
  return list;
}

/**
 * @param {Hit} hit
 * @returns {HTMLAnchorElement} its link
 */
function show(hit) {
  const li = document.createElement('li');
  li.className = 'hit';
  li.dataset.id = String(hit.id);
  const link = document.createElement('a');
  link.href = '/chat/' + encodeURIComponent(hit.room) + '/?at=' + encodeURIComponent(String(hit.id));
  const meta = document.createElement('span');
  meta.className = 'hit-meta';
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = hit.user;
  const time = document.createElement('time');
  time.dateTime = hit.ts;
  time.title = hit.ts;
  const when = new Date(hit.ts);
  time.textContent = Number.isNaN(when.getTime())
    ? hit.ts
    : when.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  meta.append(author, ' ', time);
  const text = document.createElement('span');
  text.className = 'hit-text';
  highlighted(text, hit.message, hit.highlights);
  link.append(meta, text);
  li.append(link);
  group(hit.room).append(li);
  return link;
}

/**
 * Asks for the next page of hits and shows them.
 * @returns {Promise<HTMLAnchorElement | null>} the first new hit's link
 */
async function load() {
  more.disabled = true;
  const params = new URLSearchParams({ q, limit: String(LIMIT) });
  if (next !== null) params.set('before', next);
  let response;
  let body = null;
  try {
    response = await fetch('/api/search?' + params, {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    });
    body = await response.json().catch(() => null);
  } catch (e) {
    status.textContent = 'Could not search: the server did not answer. Try again in a moment.';
    more.disabled = false;
    return null;
  }
  if (!response.ok || !body || !Array.isArray(body.hits)) {
    const detail = body && typeof body.detail === 'string' ? body.detail : response.statusText;
    status.textContent = response.status === 401
      ? 'Log in to search.'
      : 'Could not search: ' + (detail || 'the server answered ' + response.status) + '.';
    more.disabled = false;
    return null;
  }
  const links = body.hits.map(show);
  shown += body.hits.length;
  next = typeof body.next === 'string' && body.next ? body.next : null;
  status.textContent = shown === 0
    ? 'Nothing found for “' + q + '”.'
    : shown + (shown === 1 ? ' message' : ' messages') + ' found in ' + groups.size
      + (groups.size === 1 ? ' room' : ' rooms') + (next !== null ? ', newest first; there are more.' : ', newest first.');
  more.hidden = next === null;
  more.disabled = false;
  main.dataset.loaded = 'true';
  return links[0] || null;
}

// The focus goes on to the first of the new hits (the button may be gone: there were no more).
more.addEventListener('click', async () => { (await load())?.focus(); });
if (q) load();
