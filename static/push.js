/**
 * @file The bell on the room page: Web Push for this browser. A click (never the page load) asks for
 * permission, registers /sw.js, subscribes with the server's VAPID key (GET /api/push/key) and stores the
 * subscription (POST /api/push/subscriptions); a second click removes it. The state next to it says what
 * holds now. On iOS, Web Push works only once the page is added to the home screen.
 */

const button = /** @type {HTMLButtonElement | null} */ (document.getElementById('push-button'));
const state = document.getElementById('push-state');
const supported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

/** The CSRF cookie's value, for the API's X-CSRFToken header. */
function csrf() {
  const found = document.cookie.split('; ').find((c) => c.startsWith('csrftoken='));
  return found ? decodeURIComponent(found.slice('csrftoken='.length)) : '';
}

/** base64url to bytes. */
function bytes(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function api(method, body) {
  return fetch('/api/push/subscriptions', {
    method,
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-csrftoken': csrf() },
    body: JSON.stringify(body),
  });
}

async function subscription() {
  const registration = await navigator.serviceWorker.getRegistration('/');
  return registration ? registration.pushManager.getSubscription() : null;
}

function show(text, on) {
  if (!button || !state) return;
  state.hidden = !text;
  state.textContent = text;
  button.setAttribute('aria-pressed', on ? 'true' : 'false');
  button.textContent = on ? '🔔 Push on' : '🔕 Push off';
  button.dataset.state = on ? 'on' : 'off';
}

async function refresh() {
  if (!supported) {
    show('Push notifications are not supported here (on iOS: add the page to the home screen)', false);
    if (button) button.disabled = true;
    return;
  }
  if (Notification.permission === 'denied') {
    show('Notifications are blocked in this browser', false);
    return;
  }
  const current = await subscription();
  show(current ? 'This browser gets pushes for mentions and direct messages' : '', Boolean(current));
}

async function subscribe() {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return;
  const { key } = await (await fetch('/api/push/key')).json();
  const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  await navigator.serviceWorker.ready;
  const pushed = await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: bytes(key),
  });
  const answer = await api('POST', pushed.toJSON());
  if (!answer.ok) {
    const error = await answer.json().catch(() => ({ detail: answer.statusText }));
    await pushed.unsubscribe();
    throw new Error(error.detail || 'refused');
  }
}

async function unsubscribe(current) {
  await api('DELETE', { endpoint: current.endpoint });
  await current.unsubscribe();
}

async function toggle() {
  if (!button) return;
  button.disabled = true;
  try {
    const current = await subscription();
    if (current) await unsubscribe(current);
    else await subscribe();
    await refresh();
  } catch (e) {
    show('Could not turn push on: ' + (e instanceof Error ? e.message : String(e)), false);
  } finally {
    button.disabled = false;
  }
}

if (button) {
  button.hidden = false;
  button.addEventListener('click', () => { toggle(); });
  refresh();
}
