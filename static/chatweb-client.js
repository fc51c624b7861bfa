// chatweb-client.js: a dependency-free ES module that speaks chatweb's WebSocket protocol (`chatweb.v2`,
// docs/PROTOCOL.md) and its HTTP history API. It connects, reconnects with exponential backoff and full
// jitter, resumes from the last id it delivered (`?since=`), drops anything it already delivered, so every
// numbered event reaches the application exactly once and in id order, and keeps every send, edit and delete
// until the server acknowledges it: one client_id per operation, resent with the same client_id after a
// reconnect, stored once by the server. It keeps each message's aggregates (replies, reactions, pin) by
// the protocol's `as_of` rule, so nothing is counted twice when API answers and socket events overlap. It
// touches no DOM; it runs in browsers and in Node (see docs/CLIENT.md). The room page (static/chat.js) is
// built on it.

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

/** At most this many messages' aggregates are kept (the oldest ids go first). */
const MAX_HELD = 5000;
/** At most this many events about messages not held yet are kept for them (the oldest go first). */
export const MAX_WAITING = 1000;
/** Per message, at most this many applied events are remembered to re-apply over a newer API answer. */
const MAX_LOG = 200;

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
 * A file attached to a message (uploaded with `POST /api/rooms/{room}/files`, docs/PROTOCOL.md).
 * @typedef {object} FileInfo
 * @property {string} id
 * @property {string} name
 * @property {number} size           in bytes
 * @property {string} type           the media type, from the file's bytes
 * @property {string} url            the whole file
 * @property {string | null} thumb_url a smaller image (null: not an image, or small enough already)
 * @property {number | null} width   in pixels (PNG, JPEG, GIF and WebP only)
 * @property {number | null} height
 */

/**
 * A message as this client hands it out (`message` events, `history()`, `thread()`, `pins()`): the
 * server's frame or API object, with `message` always the message's own text (a frame's `text` when it
 * has one: its `message` then also lists the files, for clients that know no `files`).
 * @typedef {object} ChatMessage
 * @property {number} id
 * @property {string} ts
 * @property {string} user
 * @property {string} message       the message's own text ("" for files alone)
 * @property {FileInfo[]} [files]   its attachments, when it has any
 * @property {boolean} [guest]
 * @property {boolean} [bot]        written by a bot account or an incoming webhook
 * @property {boolean} [deleted]
 * @property {boolean} [edited]
 * @property {number} [reply_to]
 */

/**
 * @typedef {object} SendOptions
 * @property {string[]} [files]     ids of uploads to attach (at most 10, yours, in this room, not attached yet)
 */

/**
 * @typedef {object} PendingOperation
 * @property {string} clientId
 * @property {'message' | 'edit' | 'delete' | 'react' | 'unreact' | 'pin' | 'unpin' | 'topic'} type
 * @property {number} [id]          the target message of an edit, delete, reaction or pin
 * @property {string} [message]     the text of a send or an edit
 * @property {string[]} [files]     the uploads a send attaches
 * @property {number} [replyTo]     the thread a reply goes to
 * @property {string} [emoji]       a reaction's emoji
 * @property {string} [topic]       a new topic
 */

/**
 * @typedef {object} Reaction
 * @property {string} emoji
 * @property {number} count        exact
 * @property {string[]} users      who reacted, earliest first (an API answer lists at most 20)
 */

/**
 * One message's aggregates, as of `asOf` plus every event after it this client has applied.
 * @typedef {object} Aggregate
 * @property {number} id            the message
 * @property {number} asOf          events up to this id are counted in what the client was given
 * @property {number} replies       replies in its thread (deleted ones included)
 * @property {number | null} lastReplyId
 * @property {Reaction[]} reactions in the order each emoji was first added
 * @property {boolean} pinned
 */

/**
 * @typedef {object} HistoryPage
 * @property {string} room
 * @property {Array<object>} messages   oldest first, as message frames without `type`/`history`
 * @property {number | null} before     pass as `before` for the next older page; null when there is none
 * @property {number} [as_of]           the aggregates in it count every event up to this id
 */

