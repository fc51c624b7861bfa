// Unit tests of static/chatweb-client.js with a scripted WebSocket and fetch (no server): the rules a
// real server rarely provokes (duplicate or stale ids, a join for someone present, a retryable refusal,
// backoff bounds, a terminal close code), checked exactly. tests/js/server.test.mjs and
// tests/api/client_js.rs run the module against a real node. Run: `node --test tests/js/`.
import { test, mock, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ChatClient, ChatError, PROTOCOL } from '../../static/chatweb-client.js';

/** A WebSocket the test plays the server for. */
function fakeSocketClass() {
  return class FakeSocket {
    static all = [];
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.sent = [];
      this.readyState = 0;
      this.closedWith = null;
      FakeSocket.all.push(this);
    }
    static get last() { return FakeSocket.all[FakeSocket.all.length - 1]; }
    send(data) {
      if (this.readyState !== 1) throw new Error('send on a socket that is not open');
      this.sent.push(JSON.parse(data));
    }
    close(code, reason) { this.closedWith = { code, reason }; this.readyState = 3; }
    // The server's side.
    accept() { this.readyState = 1; if (this.onopen) this.onopen({}); }
    push(frame) { if (this.onmessage) this.onmessage({ data: JSON.stringify(frame) }); }
    drop(code = 1006, reason = '') { this.readyState = 3; if (this.onclose) this.onclose({ code, reason }); }
  };
}

function client(Socket, options = {}) {
  const chat = new ChatClient(Object.assign({
    room: 'lobby', apiBase: 'http://chat.test', WebSocket: Socket,
    backoff: { minMs: 10, maxMs: 40 },
  }, options));
  const seen = { message: [], edit: [], presence: [], join: [], leave: [], status: [], error: [], typing: [], read: [], retry: [], pending: [] };
  for (const type of Object.keys(seen)) chat.addEventListener(type, (e) => seen[type].push(e.detail));
  return { chat, seen };
}

const message = (id, extra = {}) => Object.assign({ type: 'message', id, room: 'lobby', ts: 't', user: 'ada', message: 'm' + id, history: false }, extra);

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
afterEach(() => { mock.timers.reset(); mock.restoreAll(); });

test('connects to the room socket with the chatweb.v2 subprotocol; since only when asked or once in sync', () => {
  const Socket = fakeSocketClass();
  const { chat } = client(Socket);
  chat.connect();
  assert.equal(Socket.last.url, 'ws://chat.test/ws/chat/lobby/');
  assert.deepEqual(Socket.last.protocols, [PROTOCOL]);
  Socket.last.accept();
  Socket.last.push(message(4));
  Socket.last.drop();
  mock.timers.tick(40);
  assert.equal(Socket.last.url, 'ws://chat.test/ws/chat/lobby/?since=4');

  const Other = fakeSocketClass();
  client(Other, { since: 9, room: 'r ü' }).chat.connect();
  assert.equal(Other.last.url, 'ws://chat.test/ws/chat/r%20%C3%BC/?since=9');

  const Given = fakeSocketClass();
  client(Given, { url: 'https://chat.test/ws/chat/lobby/?x=1', since: 2 }).chat.connect();
  assert.equal(Given.last.url, 'wss://chat.test/ws/chat/lobby/?x=1&since=2');
});

test('numbered events are delivered once, in id order; unnumbered frames pass through', () => {
  const Socket = fakeSocketClass();
  const { chat, seen } = client(Socket);
  chat.connect();
  Socket.last.accept();
  const s = Socket.last;
  s.push(message(1));
  s.push(message(2));
  s.push(message(2));
  s.push(message(1, { history: true }));
  s.push({ type: 'read', room: 'lobby', id: 50 });
  s.push({ type: 'ack', client_id: 'x', id: 60, duplicate: false });
  s.push({ type: 'edit', id: 3, room: 'lobby', ts: 't', user: 'ada', target: 1, message: 'new', history: false });
  s.push({ type: 'typing', room: 'lobby', user: 'bob', guest: true });
  s.push({ type: 'typing', room: 'lobby', user: 'bob', guest: true });
  s.push(message(3));
  assert.deepEqual(seen.message.map((m) => m.id), [1, 2]);
  assert.deepEqual(seen.edit.map((m) => m.id), [3]);
  assert.equal(seen.typing.length, 2, 'ephemeral frames are not deduplicated');
  assert.equal(chat.lastId, 3, 'read marks and acks are not room ids');
});

