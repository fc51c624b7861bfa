// chatweb room page. Speaks the Channels chat protocol plus chatweb's extensions (docs/PROTOCOL.md),
// asking for the chatweb.v2 subprotocol: every message carries a room id, so the page resumes after a
// disconnect from the last id it saw (no gap, no duplicate); every send carries a client_id, so a send
// that was not acknowledged is sent again after reconnecting and stored once; deletions arrive as events
// and remove the message from the log. The session cookie goes with the socket: the server says who
// is speaking. User text only ever reaches the page as a textarea's value, never as HTML.
(function () {
  'use strict';
  const main = document.getElementById('room');
  const room = main.dataset.room;
  const log = document.getElementById('chat-log');
  const form = document.getElementById('compose');
  const input = document.getElementById('chat-message-input');
  const status = document.getElementById('status');
  const maxBytes = Number(main.dataset.maxBytes) || 4096;
  let lastId = Number(main.dataset.lastId) || 0;
  // The lines shown, by message id, in id order (the server renders the first ones; see below).
  const lines = new Map();
  const initial = document.getElementById('history-data');
  if (initial) {
    for (const m of JSON.parse(initial.textContent)) lines.set(m.id, formatLine(m));
  }
  const unacked = new Map(); // client_id -> text, in the order typed
  let socket = null;
  let attempt = 0;

  let statusText = 'connecting…';

  function setStatus(state, text) {
    statusText = text;
    main.dataset.state = state;
    status.className = 'status ' + state;
    showStatus();
  }

  function showStatus() {
    const waiting = unacked.size ? ' · ' + unacked.size + ' unsent' : '';
    status.textContent = statusText + waiting;
  }

  // Errors that mean "this message will never be accepted": drop it instead of resending it forever.
  const PERMANENT = ['missing_message', 'empty_message', 'message_too_long', 'invalid_client_id',
    'room_locked'];

  function formatLine(m) {
    return m.user + (m.guest ? ' (guest)' : '') + ': ' + m.message;
  }

  function render() {
    const text = Array.from(lines.values()).join('\n');
    log.value = text ? text + '\n' : '';
    log.scrollTop = log.scrollHeight;
  }

  // Notices (errors) take their place among the lines, in the order they happened.
  let noticeCount = 0;
  function append(notice) {
    lines.set('notice-' + noticeCount++, notice);
    render();
  }

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2);
  }

  function socketUrl() {
    const scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    return scheme + window.location.host + '/ws/chat/' + encodeURIComponent(room) + '/?since=' + lastId;
  }

  // Ids only grow: anything at or below the last id seen was already handled.
  function fresh(id) {
    if (typeof id !== 'number') return true;
    if (id <= lastId) return false;
    lastId = id;
    return true;
  }

  function transmit(clientId, text) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ message: text, client_id: clientId }));
    }
  }

  function onFrame(data) {
    if (data.type === 'ack') {
      unacked.delete(data.client_id);
      showStatus();
    } else if (data.type === 'error') {
      append('[' + data.code + '] ' + data.detail);
      const clientId = data.client_id;
      if (clientId && unacked.has(clientId)) {
        if (PERMANENT.includes(data.code)) {
          unacked.delete(clientId);
          showStatus();
        } else {
          // Not stored this time (the store was unavailable): the same client_id goes again shortly,
          // and on every reconnect, until it is acknowledged. It is never stored twice.
          setTimeout(function () { if (unacked.has(clientId)) transmit(clientId, unacked.get(clientId)); }, 2000);
        }
      }
    } else if (data.type === 'delete') {
      if (!fresh(data.id)) return;
      lines.delete(data.target);
      render();
    } else if (data.type === 'clear') {
      if (!fresh(data.id)) return;
      for (const id of Array.from(lines.keys())) {
        if (typeof id === 'number' && id <= data.through) lines.delete(id);
      }
      render();
    } else if (typeof data.message === 'string') {
      if (!fresh(data.id)) return;
      if (data.deleted) return; // a tombstone: nothing to show
      lines.set(typeof data.id === 'number' ? data.id : 'local-' + lines.size, formatLine(data));
      render();
    }
  }

  function connect() {
    setStatus('connecting', attempt ? 'reconnecting…' : 'connecting…');
    const ws = new WebSocket(socketUrl(), ['chatweb.v2']);
    socket = ws;
    ws.onopen = function () {
      attempt = 0;
      setStatus('open', 'connected');
      for (const [clientId, text] of unacked) transmit(clientId, text);
    };
    ws.onmessage = function (event) {
      let data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      onFrame(data);
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      socket = null;
      // Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... up to 15 s, each scaled by 0.5 to 1.
      const delay = Math.min(15000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt += 1;
      setStatus('offline', 'offline, retrying in ' + Math.ceil(delay / 1000) + ' s');
      setTimeout(connect, delay);
    };
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (new TextEncoder().encode(text).length > maxBytes) {
      append('[message_too_long] messages are limited to ' + maxBytes + ' bytes');
      return;
    }
    const clientId = newClientId();
    unacked.set(clientId, text);
    transmit(clientId, text);
    input.value = '';
    input.focus();
    showStatus();
  });

  if (initial) render();
  log.scrollTop = log.scrollHeight;
  input.focus();
  connect();
})();