/**
 * @typedef {object} ThreadPage
 * @property {object} root              the thread's first message, with its aggregates
 * @property {Array<object>} replies    oldest first
 * @property {number | null} after      pass as `after` for the next page; null when there is none
 * @property {number} as_of
 */

/**
 * @typedef {object} PinsAnswer
 * @property {Array<{message: object, pinned_by: string, pinned_at: string}>} pins newest pin first
 * @property {number} as_of
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

/**
 * Makes `msg.message` the message's own text: a frame with files carries it in `text` (its `message`
 * lists the files too, for clients that read only `message`); `files` is dropped unless it is a list.
 * @param {object} msg a message frame or an API message, changed in place
 */
export function ownText(msg) {
  if (!msg || typeof msg !== 'object') return;
  if (typeof msg.text === 'string') msg.message = msg.text;
  if ('files' in msg && !Array.isArray(msg.files)) delete msg.files;
}

function personKey(person) {
  return (person.guest ? 'guest:' : 'user:') + person.user;
}

/**
 * Every message's aggregates (replies, reactions, pin), kept by the protocol's `as_of` rule
 * (docs/PROTOCOL.md): each message has the id its aggregates are as of (its own id when the socket gave
 * it, the answer's `as_of` when the API did), and an event with id E about message N counts only when
 * E > N's as-of id. Events about a message not held yet wait (at most {@link MAX_WAITING}) until it comes.
 * A newer API answer replaces what was held and the events after its `as_of` are applied again on top,
 * so an API page that overlaps socket events never counts one twice. `ChatClient` feeds it; it is exported
 * for tests and for programs that keep their own socket.
 */
export class Aggregates {
  /** @type {Map<number, {asOf: number, replies: number, lastReplyId: number | null,
   *   reactions: Map<string, {count: number, users: string[]}>, pinned: boolean, log: object[]}>} */
  #held = new Map();
  /** Events about messages not held yet, oldest first. */
  #waiting = [];
  /** `clear` events: they name no single message. */
  #clears = [];