test('a send waits offline, goes on open, is resent once with its client_id after a drop, and resolves on the ack', async () => {
  const Socket = fakeSocketClass();
  const { chat, seen } = client(Socket);
  const sent = chat.send('hi');
  assert.equal(chat.pending.length, 1);
  chat.connect();
  assert.equal(Socket.last.sent.length, 0, 'nothing goes before the socket is open');
  Socket.last.accept();
  const [frame] = Socket.last.sent;
  assert.deepEqual(Object.keys(frame).sort(), ['client_id', 'message', 'type']);
  assert.equal(frame.message, 'hi');
  Socket.last.drop();
  mock.timers.tick(40);
  Socket.last.accept();
  assert.deepEqual(Socket.last.sent, [frame], 'the same frame, the same client_id, once');
  Socket.last.push({ type: 'ack', client_id: frame.client_id, id: 7, duplicate: true });
  assert.deepEqual(await sent, { id: 7, duplicate: true, clientId: frame.client_id });
  assert.equal(chat.pending.length, 0);
  assert.deepEqual(seen.pending.map((p) => p.count), [1, 0]);
  Socket.last.drop();
  mock.timers.tick(40);
  Socket.last.accept();
  assert.deepEqual(Socket.last.sent, [], 'an acked send is never sent again');
});

test('a refusal rejects with its code; a retryable one keeps the operation and resends it', async () => {
  const Socket = fakeSocketClass();
  const { chat, seen } = client(Socket, { retryMs: 100 });
  chat.connect();
  Socket.last.accept();
  const tooLong = chat.send('long');
  const later = chat.send('later');
  const [a, b] = Socket.last.sent;
  Socket.last.push({ type: 'error', code: 'message_too_long', detail: 'too long', client_id: a.client_id });
  const error = await tooLong.catch((e) => e);
  assert.ok(error instanceof ChatError);
  assert.equal(error.code, 'message_too_long');
  assert.equal(error.detail, 'too long');
  Socket.last.push({ type: 'error', code: 'store_unavailable', detail: 'down', client_id: b.client_id });
  assert.equal(seen.retry.length, 1);
  assert.deepEqual(chat.pending.map((p) => p.message), ['later']);
  mock.timers.tick(100);
  assert.deepEqual(Socket.last.sent.slice(2), [b], 'resent on the same connection after retryMs');
  Socket.last.drop();
  mock.timers.tick(40);
  Socket.last.accept();
  assert.deepEqual(Socket.last.sent, [b], 'and on the next connection');
  Socket.last.push({ type: 'ack', client_id: b.client_id, id: 3, duplicate: false });
  assert.equal((await later).id, 3);
  Socket.last.push({ type: 'error', code: 'invalid_json', detail: 'x' });
  assert.deepEqual(seen.error.map((e) => e.code), ['invalid_json'], 'untied errors are events');
});

test('edit and delete carry a client_id and resolve with the event id', async () => {
  const Socket = fakeSocketClass();
  const { chat } = client(Socket);
  chat.connect();
  Socket.last.accept();
  const edit = chat.edit(7, 'new');
  const del = chat.delete(8);
  const [e, d] = Socket.last.sent;
  assert.deepEqual({ ...e, client_id: undefined }, { type: 'edit', id: 7, message: 'new', client_id: undefined });
  assert.deepEqual({ ...d, client_id: undefined }, { type: 'delete', id: 8, client_id: undefined });
  assert.deepEqual(chat.pending.map((p) => [p.type, p.id]), [['edit', 7], ['delete', 8]]);
  Socket.last.push({ type: 'ack', client_id: d.client_id, id: 12, duplicate: false });
  Socket.last.push({ type: 'error', code: 'forbidden', detail: 'not yours', client_id: e.client_id });
  assert.equal((await del).id, 12);
  assert.equal((await edit.catch((x) => x)).code, 'forbidden');
});

