// chatweb-client.js: a dependency-free ES module that speaks chatweb's WebSocket protocol (`chatweb.v2`,
// docs/PROTOCOL.md) and its HTTP history API. It connects, reconnects with exponential backoff and full
// jitter, resumes from the last id it delivered (`?since=`), drops anything it already delivered, so every
// numbered event reaches the application exactly once and in id order, and keeps every send, edit and delete
// until the server acknowledges it: one client_id per operation, resent with the same client_id after a
// reconnect, stored once by the server. It touches no DOM; it runs in browsers and in Node (see
// docs/CLIENT.md). The room page (static/chat.js) is built on it.

/** The subprotocol that asks the server for chatweb's richer frames. */
export const PROTOCOL = 'chatweb.v2';

/**
 * Error codes after which an operation is kept and sent again (same client_id) rather than refused: the
 * server could not take it now, but may later or after a reconnect.
 * @type {ReadonlySet<string>}
 */
export const RETRYABLE_CODES = new Set([
  'store_unavailable', 'shutting_down', 'outcome_unknown', 'unavailable', 'rate_limited', 'slow_mode',
  'too_many_requests',
]);

/** Close codes after which the client stops reconnecting: the session or the account is gone. */
const TERMINAL_CLOSE_CODES = new Set([4401, 4403]);

/** Frame types that carry no room sequence number (an `id` on them means something else, or nothing). */
const UNSEQUENCED = new Set(['ack', 'error', 'read', 'presence', 'join', 'leave', 'typing']);

/**
 * @typedef {object} BackoffOptions
 * @property {number} [minMs=500]   the first retry waits up to this long
 * @property {number} [maxMs=15000] no retry waits longer than this
 */

/**
 * @typedef {object} ChatClientOptions
 * @property {string} room                 the room's name
 * @property {string} [url]                the socket's URL (relative: to the page); default: from `apiBase` (or `location`) and `room`
 * @property {string} [apiBase]            origin of the HTTP API; default `location.origin`
 * @property {number} [since]              the last id the application already has: resume after it
 * @property {typeof WebSocket} [WebSocket] the WebSocket constructor; default `globalThis.WebSocket`
 * @property {typeof fetch} [fetch]        the fetch function for `history()`; default `globalThis.fetch`
 * @property {Record<string, string>} [headers] extra headers for `history()` (e.g. `Authorization`)
 * @property {BackoffOptions} [backoff]    reconnect delays
 * @property {number} [stableMs=5000]      a connection open this long resets the backoff
 * @property {number} [typingIntervalMs=3000] `typing()` sends at most one frame this often
 * @property {number} [readIntervalMs=1000] `markRead()` sends at most one frame this often
 * @property {number} [retryMs=2000]       first wait before resending an operation refused with a retryable code
 */

/**
 * @typedef {object} Ack
 * @property {number} id            the stored message's id (for an edit or delete: the event's id)
 * @property {boolean} duplicate    the server had stored this client_id before; nothing new was stored
 * @property {string} clientId      the operation's client_id
 */

/**
 * @typedef {object} Person
 * @property {string} user
 * @property {boolean} guest
 */

/**
 * @typedef {object} PendingOperation
 * @property {string} clientId
 * @property {'message' | 'edit' | 'delete'} type
 * @property {number} [id]          the target message of an edit or delete
 * @property {string} [message]     the text of a send or an edit
 */

/**
 * @typedef {object} HistoryPage
 * @property {string} room
 * @property {Array<object>} messages   oldest first, as message frames without `type`/`history`
 * @property {number | null} before     pass as `before` for the next older page; null when there is none
 */

/**
 * @typedef {'connecting' | 'open' | 'reconnecting' | 'closed'} ConnectionState
 */

/**
 * A refusal: an error frame that answered one of this client's operations, a failed `history()` request,
 * or an operation abandoned by `close()`.
 */