  /** @returns {number} how many events wait for their message */
  get waiting() { return this.#waiting.length; }

  /**
   * The aggregates of message `id`, or null when it is not held.
   * @param {number} id
   * @returns {Aggregate | null}
   */
  get(id) {
    const entry = this.#held.get(id);
    if (!entry) return null;
    return {
      id,
      asOf: entry.asOf,
      replies: entry.replies,
      lastReplyId: entry.lastReplyId,
      reactions: Array.from(entry.reactions, ([emoji, r]) => ({ emoji, count: r.count, users: r.users.slice() })),
      pinned: entry.pinned,
    };
  }

  /**
   * A message frame from the socket (as of its own id), with what it changes: a reply counts in its root.
   * @param {object} frame
   * @returns {number[]} the messages whose aggregates changed
   */
  message(frame) {
    const id = frame.id;
    if (typeof id !== 'number') return [];
    const changed = [];
    if (!this.#held.has(id)) {
      this.#hold(id, empty(id));
      changed.push(id);
    }
    if (typeof frame.reply_to === 'number') {
      changed.push(...this.event({ kind: 'reply', id, target: frame.reply_to }));
    }
    return changed;
  }

  /**
   * A message as an API answer gave it, with its aggregates as of `asOf`.
   * @param {object} msg
   * @param {number} asOf the answer's `as_of`
   * @returns {number[]} the messages whose aggregates changed
   */
  snapshot(msg, asOf) {
    const id = msg && msg.id;
    if (typeof id !== 'number' || typeof asOf !== 'number') return [];
    const held = this.#held.get(id);
    if (held && held.asOf >= asOf) return [];
    const entry = {
      asOf,
      replies: Number(msg.replies) || 0,
      lastReplyId: typeof msg.last_reply_id === 'number' ? msg.last_reply_id : null,
      reactions: new Map(),
      pinned: Boolean(msg.pinned),
      log: [],
    };
    for (const r of Array.isArray(msg.reactions) ? msg.reactions : []) {
      if (r && typeof r.emoji === 'string' && r.count > 0) {
        entry.reactions.set(r.emoji, { count: Number(r.count), users: Array.isArray(r.users) ? r.users.map(String) : [] });
      }
    }
    // Events this client applied after the answer's point count again on top of it.
    for (const event of held ? held.log : []) {
      if (event.id > asOf) apply(entry, event);
    }
    this.#hold(id, entry);
    return [id];
  }

  /**
   * An event about one message: `{kind: 'reply' | 'reaction' | 'pin' | 'delete', id, target, ...}`.
   * @param {object} event
   * @returns {number[]} the messages whose aggregates changed
   */
  event(event) {
    const entry = this.#held.get(event.target);
    if (!entry) {
      this.#waiting.push(event);
      if (this.#waiting.length > MAX_WAITING) this.#waiting.splice(0, this.#waiting.length - MAX_WAITING);
      return [];
    }
    if (event.id <= entry.asOf) return [];
    apply(entry, event);
    entry.log.push(event);
    if (entry.log.length > MAX_LOG) entry.log.splice(0, entry.log.length - MAX_LOG);
    return [event.target];
  }

  /**
   * A `clear` event: every message up to `through` was deleted.
   * @param {{id: number, through: number}} frame
   * @returns {number[]}
   */
  clear({ id, through }) {
    this.#clears.push({ id, through });
    if (this.#clears.length > 50) this.#clears.shift();
    const changed = [];
    for (const target of this.#held.keys()) {
      if (target <= through) changed.push(...this.event({ kind: 'delete', id, target }));
    }
    return changed;
  }

  #hold(id, entry) {
    this.#held.set(id, entry);
    if (this.#held.size > MAX_HELD) {
      let oldest = Infinity;
      for (const key of this.#held.keys()) if (key < oldest) oldest = key;
      this.#held.delete(oldest);
    }
    // What waited for this message, and clears that reach it, count now by the same rule.
    const waited = [];
    this.#waiting = this.#waiting.filter((e) => (e.target === id ? (waited.push(e), false) : true));
    for (const c of this.#clears) if (c.through >= id) waited.push({ kind: 'delete', id: c.id, target: id });
    waited.sort((a, b) => a.id - b.id);
    for (const event of waited) {
      if (event.id > entry.asOf) {
        apply(entry, event);
        entry.log.push(event);
      }
    }
  }
}

function empty(asOf) {
  return { asOf, replies: 0, lastReplyId: null, reactions: new Map(), pinned: false, log: [] };
}

/** Applies one event to a held message's aggregates. */
function apply(entry, event) {
  switch (event.kind) {
    case 'reply':
      entry.replies += 1;
      if (entry.lastReplyId === null || event.id > entry.lastReplyId) entry.lastReplyId = event.id;
      break;
    case 'reaction': {
      const r = entry.reactions.get(event.emoji) || { count: 0, users: [] };
      if (event.action === 'remove') {
        r.count = Math.max(0, r.count - 1);
        r.users = r.users.filter((u) => u !== event.user);
        if (r.count === 0) entry.reactions.delete(event.emoji);
      } else {
        r.count += 1;
        if (!r.users.includes(event.user)) r.users.push(event.user);
        entry.reactions.set(event.emoji, r);
      }
      break;
    }
    case 'pin':
      entry.pinned = event.action !== 'remove';
      break;
    case 'delete':
      entry.reactions.clear();
      entry.pinned = false;
      break;
    default:
      break;
  }
}

/**
 * A client for one room.
 *
 * Events (each a `CustomEvent` whose `detail` is the parsed frame unless said otherwise):
 * `message` (detail: a {@link ChatMessage}, its `message` the message's own text and its `files` listed),
`edit`, `delete`, `clear`, `reaction`, `pin`, `topic` (numbered, exactly once, in id order);
 * `aggregate` (detail: an {@link Aggregate}: a message's replies, reactions or pin changed, after the event
 * that changed it, or an API answer brought newer ones); `presence` (detail.users: the
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
  #aggregates = new Aggregates();
  /** @type {string | null} the room's topic, once a topic event said it */
  #topic = null;

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
      if (op.frame.files != null) out.files = op.frame.files.slice();
      if (op.frame.reply_to != null) out.replyTo = op.frame.reply_to;
      if (op.frame.emoji != null) out.emoji = op.frame.emoji;
      if (op.frame.topic != null) out.topic = op.frame.topic;
      return out;
    });
  }

