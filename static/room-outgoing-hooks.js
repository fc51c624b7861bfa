/**
 * @file The room page's "Outgoing webhooks" section, for the room's owners and staff: lists the room's
 * hooks (`GET /api/rooms/<room>/hooks/outgoing`) with each one's last delivery
 * (`GET /api/hooks/outgoing/<id>/deliveries`), registers one (`POST`, with the events ticked among those
 * the server rendered; the signing secret is shown once) and removes one after a confirmation
 * (`DELETE /api/hooks/outgoing/<id>`). Requests go through room-hooks.js's `call` (session cookie and
 * `X-CSRFToken`). URLs, events and errors go in by `textContent` only.
 */

import { call } from '/static/room-hooks.js';

/**
 * @typedef {{id: number, url: string, events: string[]}} Hook
 * @typedef {{at: string, result: string, status: number, detail: string, attempt: number}} Delivery
 */

/**
 * A sentence on a hook's recent deliveries (newest first): the last success, or the failures since.
 * @param {Delivery[]} deliveries
 * @returns {{text: string, failing: boolean}}
 */
export function deliveryState(deliveries) {
  const last = deliveries[0];
  if (!last) return { text: 'No delivery yet.', failing: false };
  const when = new Date(last.at).toLocaleString();
  if (last.result === 'delivered') {
    return { text: `Last delivery: delivered (HTTP ${last.status}), ${when}.`, failing: false };
  }
  const failures = deliveries.findIndex((d) => d.result === 'delivered');
  const count = failures === -1 ? deliveries.length : failures;
  const status = last.status ? `HTTP ${last.status}` : 'no answer';
  const what = last.result === 'gave_up' ? 'gave up on a batch' : `${count} failed attempt${count === 1 ? '' : 's'}`;
  return { text: `Failing: ${what}; last ${when} (${status}${last.detail ? `: ${last.detail}` : ''}).`, failing: true };
}

/**
 * Drives the section when the page has one (owners and staff only).
 * @param {string} room
 */
export function mountOutgoingHooks(room) {
  const section = document.getElementById('outgoing-hooks-section');
  if (!section) return;
  const list = /** @type {HTMLUListElement} */ (document.getElementById('outgoing-hook-list'));
  const form = /** @type {HTMLFormElement} */ (document.getElementById('outgoing-hook-form'));
  const url = /** @type {HTMLInputElement} */ (document.getElementById('outgoing-hook-url'));
  const created = /** @type {HTMLElement} */ (document.getElementById('outgoing-hook-created'));
  const secret = /** @type {HTMLInputElement} */ (document.getElementById('outgoing-hook-secret'));
  const error = /** @type {HTMLElement} */ (document.getElementById('outgoing-hook-error'));
  const base = `/api/rooms/${encodeURIComponent(room)}/hooks/outgoing`;
  /** @param {unknown} e */
  const fail = (e) => { error.textContent = e instanceof Error ? e.message : String(e); error.hidden = false; };

  /**
   * A button.
   * @param {string} text
   * @param {string} label its accessible name
   * @param {string} className
   * @param {() => void} onClick
   */
  const button = (text, label, className, onClick) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = className;
    b.textContent = text;
    b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
  };

  /**
   * The hook's "Remove" button, which asks first: "Remove" then "Yes, remove" or "Cancel".
   * @param {Hook} hook
   */
  const removal = (hook) => {
    const span = document.createElement('span');
    span.className = 'hook-actions';
    const ask = () => {
      const question = document.createElement('span');
      question.textContent = 'Remove it?';
      const yes = button('Yes, remove', `Yes, remove the webhook to ${hook.url}`, 'danger-button hook-confirm', () => {
        error.hidden = true;
        call('DELETE', `/api/hooks/outgoing/${hook.id}`).then(refresh).catch(fail);
      });
      const no = button('Cancel', `Keep the webhook to ${hook.url}`, 'quiet', () => {
        span.replaceChildren(first());
        span.querySelector('button')?.focus();
      });
      span.replaceChildren(question, ' ', yes, ' ', no);
      yes.focus();
    };
    const first = () => button('Remove', `Remove the webhook to ${hook.url}`, 'danger-button hook-remove', ask);
    span.append(first());
    return span;
  };

  /** @param {Hook} hook */
  const item = async (hook) => {
    const li = document.createElement('li');
    li.dataset.id = String(hook.id);
    const target = document.createElement('span');
    target.className = 'member-name hook-url';
    target.textContent = hook.url;
    const events = document.createElement('span');
    events.className = 'tag hook-events';
    events.textContent = hook.events.join(', ');
    const state = document.createElement('span');
    state.className = 'help hook-state';
    /** @type {Delivery[]} */
    const deliveries = await call('GET', `/api/hooks/outgoing/${hook.id}/deliveries`).catch(() => null);
    const { text, failing } = deliveries ? deliveryState(deliveries) : { text: 'Deliveries unknown.', failing: false };
    state.textContent = text;
    state.classList.toggle('failing', failing);
    li.append(target, ' ', events, ' ', removal(hook), state);
    return li;
  };

  const refresh = async () => {
    /** @type {Hook[]} */
    const hooks = await call('GET', base);
    list.replaceChildren(...(await Promise.all(hooks.map(item))));
    section.dataset.loaded = 'true';
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.hidden = true;
    const events = Array.from(form.querySelectorAll('input[name="events"]:checked'), (box) => /** @type {HTMLInputElement} */ (box).value);
    if (events.length === 0) {
      fail(new Error('Tick at least one event.'));
      return;
    }
    call('POST', base, { url: url.value, events })
      .then((hook) => {
        secret.value = hook.secret;
        created.hidden = false;
        url.value = '';
        return refresh();
      })
      .catch(fail);
  });
  refresh().catch(fail);
}