test('a send attaches files by id, keeps them through a resend; message frames give their own text and files', async () => {
  const Socket = fakeSocketClass();
  const { chat, seen } = client(Socket);
  chat.connect();
  Socket.last.accept();
  const withFiles = chat.send('', { files: ['f1', 'f2'] });
  const plain = chat.send('no files', { files: [] });
  const [a, b] = Socket.last.sent;
  assert.deepEqual({ ...a, client_id: undefined }, { type: 'message', message: '', files: ['f1', 'f2'], client_id: undefined });
  assert.equal('files' in b, false, 'no empty files list on the wire');
  assert.deepEqual(chat.pending.map((p) => p.files), [['f1', 'f2'], undefined]);
  Socket.last.drop();
  mock.timers.tick(40);
  Socket.last.accept();
  assert.deepEqual(Socket.last.sent, [a, b], 'resent with the same client_id and the same files');
  Socket.last.push({ type: 'ack', client_id: a.client_id, id: 5, duplicate: false });
  Socket.last.push({ type: 'ack', client_id: b.client_id, id: 6, duplicate: false });
  assert.equal((await withFiles).id, 5);
  assert.equal((await plain).id, 6);
  const file = { id: 'f1', name: 'cat.png', size: 10, type: 'image/png', url: '/files/f1/cat.png', thumb_url: null, width: 2, height: 1 };
  Socket.last.push(message(5, { message: 'look\ncat.png /files/f1/cat.png', text: 'look', files: [file] }));
  Socket.last.push(message(6, { files: 'not a list' }));
  assert.equal(seen.message[0].message, 'look', 'the own text, not the lines for old clients');
  assert.deepEqual(seen.message[0].files, [file]);
  assert.equal(seen.message[1].message, 'm6');
  assert.equal('files' in seen.message[1], false);
});

test('presence is one entry per person: repeated joins and absent leaves change nothing', () => {
  const Socket = fakeSocketClass();
  const { chat, seen } = client(Socket);
  chat.connect();
  Socket.last.accept();
  Socket.last.push({ type: 'presence', room: 'lobby', users: [{ user: 'ada', guest: false }, { user: 'ada', guest: true }], count: 2 });
  Socket.last.push({ type: 'join', room: 'lobby', user: 'ada', guest: false });
  Socket.last.push({ type: 'join', room: 'lobby', user: 'bob', guest: true });
  Socket.last.push({ type: 'leave', room: 'lobby', user: 'ada', guest: true });
  Socket.last.push({ type: 'leave', room: 'lobby', user: 'zed', guest: false });
  assert.deepEqual(chat.users, [{ user: 'ada', guest: false }, { user: 'bob', guest: true }]);
  assert.equal(seen.join.length, 1);
  assert.equal(seen.leave.length, 1);
  assert.deepEqual(seen.presence.map((p) => p.count), [2, 3, 2]);
  assert.deepEqual(seen.presence[2].users, chat.users);
});

test('typing is throttled; read marks are monotonic and sent at most once a second, the newest winning', () => {
  const Socket = fakeSocketClass();
  const { chat } = client(Socket, { typingIntervalMs: 3000 });
  assert.equal(chat.typing(), false, 'nothing while offline');
  chat.connect();
  Socket.last.accept();
  assert.equal(chat.typing(), true);
  assert.equal(chat.typing(), false);
  mock.timers.tick(2999);
  assert.equal(chat.typing(), false);
  mock.timers.tick(1);
  assert.equal(chat.typing(), true);
  const s = Socket.last;
  s.sent.length = 0;
  Socket.last.push({ type: 'read', room: 'lobby', id: 4 });
  chat.markRead(3);
  assert.deepEqual(s.sent, [], 'below the stored mark');
  chat.markRead(5);
  chat.markRead(7);
  chat.markRead(6);
  chat.markRead(9);
  assert.deepEqual(s.sent, [{ type: 'read', id: 5 }]);
  mock.timers.tick(999);
  assert.equal(s.sent.length, 1);
  mock.timers.tick(1);
  assert.deepEqual(s.sent, [{ type: 'read', id: 5 }, { type: 'read', id: 9 }]);
  chat.markRead(9);
  mock.timers.tick(2000);
  assert.equal(s.sent.length, 2);
  Socket.last.push({ type: 'error', code: 'login_required', detail: 'guests have no read marks' });
  chat.markRead(20);
  assert.equal(s.sent.length, 2, 'a guest stops sending read marks');
});