  /** @returns {string | null} the room's topic as the last `topic` event set it (null before one) */
  get topic() { return this.#topic; }

  /**
   * The aggregates of message `id` (replies, last reply, reactions with who reacted, pinned), or null when
   * this client holds none for it (it never saw the message, nor an API answer with it).
   * @param {number} id
   * @returns {Aggregate | null}
   */
  aggregate(id) {
    return this.#aggregates.get(Number(id));
  }

  /**
   * Takes messages with their aggregates as of `asOf` (an API answer's `as_of`, or a page's own snapshot)
   * and raises `aggregate` for each that changed. `history()`, `thread()` and `pins()` do this themselves.
   * @param {Array<object>} messages
   * @param {number} asOf
   */
  absorb(messages, asOf) {
    if (typeof asOf !== 'number') return;
    for (const msg of messages) this.#changed(this.#aggregates.snapshot(msg, asOf));
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
   * server refuses it (`message_too_long`, `empty_message`, `room_locked`, `file_not_found`,
   * `too_many_files`, ...). While offline it waits in the queue; after a reconnect it is sent again with
   * the same client_id (and the same files), so it is stored once.
   * @param {string} text             may be empty when `files` is not
   * @param {SendOptions} [options]
   * @returns {Promise<Ack>}
   */
  send(text, options = {}) {
    const frame = { type: 'message', message: String(text) };
    const files = Array.isArray(options.files) ? options.files.map(String) : [];
    if (files.length) frame.files = files;
    return this.#submit(frame);
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
   * Takes messages the way the socket gives them (as of their own ids; a reply counts in its root), in id
   * order: for a page the server rendered from the store without aggregates.
   * @param {Array<object>} messages
   */
  absorbStream(messages) {
    for (const msg of messages) this.#changed(this.#aggregates.message(msg));
  }

  /**
   * Replies in the thread of message `rootId` (a reply to a reply joins its root's thread).
   * @param {string} text
   * @param {number} rootId
   * @returns {Promise<Ack>} resolves with the reply's id
   */
  reply(text, rootId) {
    return this.#submit({ type: 'message', message: String(text), reply_to: Number(rootId) });
  }

  /**
   * Adds your reaction `emoji` to message `id` (signed-in users). A reaction already there is acked as a
   * duplicate.
   * @param {number} id
   * @param {string} emoji
   * @returns {Promise<Ack>} resolves with the reaction event's id (the message's, for a duplicate)
   */
  react(id, emoji) {
    return this.#submit({ type: 'react', id: Number(id), emoji: String(emoji) });
  }

  /**
   * Takes back your reaction `emoji` on message `id`.
   * @param {number} id
   * @param {string} emoji
   * @returns {Promise<Ack>}
   */
  unreact(id, emoji) {
    return this.#submit({ type: 'unreact', id: Number(id), emoji: String(emoji) });
  }

  /**
   * Pins message `id` to the room (owners, moderators, staff; members of a direct room).
   * @param {number} id
   * @returns {Promise<Ack>}
   */
  pin(id) {
    return this.#submit({ type: 'pin', id: Number(id) });
  }

  /**
   * Unpins message `id`.
   * @param {number} id
   * @returns {Promise<Ack>}
   */
  unpin(id) {
    return this.#submit({ type: 'unpin', id: Number(id) });
  }

  /**
   * Sets the room's topic ("" clears it; owners, moderators, staff).
   * @param {string} text
   * @returns {Promise<Ack>}
   */
  setTopic(text) {
    return this.#submit({ type: 'topic', topic: String(text) });
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
   * One page of the room's stored messages, oldest first: `GET /api/rooms/{room}/messages`. Their
   * aggregates are taken as of the answer's `as_of` (see {@link aggregate}).
   * @param {object} [page]
   * @param {number} [page.before]  only messages with a smaller id (default: the newest)
   * @param {number} [page.limit]   at most this many (server default 50, max 200)
   * @returns {Promise<HistoryPage>}
   */
  async history(page = {}) {
    const body = await this.#get('/messages', { before: page.before, limit: page.limit });
    if (!body || !Array.isArray(body.messages)) {
      throw new ChatError('invalid_response', 'the history answer has no messages list');
    }
    body.messages.forEach(ownText);
    this.absorb(body.messages, body.as_of);
    return body;
  }

  /**
   * One page of the thread of message `id` (a reply's id gives its root's thread):
   * `GET /api/rooms/{room}/messages/{id}/thread`. The root's and the replies' aggregates are taken as of
   * the answer's `as_of`.
   * @param {number} id
   * @param {object} [page]
   * @param {number} [page.after]   only replies with a greater id (the answer's `after` of the page before)
   * @param {number} [page.limit]   at most this many replies (server default 50, max 200)
   * @returns {Promise<ThreadPage>}
   */
  async thread(id, page = {}) {
    const body = await this.#get('/messages/' + encodeURIComponent(String(Number(id))) + '/thread',
      { after: page.after, limit: page.limit });
    if (!body || !body.root || !Array.isArray(body.replies)) {
      throw new ChatError('invalid_response', 'the thread answer has no root or replies');
    }
    [body.root, ...body.replies].forEach(ownText);
    this.absorb([body.root, ...body.replies], body.as_of);
    return body;
  }

  /**
   * The room's pinned messages, newest pin first: `GET /api/rooms/{room}/pins`.
   * @returns {Promise<PinsAnswer>}
   */
  async pins() {
    const body = await this.#get('/pins', {});
    if (!body || !Array.isArray(body.pins)) {
      throw new ChatError('invalid_response', 'the pins answer has no pins list');
    }
    const messages = body.pins.map((p) => p && p.message).filter(Boolean);
    messages.forEach(ownText);
    this.absorb(messages, body.as_of);
    return body;
  }

  /** GETs `/api/rooms/{room}{path}` with the parameters that are set; the JSON body, or a ChatError. */
  async #get(path, params) {
    if (!this.#fetch) throw new TypeError('no fetch: pass options.fetch');
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value != null) search.set(key, String(value));
    const query = search.toString();
    const url = this.#apiBase + '/api/rooms/' + encodeURIComponent(this.#room) + path + (query ? '?' + query : '');
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
    if (!body || typeof body !== 'object') {
      throw new ChatError('invalid_response', 'the answer is not JSON', { status: response.status });
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
      case 'topic':
        if (typeof frame.topic === 'string') this.#topic = frame.topic;
        this.#emit(type, frame);
        break;
      default:
        if (type === 'message') ownText(frame);
        this.#emit(type, frame);
        this.#changed(this.#aggregateChanges(type, frame));
    }
    this.#emit('frame', frame);
  }

  /** What a numbered frame changes in the aggregates (the ids of the messages it changed). */
  #aggregateChanges(type, frame) {
    if (typeof frame.id !== 'number') return [];
    const agg = this.#aggregates;
    switch (type) {
      case 'message': return agg.message(frame);
      case 'reaction':
        return agg.event({ kind: 'reaction', id: frame.id, target: frame.target, emoji: String(frame.emoji),
          user: String(frame.user), action: frame.action });
      case 'pin': return agg.event({ kind: 'pin', id: frame.id, target: frame.target, action: frame.action });
      case 'delete': return agg.event({ kind: 'delete', id: frame.id, target: frame.target });
      case 'clear': return agg.clear({ id: frame.id, through: Number(frame.through) });
      default: return [];
    }
  }

  /** Raises `aggregate` once for each message in `ids`. */
  #changed(ids) {
    for (const id of new Set(ids)) {
      const aggregate = this.#aggregates.get(id);
      if (aggregate) this.#emit('aggregate', aggregate);
    }
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
