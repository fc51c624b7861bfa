// Unit tests of the aggregates in static/chatweb-client.js (replies, reactions, pins) and the protocol's
// `as_of` rule (docs/PROTOCOL.md): message frames from the socket are as of their own id, API answers as of
// their `as_of`, an event with id E about message N counts only when E > N's as-of id, and events about a
// message not held yet wait for it. The point: an API page that overlaps socket events never counts one
// twice, and never loses one. Also the new operations' frames (reply, react, unreact, pin, unpin, topic):
// client_ids, acks, resent after a reconnect. Run: `node --test tests/js/`.
import { test, mock, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregates, ChatClient, MAX_WAITING } from '../../static/chatweb-client.js';

class FakeSocket {
  static all = [];
  constructor(url) { this.url = url; this.sent = []; this.readyState = 0; FakeSocket.all.push(this); }
  static get last() { return FakeSocket.all[FakeSocket.all.length - 1]; }
  send(data) { this.sent.push(JSON.parse(data)); }
  close() { this.readyState = 3; }
  accept() { this.readyState = 1; this.onopen({}); }
  push(frame) { this.onmessage({ data: JSON.stringify(frame) }); }
  drop() { this.readyState = 3; this.onclose({ code: 1006, reason: '' }); }
}

/** A client on a fake socket and a fetch that answers from `answers` (a path -> body map). */
function client(answers = {}) {
  const fetch = async (url) => {
    const path = new URL(url).pathname + new URL(url).search;
    const body = answers[path];
    assert.ok(body, 'an answer for ' + path);
    return { ok: true, status: 200, json: async () => body };
  };
  const chat = new ChatClient({ room: 'design', apiBase: 'http://chat.test', WebSocket: FakeSocket, fetch,
    backoff: { minMs: 1, maxMs: 1 } });
  const changes = [];
  chat.addEventListener('aggregate', (e) => changes.push(e.detail));
  chat.connect();
  FakeSocket.last.accept();
  return { chat, socket: () => FakeSocket.last, changes };
}

const message = (id, extra = {}) => Object.assign({ type: 'message', id, room: 'design', ts: 't', user: 'ada', message: 'm' + id, history: false }, extra);
const reaction = (id, target, user, emoji = '👍', action = 'add') => ({ type: 'reaction', id, room: 'design', ts: 't', user, target, emoji, action, history: false });
const pin = (id, target, action = 'add') => ({ type: 'pin', id, room: 'design', ts: 't', user: 'ada', target, action, history: false });
/** The reactions of an aggregate as `emoji:count:users`. */
const shown = (agg) => agg.reactions.map((r) => r.emoji + ':' + r.count + ':' + r.users.join(','));

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
afterEach(() => { mock.timers.reset(); FakeSocket.all = []; });

test('socket frames build the aggregates: replies, reactions with who, pins; a delete clears reactions and pin', () => {
  const { chat, socket, changes } = client();
  const s = socket();
  s.push(message(1));
  s.push(message(2, { reply_to: 1 }));
  s.push(reaction(3, 1, 'bob'));
  s.push(reaction(4, 1, 'cy'));
  s.push(reaction(5, 1, 'cy', '🎉'));
  s.push(message(6, { reply_to: 1 }));
  s.push(pin(7, 1));
  s.push(reaction(8, 1, 'bob', '👍', 'remove'));
  let agg = chat.aggregate(1);
  assert.deepEqual([agg.replies, agg.lastReplyId, agg.pinned, agg.asOf], [2, 6, true, 1]);
  assert.deepEqual(shown(agg), ['👍:1:cy', '🎉:1:cy']);
  assert.deepEqual(chat.aggregate(2), { id: 2, asOf: 2, replies: 0, lastReplyId: null, reactions: [], pinned: false });
  // Each change was announced, the root's after the reply that changed it.
  assert.deepEqual(changes.filter((c) => c.id === 1).map((c) => c.replies), [0, 1, 1, 1, 1, 2, 2, 2]);
  s.push({ type: 'delete', id: 9, room: 'design', target: 1, user: 'ada', history: false });
  agg = chat.aggregate(1);
  assert.deepEqual([agg.replies, agg.pinned, agg.reactions], [2, false, []]);
  // Replayed frames (a resume overlapping what was delivered) change nothing.
  s.push(reaction(4, 1, 'cy'));
  assert.deepEqual(chat.aggregate(1).reactions, []);
});