export class ChatError extends Error {
  /**
   * @param {string} code     the server's stable code (`message_too_long`, `forbidden`, ...), or `closed`
   * @param {string} detail   human-readable explanation
   * @param {object} [extra]
   * @param {object} [extra.frame]   the error frame, when it came from the socket
   * @param {number} [extra.status]  the HTTP status, when it came from `history()`
   */
  constructor(code, detail, extra = {}) {
    super(detail ? code + ': ' + detail : code);
    this.name = 'ChatError';
    /** @type {string} */
    this.code = code;
    /** @type {string} */
    this.detail = detail || '';
    /** @type {object | undefined} */
    this.frame = extra.frame;
    /** @type {number | undefined} */
    this.status = extra.status;
  }
}

/** A random client_id: a UUID where the platform has one. */
function newClientId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  if (c && typeof c.getRandomValues === 'function') {
    const bytes = c.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2) +
    Math.random().toString(36).slice(2);
}

function personKey(person) {
  return (person.guest ? 'guest:' : 'user:') + person.user;
}

/**
 * A client for one room.
 *
 * Events (each a `CustomEvent` whose `detail` is the parsed frame unless said otherwise):
 * `message`, `edit`, `delete`, `clear` (numbered, exactly once, in id order); `presence` (detail.users: the
 * whole current list, after a snapshot, a join or a leave), `join`, `leave`, `typing` (ephemeral); `read`
 * (detail.id: the stored read mark, on connect); `ack`; `error` (error frames not answered through a
 * promise); `retry` (detail: {clientId, code, frame}: an operation refused for now, kept for resending);
 * `pending` (detail: {count, pending}: the queue of unacknowledged operations changed); `status`
 * (detail: {state, attempt, delayMs, code, reason}); `frame` (every frame delivered, after its own event).
 */
export class ChatClient extends EventTarget {
  /** @type {string} */ #room;
  /** @type {string} */ #url;
  /** @type {string} */ #apiBase;
  /** @type {typeof WebSocket} */ #WebSocket;
  /** @type {typeof fetch | undefined} */ #fetch;
  /** @type {Record<string, string>} */ #headers;
  #minMs; #maxMs; #stableMs; #typingIntervalMs; #readIntervalMs; #retryMs;

  /** Last numbered event delivered. */
  #lastId = 0;
  /** Whether the next connection may resume with `since=lastId` (false: plain join, the recent history). */
  #resumable = false;
  /** @type {WebSocket | null} */ #socket = null;
  #open = false;
  #wanted = false;
  #attempt = 0;
  /** @type {ConnectionState} */ #state = 'closed';
  /** @type {ReturnType<typeof setTimeout> | null} */ #reconnectTimer = null;
  /** @type {ReturnType<typeof setTimeout> | null} */ #stableTimer = null;
  /** client_id -> operation, in the order they were made. */
  #pending = new Map();
  /** @type {Map<string, Person>} */ #presence = new Map();
  #lastTypingAt = -Infinity;
  #readSent = 0;
  #readWanted = 0;
  #readAt = -Infinity;
  /** @type {ReturnType<typeof setTimeout> | null} */ #readTimer = null;
  #readRefused = false;

