/**
 * @file The room page's "Incoming webhooks" section, for the room's owners and staff: lists the room's
 * hooks (`GET /api/rooms/<room>/hooks/incoming`), makes one (`POST`, its URL shown once) and revokes one
 * (`DELETE /api/hooks/incoming/<id>`), each request with the `X-CSRFToken` header. Names go in by
 * `textContent` only. Its {@link call} also drives the outgoing section (static/room-outgoing-hooks.js).
 */

/** The `csrftoken` cookie (Django's name). */
function csrfToken() {
  const cookie = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith('csrftoken='));
  return cookie ? decodeURIComponent(cookie.slice('csrftoken='.length)) : '';
}

/**
 * Calls the hooks API; → the JSON answer, or throws an Error with its `detail`.
 * @param {string} method
 * @param {string} path
 * @param {object} [body]
 */
export async function call(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { 'X-CSRFToken': csrfToken() };
  if (body) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined, credentials: 'same-origin' });
  const answer = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error((answer && answer.detail) || `the server answered ${response.status}`);
  return answer;
}

/**
 * Drives the section when the page has one (owners and staff only).
 * @param {string} room
 */
export function mountHooks(room) {
  const section = document.getElementById('hooks-section');
  if (!section) return;
  const list = /** @type {HTMLUListElement} */ (document.getElementById('hook-list'));
  const form = /** @type {HTMLFormElement} */ (document.getElementById('hook-form'));
  const name = /** @type {HTMLInputElement} */ (document.getElementById('hook-name'));
  const created = /** @type {HTMLElement} */ (document.getElementById('hook-created'));
  const url = /** @type {HTMLInputElement} */ (document.getElementById('hook-url'));
  const error = /** @type {HTMLElement} */ (document.getElementById('hook-error'));
  const base = `/api/rooms/${encodeURIComponent(room)}/hooks/incoming`;
  /** @param {unknown} e */
  const fail = (e) => { error.textContent = e instanceof Error ? e.message : String(e); error.hidden = false; };

  const refresh = async () => {
    /** @type {{id: number, name: string}[]} */
    const hooks = await call('GET', base);
    list.replaceChildren(...hooks.map((hook) => {
      const li = document.createElement('li');
      const label = document.createElement('span');
      label.className = 'member-name';
      label.textContent = hook.name;
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.className = 'danger-button';
      revoke.textContent = 'Revoke';
      revoke.setAttribute('aria-label', `Revoke the webhook ${hook.name}`);
      revoke.addEventListener('click', () => {
        call('DELETE', `/api/hooks/incoming/${hook.id}`).then(refresh).catch(fail);
      });
      li.append(label, ' ', revoke);
      return li;
    }));
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.hidden = true;
    call('POST', base, { name: name.value })
      .then((hook) => {
        url.value = location.origin + hook.url;
        created.hidden = false;
        name.value = '';
        return refresh();
      })
      .catch(fail);
  });
  refresh().catch(fail);
}
