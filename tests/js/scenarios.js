// Scenarios for static/chatweb-client.js against a real chatweb node, shared by the two runtimes that run
// them: headless Chromium (tests/api/client_js.rs injects this file into a page of the node and calls a
// scenario through WebDriver) and Node (tests/js/server.test.mjs). A plain script, not a module, so the
// browser can take it through WebDriver's executeScript: it defines `globalThis.chatwebScenarios`.
//
// Each scenario gets `env` = {ChatClient, origin, room, WebSocket} (WebSocket: the constructor both the
// client and the scenario's raw sockets use; in Node it adds the Origin header a browser would send), checks
// what it can itself and throws a descriptive Error on the first violation, and returns a summary the Rust
// side checks again. Waiting is always on an event, bounded by a deadline that only turns a hang into a
// failure.
(function (root) {
  'use strict';

  const PATIENCE_MS = 20000;

  function fail(message, state) {
    throw new Error(message + (state === undefined ? '' : '\n' + JSON.stringify(state).slice(0, 4000)));
  }

  function check(condition, message, state) {
    if (!condition) fail(message, state);
  }

  /** Resolves when `predicate()` holds, re-checked on every `type` event of `target`; rejects on timeout. */
  function until(target, types, predicate, what, state) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const done = (ok, value) => {
        clearTimeout(timer);
        for (const type of types) target.removeEventListener(type, probe);
        if (ok) resolve(value); else reject(value);
      };
      const probe = () => {
        let value;
        try { value = predicate(); } catch (e) { done(false, e); return; }
        if (value) done(true, value);
      };
      timer = setTimeout(() => done(false, new Error('timed out waiting for ' + what + '\n' +
        JSON.stringify(typeof state === 'function' ? state() : state).slice(0, 4000))), PATIENCE_MS);
      for (const type of types) target.addEventListener(type, probe);
      probe();
    });
  }

  /** A promise with a deadline. */
  function within(promise, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out: ' + what)), PATIENCE_MS);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  function wsUrl(env, room, query) {
    return env.origin.replace(/^http/, 'ws') + '/ws/chat/' + encodeURIComponent(room) + '/' + (query || '');
  }

  /**
   * A raw socket, independent of the module under test: the "other person" who writes a burst, or the
   * reader that checks what the store holds.
   */
  function rawSocket(env, room, query, protocols) {
    return new Promise((resolve, reject) => {
      const ws = new env.WebSocket(wsUrl(env, room, query), protocols || []);
      const frames = [];
      const events = new EventTarget();
      ws.onmessage = (event) => {
        frames.push(JSON.parse(event.data));
        events.dispatchEvent(new Event('frame'));
      };
      ws.onclose = () => events.dispatchEvent(new Event('frame'));
      ws.onopen = () => resolve({ ws, frames, events });
      ws.onerror = () => reject(new Error('raw socket to ' + room + ' failed'));
    });
  }

  /** Every message frame of `room` from the store, read by a fresh raw socket with `since=0`. */
  async function storedMessages(env, room, count) {
    const reader = await rawSocket(env, room, '?since=0', ['chatweb.v2']);
    const messages = () => reader.frames.filter((f) => f.type === 'message');
    await until(reader.events, ['frame'], () => messages().length >= count,
      count + ' stored messages', () => reader.frames.length);
    reader.ws.close();
    return messages();
  }

  /** A ChatClient that records what it delivers. */
  function recordedClient(env, options) {
    const chat = new env.ChatClient(Object.assign({
      room: env.room, apiBase: env.origin, WebSocket: env.WebSocket,
      backoff: { minMs: 50, maxMs: 400 },
    }, options || {}));
    const log = { messages: [], events: [], acks: [], statuses: [], errors: [], presence: [], typing: [] };
    chat.addEventListener('message', (e) => { log.messages.push(e.detail); log.events.push(e.detail); });
    for (const type of ['edit', 'delete', 'clear']) {
      chat.addEventListener(type, (e) => log.events.push(e.detail));
    }
    chat.addEventListener('ack', (e) => log.acks.push(e.detail));
    chat.addEventListener('status', (e) => log.statuses.push(e.detail));
    chat.addEventListener('error', (e) => log.errors.push(e.detail));
    chat.addEventListener('presence', (e) => log.presence.push(e.detail.users));
    chat.addEventListener('typing', (e) => log.typing.push(e.detail));
    return { chat, log };
  }

  function opened(chat, log, n) {
    return until(chat, ['status'], () => log.statuses.filter((s) => s.state === 'open').length >= n &&
      chat.state === 'open', n + ' open connections', () => log.statuses);
  }

  /** Ids strictly consecutive from `first`: each event once, in order, none missing. */
  function checkConsecutive(events, first, what) {
    events.forEach((frame, i) => {
      if (frame.id !== first + i) {
        fail(what + ': event ' + i + ' has id ' + frame.id + ', expected ' + (first + i),
          events.slice(Math.max(0, i - 3), i + 3).map((f) => [f.type, f.id, f.message]));
      }
    });
  }

  const scenarios = {
    /**
     * A raw writer streams a burst of `burst` messages (`window` unacknowledged at a time, as fast as the
     * store takes them) while the client under test sends its own through `send()` (one per 20 of the
     * burst it receives). Twice in the middle of the burst the client drops its socket (`reconnect()`, the
     * way a network failure would: whatever is in flight to it is lost) and sends two more while offline:
     * first when the writer has 50 acks, so the writer goes on while the client is away (the store takes
     * up to `hold` of the burst meanwhile, which the client gets back through `since`); then at the first
     * writer ack after `hold` seen while the client is open again (the writer waits at `hold` until the
     * client is back, so this second drop is on the new connection and the burst is still flowing).
     * Proves: every message delivered once and in id order across both reconnects, every send acked once
     * and stored once (resent with its client_id).
     */
    async burstAcrossReconnect(env, args) {
      const burst = (args && args.burst) || 200;
      const window = (args && args.window) || 20;
      const hold = (args && args.hold) || 150;
      const { chat, log } = recordedClient(env);
      chat.connect();
      await opened(chat, log, 1);

      const writer = await rawSocket(env, env.room);
      const writerAcks = () => writer.frames.filter((f) => f.type === 'ack').length;
      const sends = [];
      const sendText = (tag) => {
        const text = 'own-' + sends.length + '-' + tag;
        const record = { text, result: null, error: null, settled: 0 };
        record.promise = chat.send(text).then(
          (ack) => { record.result = ack; record.settled += 1; },
          (error) => { record.error = String(error); record.settled += 1; });
        sends.push(record);
      };
      const dropsSeen = [];
      const drop = () => {
        dropsSeen.push({ writerAcked: writerAcks(), writerSent: sent, deliveredFromWriter: fromWriter, lastId: chat.lastId });
        chat.reconnect();
        sendText('offline-a');
        sendText('offline-b');
      };
      let fromWriter = 0;
      chat.addEventListener('message', (e) => {
        if (!String(e.detail.message).startsWith('w-')) return;
        fromWriter += 1;
        if (fromWriter % 20 === 0) sendText('open');
      });
      let sent = 0;
      const pump = () => {
        const held = dropsSeen.length < 2 && sent >= hold && !(dropsSeen.length === 1 && chat.state === 'open');
        while (sent < burst && sent - writerAcks() < window && !held) {
          writer.ws.send(JSON.stringify({ message: 'w-' + sent, client_id: 'w-' + sent }));
          sent += 1;
        }
      };
      writer.events.addEventListener('frame', () => {
        const acked = writerAcks();
        if (dropsSeen.length === 0 && acked >= 50) drop();
        else if (dropsSeen.length === 1 && acked > hold && chat.state === 'open') drop();
        pump();
      });
      chat.addEventListener('status', pump);
      sendText('start');
      pump();

      await until(writer.events, ['frame'], () => writerAcks() === burst, 'the writer\'s acks',
        () => ({ acked: writerAcks(), sent, drops: dropsSeen }));
      // A delivery may start one more send (every 20th of the writer's): wait until nothing is pending
      // and everything sent so far is delivered, however the acks and the catch-up interleave.
      let total;
      do {
        while (sends.some((s) => !s.settled)) {
          await within(Promise.all(sends.map((s) => s.promise)), 'every send settled');
        }
        total = burst + sends.length;
        await until(chat, ['message'], () => chat.lastId >= total, total + ' messages delivered',
          () => ({ lastId: chat.lastId, delivered: log.messages.length }));
      } while (sends.some((s) => !s.settled) || burst + sends.length !== total);
      writer.ws.close();

      check(dropsSeen.length === 2, 'both drops happened', dropsSeen);
      for (const d of dropsSeen) {
        check(d.writerAcked < burst && d.writerSent > d.writerAcked, 'a drop happened while the burst flowed', dropsSeen);
      }
      check(log.statuses.filter((s) => s.state === 'open').length === 3,
        'one new connection per drop', log.statuses);
      check(log.messages.length === total, 'delivered ' + log.messages.length + ' messages, expected ' + total,
        log.messages.map((m) => m.id));
      checkConsecutive(log.messages, 1, 'delivered');
      const texts = log.messages.map((m) => m.message);
      for (let i = 0; i < burst; i += 1) {
        check(texts.filter((t) => t === 'w-' + i).length === 1, 'w-' + i + ' delivered once');
      }
      for (const s of sends) {
        check(s.settled === 1 && s.error === null && s.result, s.text + ' acked once', s);
        const delivered = log.messages.filter((m) => m.message === s.text);
        check(delivered.length === 1 && delivered[0].id === s.result.id,
          s.text + ' delivered once with its ack\'s id', { send: s, delivered });
        check(log.acks.filter((a) => a.client_id === s.result.clientId).length === 1,
          s.text + ': one ack frame', log.acks);
      }
      check(chat.pending.length === 0, 'nothing left pending', chat.pending);
      const stored = await storedMessages(env, env.room, total);
      check(stored.length === total, 'the store holds each message once', stored.length);
      checkConsecutive(stored, 1, 'stored');
      const replayedAfterDrop = log.messages.filter((m) => m.history).length;
      chat.close();
      return {
        delivered: log.messages.map((m) => m.id),
        sends: sends.map((s) => ({ text: s.text, id: s.result.id, duplicate: s.result.duplicate })),
        drops: dropsSeen,
        replayedAfterDrop,
        stored: stored.length,
      };
    },

    /**
     * The client under test keeps `window` sends in flight (each ack starts the next one) until it has sent
     * `count`; meanwhile the Rust side stops the node once some are stored and starts it again on the same
     * port (the server answers what it accepted, then closes the socket with 1001). Checks: every send acked
     * once, every message delivered once, in order, and that sends were waiting when the socket went (they
     * were resent on the new connection with their client_ids).
     */
    async sendsAcrossServerRestart(env, args) {
      const count = (args && args.count) || 100;
      const window = (args && args.window) || 5;
      const { chat, log } = recordedClient(env, { backoff: { minMs: 100, maxMs: 400 } });
      chat.connect();
      await opened(chat, log, 1);
      const waitingAtDrop = [];
      chat.addEventListener('status', (e) => {
        if (e.detail.state === 'reconnecting') waitingAtDrop.push(chat.pending.length);
      });
      const sends = [];
      let finish;
      const finished = new Promise((resolve) => { finish = resolve; });
      const next = () => {
        if (sends.length === count) {
          if (sends.every((s) => s.settled)) finish();
          return;
        }
        const record = { text: 'r-' + sends.length, result: null, error: null, settled: 0 };
        sends.push(record);
        chat.send(record.text).then(
          (ack) => { record.result = ack; record.settled += 1; next(); },
          (error) => { record.error = String(error) + ' ' + error.code; record.settled += 1; next(); });
      };
      for (let i = 0; i < window; i += 1) next();
      await within(finished, 'every send settled across the restart');
      await until(chat, ['message'], () => chat.lastId >= count, count + ' messages delivered',
        () => ({ lastId: chat.lastId, delivered: log.messages.length }));
      const reconnects = log.statuses.filter((s) => s.state === 'reconnecting');
      check(reconnects.length >= 1, 'the client saw the server go', log.statuses);
      check(waitingAtDrop[0] >= 1, 'sends were waiting for their ack when the socket went', waitingAtDrop);
      check(log.messages.length === count, 'each message delivered once', log.messages.map((m) => m.id));
      checkConsecutive(log.messages, 1, 'delivered');
      for (const s of sends) {
        check(s.settled === 1 && s.error === null, s.text + ' acked once', s);
        const delivered = log.messages.filter((m) => m.message === s.text);
        check(delivered.length === 1 && delivered[0].id === s.result.id, s.text + ' delivered once', delivered);
      }
      chat.close();
      return {
        closeCodes: reconnects.map((s) => s.code === undefined ? null : s.code),
        waitingAtDrop,
        duplicates: sends.filter((s) => s.result.duplicate).length,
        ids: sends.map((s) => s.result.id),
      };
    },

    /**
     * Refusals: a message over the limit and a blank one reject with the server's code and are dropped (not
     * resent after a reconnect); sends after them still work; an error frame not tied to a send is an
     * 'error' event.
     */
    async refusals(env, args) {
      const maxBytes = (args && args.maxBytes) || 4096;
      const { chat, log } = recordedClient(env);
      chat.connect();
      await opened(chat, log, 1);
      const codeOf = (promise) => promise.then(() => 'resolved', (e) => e.code);
      const tooLong = codeOf(chat.send('x'.repeat(maxBytes + 1)));
      const blank = codeOf(chat.send('   '));
      const fine = chat.send('fine');
      const codes = await within(Promise.all([tooLong, blank]), 'both refusals');
      check(codes[0] === 'message_too_long' && codes[1] === 'empty_message', 'refusal codes', codes);
      const ack = await within(fine, 'the good send');
      check(chat.pending.length === 0, 'refused sends are not kept', chat.pending);
      chat.reconnect();
      await opened(chat, log, 2);
      const after = await within(chat.send('after'), 'a send after the reconnect');
      check(after.id === ack.id + 1, 'nothing refused was resent and stored', { ack, after });
      chat.close();
      // After close() a send waits for connect(); a second close() abandons it with 'closed'.
      const waiting = codeOf(chat.send('while closed'));
      check(chat.pending.length === 1, 'a send while closed waits', chat.pending);
      chat.close();
      const closedCode = await waiting;
      check(closedCode === 'closed', 'close() rejects what waits', closedCode);
      return { codes, ids: [ack.id, after.id], closedCode, errors: log.errors };
    },

    /**
     * Presence, typing, edit and delete between two people (needs the server's v2 live frames). Client A
     * uses `env` as given; client B takes `args.second` as extra options (another identity: in the
     * browser a socket to another host name, so no session cookie goes with it; in Node other headers).
     * Both see each other; A's typing reaches B (A's second call within the interval sends nothing); with
     * `args.canEdit` (A is an account) A edits and deletes its own message, acked with the events' ids,
     * B gets both in id order, and an unknown id is `not_found`; B closing is a leave for A.
     */
    async liveFrames(env, args) {
      const a = recordedClient(env);
      a.chat.connect();
      await opened(a.chat, a.log, 1);
      await until(a.chat, ['presence'], () => a.chat.users.length === 1, 'A alone in the room',
        () => a.log.presence);
      const b = recordedClient(env, (args && args.second) || {});
      b.chat.connect();
      await opened(b.chat, b.log, 1);
      await until(a.chat, ['presence'], () => a.chat.users.length === 2, 'A seeing B', () => a.log.presence);
      await until(b.chat, ['presence'], () => b.chat.users.length === 2, 'B seeing A', () => b.log.presence);
      const sentTyping = [a.chat.typing(), a.chat.typing()];
      check(sentTyping[0] === true && sentTyping[1] === false, 'typing is throttled client-side', sentTyping);
      await until(b.chat, ['typing'], () => b.log.typing.length >= 1, 'the typing frame', () => b.log.typing);
      const summary = { users: a.chat.users, typing: b.log.typing[0] };
      if (args && args.canEdit) {
        const sent = await within(a.chat.send('to be edited'), 'send');
        const edited = await within(a.chat.edit(sent.id, 'edited text'), 'edit');
        check(edited.id === sent.id + 1, 'the edit is the next event', { sent, edited });
        const deleted = await within(a.chat.delete(sent.id), 'delete');
        check(deleted.id === edited.id + 1, 'the delete is the next event', { edited, deleted });
        await until(b.chat, ['delete'], () => b.chat.lastId >= deleted.id, 'the delete reaching B',
          () => b.log.events);
        const seen = b.log.events.filter((e) => e.id >= sent.id);
        check(JSON.stringify(seen.map((e) => [e.type, e.id, e.target || null])) ===
          JSON.stringify([['message', sent.id, null], ['edit', edited.id, sent.id], ['delete', deleted.id, sent.id]]),
        'B got the message, its edit and its delete once, in order', seen);
        check(seen[1].message === 'edited text', 'the edit carries the new text', seen[1]);
        const missing = await a.chat.edit(sent.id + 1000, 'nope').then(() => 'resolved', (e) => e.code);
        check(missing === 'not_found', 'editing an unknown id is not_found', missing);
        const other = await within(b.chat.send('from B'), 'B\'s send');
        const forbidden = await a.chat.delete(other.id).then(() => 'resolved', (e) => e.code);
        check(forbidden === 'forbidden', 'deleting another person\'s message is forbidden', forbidden);
        Object.assign(summary, { sent: sent.id, edited: edited.id, deleted: deleted.id, missing, forbidden });
      }
      b.chat.close();
      await until(a.chat, ['presence'], () => a.chat.users.length === 1, 'A seeing B leave', () => a.log.presence);
      summary.afterLeave = a.chat.users;
      a.chat.close();
      return summary;
    },

    /** `history()` pages back through the room with `before`, oldest first in each page. */
    async historyPaging(env, args) {
      const count = (args && args.count) || 25;
      const { chat, log } = recordedClient(env);
      chat.connect();
      await opened(chat, log, 1);
      const ids = [];
      for (let i = 0; i < count; i += 1) ids.push((await within(chat.send('h-' + i), 'send')).id);
      const pages = [];
      let before;
      for (let guard = 0; guard < count + 2; guard += 1) {
        const page = await within(chat.history({ before, limit: 10 }), 'a history page');
        pages.push(page.messages.map((m) => m.id));
        if (page.before == null) break;
        before = page.before;
      }
      const all = [].concat(...pages.slice().reverse());
      check(JSON.stringify(all) === JSON.stringify(ids), 'the pages cover the room once, in order', pages);
      const missing = await new env.ChatClient({ room: 'no room!', apiBase: env.origin, WebSocket: env.WebSocket })
        .history().then(() => 'resolved', (e) => e.code + ' ' + e.status);
      chat.close();
      return { pages, missing };
    },
  };

  root.chatwebScenarios = scenarios;
})(globalThis);