  /** @param {ChatClientOptions} options */
  constructor(options) {
    super();
    if (!options || typeof options.room !== 'string' || !options.room) {
      throw new TypeError('ChatClient needs options.room');
    }
    const loc = globalThis.location;
    this.#room = options.room;
    this.#apiBase = (options.apiBase || (loc ? loc.origin : '')).replace(/\/+$/, '');
    if (options.url) {
      // A relative URL is resolved against the page; http(s) becomes ws(s).
      const url = new URL(options.url, loc ? loc.href : undefined);
      url.protocol = url.protocol.replace(/^http/, 'ws');
      this.#url = url.toString();
    } else {
      if (!this.#apiBase) throw new TypeError('ChatClient needs options.url or options.apiBase outside a page');
      this.#url = this.#apiBase.replace(/^http/, 'ws') + '/ws/chat/' + encodeURIComponent(this.#room) + '/';
    }
    this.#WebSocket = options.WebSocket || globalThis.WebSocket;
    if (typeof this.#WebSocket !== 'function') throw new TypeError('no WebSocket: pass options.WebSocket');
    this.#fetch = options.fetch || (typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : undefined);
    this.#headers = Object.assign({}, options.headers || {});
    const backoff = options.backoff || {};
    this.#minMs = backoff.minMs ?? 500;
    this.#maxMs = backoff.maxMs ?? 15000;
    this.#stableMs = options.stableMs ?? 5000;
    this.#typingIntervalMs = options.typingIntervalMs ?? 3000;
    this.#readIntervalMs = options.readIntervalMs ?? 1000;
    this.#retryMs = options.retryMs ?? 2000;
    if (options.since != null) {
      if (!Number.isInteger(options.since) || options.since < 0) {
        throw new TypeError('options.since must be a non-negative integer');
      }
      this.#lastId = options.since;
      this.#resumable = true;
    }
  }

  /** The room's name. */
  get room() { return this.#room; }

  /** The id of the last numbered event delivered (0 before any). */
  get lastId() { return this.#lastId; }

  /** @returns {ConnectionState} */
  get state() { return this.#state; }

  /** @returns {Person[]} the people in the room now, as the last presence snapshot and joins/leaves say */
  get users() { return Array.from(this.#presence.values(), (p) => ({ user: p.user, guest: p.guest })); }

  /** @returns {PendingOperation[]} operations not yet acknowledged, oldest first */
  get pending() {
    return Array.from(this.#pending.values(), (op) => {
      /** @type {PendingOperation} */
      const out = { clientId: op.clientId, type: op.frame.type };
      if (op.frame.id != null) out.id = op.frame.id;
      if (op.frame.message != null) out.message = op.frame.message;
      return out;
    });
  }

  /** Opens the socket (and keeps it open, reconnecting, until `close()`). Calling it again does nothing. */
  connect() {
    if (this.#wanted) return;
    this.#wanted = true;
    this.#attempt = 0;
    this.#openSocket();
  }

  /**
   * Drops the current socket as a network failure would, and reconnects through the usual backoff (when
   * already waiting for a retry: retries now). Frames the server sends meanwhile are not lost: the next
   * connection resumes after `lastId`, and unacknowledged operations are sent again.
   */
  reconnect() {
    if (!this.#wanted) return;
    const socket = this.#socket;
    if (socket) {
      this.#lost(socket, { code: 4000, reason: 'reconnect requested' });
      try { socket.close(4000, 'reconnect'); } catch (e) { /* already closing */ }
    } else if (this.#reconnectTimer) {
      // Waiting out a backoff (the application knows the network is back): try now.
      this.#clearTimer('reconnect');
      this.#openSocket();
    }
  }

  /**
   * Closes the socket for good. Operations still waiting for an ack are rejected with code `closed`.
   * `connect()` may be called again later; delivery then resumes after `lastId`.
   */
  close() {
    this.#wanted = false;
    this.#clearTimer('reconnect');
    this.#clearTimer('stable');
    this.#clearTimer('read');
    const socket = this.#socket;
    this.#detach();
    if (socket) {
      try { socket.close(1000, 'bye'); } catch (e) { /* already closing */ }
    }
    const ops = Array.from(this.#pending.values());
    this.#pending.clear();
    for (const op of ops) {
      if (op.retryTimer) clearTimeout(op.retryTimer);
      op.reject(new ChatError('closed', 'the client was closed before the server acknowledged this'));
    }
    if (ops.length) this.#pendingChanged();
    this.#setState('closed', { attempt: 0, delayMs: 0 });
  }

  /**
   * Sends a message. Resolves once the server has stored it; rejects with a {@link ChatError} when the
   * server refuses it (`message_too_long`, `empty_message`, `room_locked`, ...). While offline it waits in
   * the queue; after a reconnect it is sent again with the same client_id, so it is stored once.
   * @param {string} text
   * @returns {Promise<Ack>}
   */
  send(text) {
    return this.#submit({ type: 'message', message: String(text) });
  }

  /**
   * Replaces the text of message `id` (the author's own, or any for staff).
   * @param {number} id
   * @param {string} text
   * @returns {Promise<Ack>} resolves with the edit event's id
   */
  edit(id, text) {
    return this.#submit({ type: 'edit', id: Number(id), message: String(text) });
  }

  /**
   * Deletes message `id` (the author's own, or any for staff).
   * @param {number} id
   * @returns {Promise<Ack>} resolves with the delete event's id
   */
  delete(id) {
    return this.#submit({ type: 'delete', id: Number(id) });
  }

  /**
   * Says "I am typing". Sends at most one frame per `typingIntervalMs`; nothing while offline.
   * @returns {boolean} whether a frame went out
   */
  typing() {
    const now = Date.now();
    if (!this.#open || now - this.#lastTypingAt < this.#typingIntervalMs) return false;
    this.#lastTypingAt = now;
    return this.#transmit({ type: 'typing' });
  }

  /**
   * Marks everything up to `id` as read (accounts only). Never moves back; sent at most once per
   * `readIntervalMs` (the newest mark wins), and after a reconnect if it was not sent yet.
   * @param {number} id
   */
  markRead(id) {
    id = Number(id);
    if (!Number.isInteger(id) || id <= this.#readWanted || id <= this.#readSent || this.#readRefused) return;
    this.#readWanted = id;
    this.#flushRead();
  }

  /**
   * One page of the room's stored messages, oldest first: `GET /api/rooms/{room}/messages`.
   * @param {object} [page]
   * @param {number} [page.before]  only messages with a smaller id (default: the newest)
   * @param {number} [page.limit]   at most this many (server default 50, max 200)
   * @returns {Promise<HistoryPage>}
   */
  async history(page = {}) {
    if (!this.#fetch) throw new TypeError('no fetch: pass options.fetch');
    const params = new URLSearchParams();
    if (page.before != null) params.set('before', String(page.before));
    if (page.limit != null) params.set('limit', String(page.limit));
    const query = params.toString();
    const url = this.#apiBase + '/api/rooms/' + encodeURIComponent(this.#room) + '/messages' +
      (query ? '?' + query : '');
    const response = await this.#fetch(url, {
      headers: Object.assign({ Accept: 'application/json' }, this.#headers),
      credentials: 'same-origin',
    });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      const code = body && typeof body.error === 'string' ? body.error : 'http_' + response.status;
      const detail = body && typeof body.detail === 'string' ? body.detail : response.statusText || '';
      throw new ChatError(code, detail, { status: response.status });
    }
    if (!body || !Array.isArray(body.messages)) {
      throw new ChatError('invalid_response', 'the history answer has no messages list', { status: response.status });
    }
    return body;
  }

  // ---- operations -----------------------------------------------------------------------------------

  #submit(fields) {
    return new Promise((resolve, reject) => {
      const clientId = newClientId();
      const frame = Object.assign(fields, { client_id: clientId });
      const op = { clientId, frame, resolve, reject, retries: 0, retryTimer: null };
      this.#pending.set(clientId, op);
      this.#pendingChanged();
      if (this.#open) this.#transmit(frame);
    });
  }

  #onAck(frame) {
    const op = this.#pending.get(frame.client_id);
    if (op) {
      this.#pending.delete(frame.client_id);
      if (op.retryTimer) clearTimeout(op.retryTimer);
      op.resolve({ id: frame.id, duplicate: Boolean(frame.duplicate), clientId: op.clientId });
      this.#pendingChanged();
    }
    this.#emit('ack', frame);
  }

  #onError(frame) {
    const op = typeof frame.client_id === 'string' ? this.#pending.get(frame.client_id) : undefined;
    if (op && RETRYABLE_CODES.has(frame.code)) {
      // Not stored this time: the same client_id goes again, after a growing wait on this connection,
      // and at once on the next one. The server stores it once whatever happens.
      if (op.retryTimer) clearTimeout(op.retryTimer);
      const delay = Math.min(this.#maxMs, this.#retryMs * 2 ** op.retries);
      op.retries += 1;
      const socket = this.#socket;
      op.retryTimer = setTimeout(() => {
        op.retryTimer = null;
        if (this.#pending.get(op.clientId) === op && this.#socket === socket && this.#open) this.#transmit(op.frame);
      }, delay);
      this.#emit('retry', { clientId: op.clientId, code: frame.code, frame });
      return;
    }
    if (op) {
      this.#pending.delete(op.clientId);
      if (op.retryTimer) clearTimeout(op.retryTimer);
      op.reject(new ChatError(String(frame.code), String(frame.detail || ''), { frame }));
      this.#pendingChanged();
      return;
    }
    if (frame.code === 'login_required') this.#readRefused = true;
    this.#emit('error', frame);
  }

  #pendingChanged() {
    this.#emit('pending', { count: this.#pending.size, pending: this.pending });
  }

  // ---- read marks -----------------------------------------------------------------------------------

  #flushRead() {
    if (this.#readTimer || this.#readWanted <= this.#readSent || !this.#open || this.#readRefused) return;
    const wait = this.#readAt + this.#readIntervalMs - Date.now();
    if (wait > 0) {
      this.#readTimer = setTimeout(() => { this.#readTimer = null; this.#flushRead(); }, wait);
      return;
    }
    if (this.#transmit({ type: 'read', id: this.#readWanted })) {
      this.#readSent = this.#readWanted;
      this.#readAt = Date.now();
    }
  }

  // ---- the socket -----------------------------------------------------------------------------------

  #socketUrl() {
    if (!this.#resumable) return this.#url;
    const url = new URL(this.#url);
    url.searchParams.set('since', String(this.#lastId));
    return url.toString();
  }

  #openSocket() {
    this.#reconnectTimer = null;
    this.#setState('connecting', { attempt: this.#attempt, delayMs: 0 });
    let socket;
    try {
      socket = new this.#WebSocket(this.#socketUrl(), [PROTOCOL]);
    } catch (error) {
      // A malformed URL or a refused scheme: nothing to retry that would fare better.
      this.#wanted = false;
      this.#setState('closed', { attempt: this.#attempt, delayMs: 0, reason: String(error && error.message) });
      throw error;
    }
    this.#socket = socket;
    socket.onopen = () => this.#onOpen(socket);
    socket.onmessage = (event) => this.#onMessage(socket, event);
    socket.onclose = (event) => this.#lost(socket, event);
    socket.onerror = () => { /* a close event follows */ };
  }

  #onOpen(socket) {
    if (socket !== this.#socket) return;
    this.#open = true;
    this.#stableTimer = setTimeout(() => { this.#stableTimer = null; this.#attempt = 0; }, this.#stableMs);
    this.#setState('open', { attempt: this.#attempt, delayMs: 0 });
    // Everything not acknowledged goes again, in the order it was made, with its own client_id.
    for (const op of this.#pending.values()) {
      if (op.retryTimer) { clearTimeout(op.retryTimer); op.retryTimer = null; }
      this.#transmit(op.frame);
    }
    this.#flushRead();
  }

  #onMessage(socket, event) {
    if (socket !== this.#socket) return;
    let frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    if (!frame || typeof frame !== 'object' || Array.isArray(frame)) return;
    this.#dispatchFrame(frame);
  }

  #dispatchFrame(frame) {
    const type = typeof frame.type === 'string' ? frame.type : 'message';
    if (!UNSEQUENCED.has(type) && typeof frame.id === 'number') {
      // Ids only grow, one room sequence for messages and events: anything at or below the last one
      // delivered was delivered already (a resume or a plain rejoin overlaps what we have).
      if (frame.id <= this.#lastId) return;
      this.#lastId = frame.id;
      this.#resumable = true;
    }
    switch (type) {
      case 'ack':
        this.#onAck(frame);
        break;
      case 'error':
        this.#onError(frame);
        break;
      case 'presence':
        this.#resumable = true;
        this.#presence.clear();
        for (const person of Array.isArray(frame.users) ? frame.users : []) {
          if (person && typeof person.user === 'string') {
            this.#presence.set(personKey(person), { user: person.user, guest: Boolean(person.guest) });
          }
        }
        this.#emit('presence', this.#presenceDetail(frame));
        break;
      case 'join':
      case 'leave': {
        const person = { user: String(frame.user), guest: Boolean(frame.guest) };
        const key = personKey(person);
        // One entry per person: a join of someone present (another tab, the joiner's own echo after
        // the snapshot) or a leave of someone absent changes nothing and is not reported.
        if ((type === 'join') === this.#presence.has(key)) return;
        if (type === 'join') this.#presence.set(key, person);
        else this.#presence.delete(key);
        this.#emit(type, frame);
        this.#emit('presence', this.#presenceDetail(frame));
        break;
      }
      case 'read':
        if (typeof frame.id === 'number' && frame.id > this.#readSent) {
          this.#readSent = frame.id;
          if (this.#readWanted < frame.id) this.#readWanted = frame.id;
        }
        this.#emit('read', frame);
        break;
      default:
        this.#emit(type, frame);
    }
    this.#emit('frame', frame);
  }

  #presenceDetail(frame) {
    const users = this.users;
    return { type: 'presence', room: frame.room ?? this.#room, users, count: users.length };
  }

  /** The socket is gone (closed by either side, or dropped by `reconnect()`): schedule the next one. */
  #lost(socket, event) {
    if (socket !== this.#socket) return;
    this.#detach();
    if (!this.#wanted) return;
    const code = event && event.code;
    const reason = event && event.reason;
    if (TERMINAL_CLOSE_CODES.has(code)) {
      this.#wanted = false;
      this.#setState('closed', { attempt: this.#attempt, delayMs: 0, code, reason });
      return;
    }
    // Full jitter: anywhere from 0 to min(max, min * 2^attempt), so a crowd of clients spreads out.
    const cap = Math.min(this.#maxMs, this.#minMs * 2 ** this.#attempt);
    const delayMs = Math.round(Math.random() * cap);
    this.#attempt += 1;
    this.#setState('reconnecting', { attempt: this.#attempt, delayMs, code, reason });
    this.#reconnectTimer = setTimeout(() => this.#openSocket(), delayMs);
  }

  #detach() {
    const socket = this.#socket;
    this.#socket = null;
    this.#open = false;
    this.#clearTimer('stable');
    this.#clearTimer('read');
    for (const op of this.#pending.values()) {
      if (op.retryTimer) { clearTimeout(op.retryTimer); op.retryTimer = null; }
    }
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    }
  }

  #clearTimer(which) {
    if (which === 'reconnect' && this.#reconnectTimer) { clearTimeout(this.#reconnectTimer); this.#reconnectTimer = null; }
    if (which === 'stable' && this.#stableTimer) { clearTimeout(this.#stableTimer); this.#stableTimer = null; }
    if (which === 'read' && this.#readTimer) { clearTimeout(this.#readTimer); this.#readTimer = null; }
  }

  #transmit(frame) {
    const socket = this.#socket;
    if (!socket || !this.#open) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  #setState(state, detail) {
    this.#state = state;
    this.#emit('status', Object.assign({ state, attempt: 0, delayMs: 0 }, detail));
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
