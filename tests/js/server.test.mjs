// static/chatweb-client.js in Node against a real chatweb node: the scenarios of tests/js/scenarios.js
// with Node's own WebSocket (Node 20: run with --experimental-websocket). tests/api/client_js.rs starts the
// node and runs this file with
//   CHATWEB_TEST_ORIGIN     http://127.0.0.1:PORT of the node
//   CHATWEB_TEST_TOKEN      an API token of a plain account (the edit/delete scenario speaks as it)
//   CHATWEB_TEST_SCENARIOS  comma-separated scenario names to run (default: all)
// Without CHATWEB_TEST_ORIGIN the tests skip, except under CI=true, where they fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import './scenarios.js';
import { ChatClient } from '../../static/chatweb-client.js';

const origin = process.env.CHATWEB_TEST_ORIGIN;
const token = process.env.CHATWEB_TEST_TOKEN;
const only = (process.env.CHATWEB_TEST_SCENARIOS || '').split(',').filter(Boolean);
const scenarios = globalThis.chatwebScenarios;

/**
 * Node's WebSocket sends no Origin header (a browser always does, and the server refuses a handshake
 * without an allowed one unless it carries a bearer token): a subclass adds the headers a client needs.
 */
function webSocketWith(headers) {
  return class extends globalThis.WebSocket {
    constructor(url, protocols) {
      super(url, { protocols, headers });
    }
  };
}

// A browser sends back the guest id cookie (chatweb_guest) its first page or handshake was given, so its
// resends after a reconnect are recognised as its own; Node keeps no cookies, so the guest holds one here.
const guestCookie = 'chatweb_guest=' + randomBytes(16).toString('hex');
const guestSocket = webSocketWith({ origin, cookie: guestCookie });
const accountSocket = webSocketWith({ origin, authorization: 'Bearer ' + token });
let rooms = 0;

function env(WebSocket) {
  rooms += 1;
  return { ChatClient, origin, WebSocket, room: 'node-' + process.pid + '-' + rooms };
}

function scenario(name, run) {
  const skip = !origin ? 'CHATWEB_TEST_ORIGIN is not set' : only.length && !only.includes(name) ? 'not selected' : false;
  if (!origin && process.env.CI === 'true') {
    test(name, () => assert.fail('CHATWEB_TEST_ORIGIN is not set: run through tests/api/client_js.rs'));
    return;
  }
  test(name, { skip, timeout: 60000 }, run);
}

scenario('burstAcrossReconnect', async () => {
  const summary = await scenarios.burstAcrossReconnect(env(guestSocket), { burst: 200, window: 20, hold: 150 });
  assert.equal(summary.stored, summary.delivered.length);
});

scenario('refusals', async () => {
  const summary = await scenarios.refusals(env(guestSocket), {});
  assert.deepEqual(summary.codes, ['message_too_long', 'empty_message']);
});

scenario('liveFrames', async () => {
  assert.ok(token, 'CHATWEB_TEST_TOKEN is set');
  const summary = await scenarios.liveFrames(env(accountSocket), { canEdit: true, second: { WebSocket: guestSocket } });
  assert.equal(summary.users.length, 2);
});

scenario('historyPaging', async () => {
  const summary = await scenarios.historyPaging(env(guestSocket), { count: 25 });
  assert.deepEqual(summary.pages.map((p) => p.length), [10, 10, 5]);
});