test('an API page that overlaps socket events counts none of them twice', async () => {
  // The socket gave message 5, its reply 6 and bob's reaction 7; the page, read at as_of 7, counts both.
  const page = { room: 'design', before: null, as_of: 7, messages: [
    { id: 5, ts: 't', user: 'ada', message: 'm5', reactions: [{ emoji: '👍', count: 1, users: ['bob'] }], replies: 1, last_reply_id: 6 },
    { id: 6, ts: 't', user: 'bob', message: 'r', reply_to: 5 },
  ] };
  const { chat, socket } = client({ '/api/rooms/design/messages?limit=50': page });
  const s = socket();
  s.push(message(5));
  s.push(message(6, { reply_to: 5 }));
  s.push(reaction(7, 5, 'bob'));
  await chat.history({ limit: 50 });
  s.push(reaction(8, 5, 'cy'));
  const agg = chat.aggregate(5);
  assert.deepEqual(shown(agg), ['👍:2:bob,cy'], 'the page counts 6 and 7 already; 8 counts once on top');
  assert.equal(agg.replies, 1);
  assert.equal(agg.asOf, 7);
});

test('an API answer older than events the socket already applied keeps them: they count again on top', () => {
  const agg = new Aggregates();
  agg.message(message(5));
  agg.event({ kind: 'reaction', id: 6, target: 5, emoji: '👍', user: 'bob', action: 'add' });
  agg.event({ kind: 'reaction', id: 9, target: 5, emoji: '👍', user: 'cy', action: 'add' });
  agg.event({ kind: 'reply', id: 10, target: 5 });
  // Read at as_of 8 (before 9 and 10 were stored), arriving after the socket gave them.
  assert.deepEqual(agg.snapshot({ id: 5, reactions: [{ emoji: '👍', count: 1, users: ['bob'] }] }, 8), [5]);
  const now = agg.get(5);
  assert.deepEqual(shown(now), ['👍:2:bob,cy']);
  assert.deepEqual([now.replies, now.lastReplyId, now.asOf], [1, 10, 8]);
  // An answer as old as what is held, or older, changes nothing.
  assert.deepEqual(agg.snapshot({ id: 5, reactions: [] }, 8), []);
  assert.deepEqual(agg.snapshot({ id: 5, reactions: [] }, 3), []);
  assert.deepEqual(shown(agg.get(5)), ['👍:2:bob,cy']);
});

test('events about a message not held yet wait for it and then count by the same rule', () => {
  const agg = new Aggregates();
  agg.event({ kind: 'reaction', id: 20, target: 3, emoji: '👍', user: 'bob', action: 'add' });
  agg.event({ kind: 'pin', id: 21, target: 3, action: 'add' });
  agg.event({ kind: 'reaction', id: 22, target: 4, emoji: '👀', user: 'bob', action: 'add' });
  assert.equal(agg.get(3), null);
  assert.equal(agg.waiting, 3);
  // Message 3 from an API page read at as_of 20: reaction 20 is counted in it, the pin is not.
  agg.snapshot({ id: 3, reactions: [{ emoji: '👍', count: 1, users: ['bob'] }] }, 20);
  assert.deepEqual(shown(agg.get(3)), ['👍:1:bob']);
  assert.equal(agg.get(3).pinned, true);
  // Message 4 read at as_of 25: its reaction is in the answer already.
  agg.snapshot({ id: 4, reactions: [{ emoji: '👀', count: 1, users: ['bob'] }] }, 25);
  assert.deepEqual(shown(agg.get(4)), ['👀:1:bob']);
  assert.equal(agg.waiting, 0);
});

test('what waits is bounded: the oldest events go first', () => {
  const agg = new Aggregates();
  for (let i = 1; i <= MAX_WAITING + 10; i += 1) {
    agg.event({ kind: 'reaction', id: 100 + i, target: 1 + (i % 2), emoji: '👍', user: 'u' + i, action: 'add' });
  }
  assert.equal(agg.waiting, MAX_WAITING);
  agg.snapshot({ id: 1 }, 50);
  agg.snapshot({ id: 2 }, 50);
  const total = agg.get(1).reactions[0].count + agg.get(2).reactions[0].count;
  assert.equal(total, MAX_WAITING);
});