test('reconnects with full-jitter exponential backoff, reset after a connection that stayed open', () => {
  const Socket = fakeSocketClass();
  const { chat, seen } = client(Socket, { backoff: { minMs: 100, maxMs: 400 }, stableMs: 1000 });
  mock.method(Math, 'random', () => 0.999);
  chat.connect();
  for (let i = 0; i < 4; i += 1) {
    Socket.last.drop();
    mock.timers.tick(400);
  }
  const delays = () => seen.status.filter((s) => s.state === 'reconnecting').map((s) => s.delayMs);
  assert.deepEqual(delays(), [100, 200, 400, 400]);
  Socket.last.accept();
  Socket.last.drop();
  assert.equal(delays().at(-1), 400, 'a short-lived connection does not reset the backoff');
  mock.timers.tick(400);
  Socket.last.accept();
  mock.timers.tick(1000);
  Socket.last.drop();
  assert.equal(delays().at(-1), 100, 'a connection that stayed open resets it');
  mock.method(Math, 'random', () => 0);
  mock.timers.tick(100);
  Socket.last.drop();
  assert.equal(delays().at(-1), 0, 'full jitter: anywhere from zero');
  assert.deepEqual([...new Set(seen.status.map((s) => s.state))].sort(), ['connecting', 'open', 'reconnecting']);
});

test('a session that ended (4401) stops reconnecting; close() rejects what waits', async () => {
  const Socket = fakeSocketClass();
  const { chat, seen } = client(Socket);
  chat.connect();
  Socket.last.accept();
  const waiting = chat.send('hi');
  Socket.last.drop(4401, 'session ended');
  mock.timers.tick(1000);
  assert.equal(Socket.all.length, 1);
  assert.deepEqual(seen.status.at(-1), { state: 'closed', attempt: 0, delayMs: 0, code: 4401, reason: 'session ended' });
  chat.close();
  assert.equal((await waiting.catch((e) => e)).code, 'closed');
  chat.connect();
  assert.equal(Socket.all.length, 2, 'connect() after close() opens again');
});

test('reconnect() drops the socket like a failure and resumes after the last id', () => {
  const Socket = fakeSocketClass();
  const { chat, seen } = client(Socket);
  chat.connect();
  const first = Socket.last;
  first.accept();
  first.push(message(1));
  chat.reconnect();
  assert.equal(first.closedWith.code, 4000);
  first.push(message(2));
  assert.deepEqual(seen.message.map((m) => m.id), [1], 'the old socket is deaf');
  mock.timers.tick(40);
  assert.equal(Socket.last.url, 'ws://chat.test/ws/chat/lobby/?since=1');
  Socket.last.drop();
  chat.reconnect();
  assert.equal(Socket.all.length, 3, 'while waiting out a backoff, reconnect() tries at once');
});

test('history() asks the API and turns an error body into a ChatError', async () => {
  const calls = [];
  const answers = [
    { ok: true, status: 200, json: async () => ({ room: 'r', messages: [message(1)], before: null }) },
    { ok: false, status: 404, statusText: 'Not Found', json: async () => ({ error: 'invalid_room', detail: 'no such room' }) },
  ];
  const fetch = async (url, init) => { calls.push([url, init.headers]); return answers.shift(); };
  const chat = new ChatClient({ room: 'r', apiBase: 'https://c.test/', WebSocket: fakeSocketClass(), fetch, headers: { Authorization: 'Bearer cwt_x' } });
  const page = await chat.history({ before: 10, limit: 5 });
  assert.equal(page.messages[0].id, 1);
  const error = await chat.history().catch((e) => e);
  assert.equal(error.code, 'invalid_room');
  assert.equal(error.status, 404);
  assert.deepEqual(calls.map((c) => c[0]), ['https://c.test/api/rooms/r/messages?before=10&limit=5', 'https://c.test/api/rooms/r/messages']);
  assert.equal(calls[0][1].Authorization, 'Bearer cwt_x');
});

test('the module touches no DOM and never writes HTML', () => {
  const source = readFileSync(new URL('../../static/chatweb-client.js', import.meta.url), 'utf8');
  for (const word of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.', 'eval(', 'new Function']) {
    assert.ok(!source.includes(word), word);
  }
});