test('replies and reactions from a thread answer and from pins count as of their as_of', async () => {
  const thread = { root: { id: 1, ts: 't', user: 'ada', message: 'root', replies: 2, last_reply_id: 3 },
    replies: [{ id: 2, ts: 't', user: 'bob', message: 'a', reply_to: 1 }, { id: 3, ts: 't', user: 'cy', message: 'b', reply_to: 1, reactions: [{ emoji: '👍', count: 1, users: ['ada'] }] }],
    after: null, as_of: 4 };
  const pins = { as_of: 6, pins: [{ message: { id: 1, ts: 't', user: 'ada', message: 'root', replies: 3, last_reply_id: 5, pinned: true }, pinned_by: 'ada', pinned_at: 't' }] };
  const { chat, socket } = client({
    '/api/rooms/design/messages/1/thread?limit=50': thread, '/api/rooms/design/pins': pins,
  });
  const s = socket();
  // The socket joined late: it gives reply 5 and the pin 6, about a root it never gave.
  s.push(message(5, { reply_to: 1 }));
  s.push(pin(6, 1));
  const page = await chat.thread(1, { limit: 50 });
  assert.equal(page.replies.length, 2);
  let root = chat.aggregate(1);
  assert.deepEqual([root.replies, root.lastReplyId, root.pinned], [3, 5, true], 'the thread as of 4, then 5 and 6');
  assert.deepEqual(shown(chat.aggregate(3)), ['👍:1:ada']);
  await chat.pins();
  root = chat.aggregate(1);
  assert.deepEqual([root.replies, root.lastReplyId, root.pinned, root.asOf], [3, 5, true, 6], 'the pins as of 6 change nothing');
});

test('clear removes the reactions and pins of every message up to through, held or arriving later', () => {
  const agg = new Aggregates();
  agg.message(message(1));
  agg.event({ kind: 'reaction', id: 2, target: 1, emoji: '👍', user: 'bob', action: 'add' });
  agg.clear({ id: 3, through: 2 });
  assert.deepEqual(agg.get(1).reactions, []);
  // Message 2 from an API answer read before the clear (as_of 2) loses its reactions and pin too.
  agg.snapshot({ id: 2, reactions: [{ emoji: '👍', count: 1, users: ['cy'] }], pinned: true }, 2);
  assert.deepEqual([agg.get(2).reactions, agg.get(2).pinned], [[], false]);
});

test('reply, react, unreact, pin, unpin and setTopic send their frames with client_ids and resolve on ack', async () => {
  const { chat, socket } = client();
  const s = socket();
  const ops = [
    chat.reply('in the thread', 7), chat.react(7, '👍'), chat.unreact(7, '👍'), chat.pin(7), chat.unpin(7),
    chat.setTopic('Release 2.0'),
  ];
  const frames = s.sent.map(({ client_id, ...rest }) => rest);
  assert.deepEqual(frames, [
    { type: 'message', message: 'in the thread', reply_to: 7 }, { type: 'react', id: 7, emoji: '👍' },
    { type: 'unreact', id: 7, emoji: '👍' }, { type: 'pin', id: 7 }, { type: 'unpin', id: 7 },
    { type: 'topic', topic: 'Release 2.0' },
  ]);
  assert.equal(new Set(s.sent.map((f) => f.client_id)).size, 6);
  assert.deepEqual(chat.pending.map((p) => [p.type, p.replyTo ?? p.emoji ?? p.topic ?? null]), [
    ['message', 7], ['react', '👍'], ['unreact', '👍'], ['pin', null], ['unpin', null], ['topic', 'Release 2.0'],
  ]);
  // The connection drops before any ack: all six go again, same client_ids, in order.
  const first = s.sent.map((f) => f.client_id);
  s.drop();
  mock.timers.tick(5);
  const again = socket();
  again.accept();
  assert.deepEqual(again.sent.map((f) => f.client_id), first);
  again.sent.forEach((f, i) => again.push({ type: 'ack', client_id: f.client_id, id: 10 + i, duplicate: i === 1 }));
  const acks = await Promise.all(ops);
  assert.deepEqual(acks.map((a) => [a.id, a.duplicate]), [[10, false], [11, true], [12, false], [13, false], [14, false], [15, false]]);
  assert.equal(chat.pending.length, 0);
});

test('a topic frame sets the client\'s topic and is announced', () => {
  const { chat, socket } = client();
  const topics = [];
  chat.addEventListener('topic', (e) => topics.push(e.detail.topic));
  assert.equal(chat.topic, null);
  socket().push({ type: 'topic', id: 3, room: 'design', ts: 't', user: 'ada', topic: 'Release 2.0', history: false });
  assert.equal(chat.topic, 'Release 2.0');
  assert.deepEqual(topics, ['Release 2.0']);
});
