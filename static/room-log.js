/**
 * @file The room page's message list: one `<li>` per message in id order, consecutive messages by one
 * author grouped, your own and guests' marked, edits and deletions shown as such, join/leave as quiet
 * system lines, sends still waiting for their ack at the bottom, an unread divider, a "jump to newest"
 * button when scrolled up, and older pages prepended without moving what you are looking at. User text
 * only ever reaches the page through `textContent`.
 */

/**
 * A message as the socket and the history API carry it.
 * @typedef {{id: number, ts: string, user: string, message: string, guest?: boolean,
 *   deleted?: boolean, edited?: boolean}} Message
 */

/** Messages by one author closer together than this share one header. */
const GROUP_GAP_MS = 5 * 60 * 1000;
/** Closer to the bottom than this (px) counts as "at the bottom": new messages keep it there. */
const BOTTOM_SLACK = 48;
/** Closer to the top than this (px) loads the next older page. */
const TOP_SLACK = 300;

const TIME = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const DAY_TIME = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit',
});
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

/**
 * A new element with a class and text (as text, never as HTML).
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A `<time>` showing `ts` in local time (with the date when it is not today), the full date as tooltip.
 * @param {string} ts RFC 3339
 */
export function timeElement(ts) {
  const date = new Date(ts);
  const node = element('time');
  if (Number.isNaN(date.getTime())) return node;
  node.dateTime = ts;
  const today = new Date().toDateString() === date.toDateString();
  node.textContent = (today ? TIME : DAY_TIME).format(date);
  node.title = FULL.format(date);
  return node;
}

export class MessageLog {
  /**
   * @param {object} options
   * @param {HTMLElement} options.scroller the scrolling log (`#chat-log`)
   * @param {HTMLOListElement} options.list the list inside it
   * @param {HTMLButtonElement} options.jump the "jump to newest" button
   * @param {HTMLElement} options.jumpCount its counter
   * @param {{name: string, signedIn: boolean, staff: boolean}} options.me who is looking
   * @param {(id: number, button: HTMLButtonElement) => void} options.onMenu a message's menu button
   * @param {() => void} options.onNearTop scrolled close to the oldest message shown
   * @param {(id: number) => void} options.onSeen the newest message id visible while the page is
   */
  constructor({ scroller, list, jump, jumpCount, me, onMenu, onNearTop, onSeen }) {
    this.scroller = scroller;
    this.list = list;
    this.jump = jump;
    this.jumpCount = jumpCount;
    this.me = me;
    this.onMenu = onMenu;
    this.onNearTop = onNearTop;
    this.onSeen = onSeen;
    /** @type {Map<number, {msg: Message, li: HTMLLIElement}>} */
    this.byId = new Map();
    /** @type {Map<string, {text: string, li: HTMLLIElement}>} sends without an ack, oldest first */
    this.pending = new Map();
    /** Edits and deletions of messages not shown yet (an older page may arrive after them). */
    this.amended = new Map();
    this.pendingSeq = 0;
    this.stuck = true;
    this.userScrolled = false;
    this.unseen = 0;
    this.divider = null;
    /** @type {Set<number>} ids of the messages on screen */
    this.visible = new Set();
    this.observer = new IntersectionObserver((entries) => this.intersected(entries),
      { root: scroller, threshold: 0 });
    scroller.addEventListener('scroll', () => this.scrolled(), { passive: true });
    jump.addEventListener('click', () => { this.scrollToBottom(); this.scroller.focus(); });
    document.addEventListener('visibilitychange', () => this.reportSeen());
    window.addEventListener('focus', () => this.reportSeen());
  }

  /** The oldest message id shown, or 0. */
  get oldestId() {
    const first = this.list.querySelector('li.msg[data-id]');
    return first ? Number(first.dataset.id) : 0;
  }

  /** Replaces everything shown with `messages` (oldest first), scrolled to the bottom. */
  reset(messages) {
    this.list.replaceChildren();
    this.byId.clear();
    for (const msg of messages) this.add(msg, false);
    this.scrollToBottom();
  }

  /**
   * Shows a message (new, replayed, or the server's copy of one shown already).
   * @param {Message} msg
   * @param {boolean} live whether it was just said (counts towards "jump to newest")
   */
  add(msg, live) {
    const known = this.byId.get(msg.id);
    if (known) {
      this.update(known, msg);
      return;
    }
    const amended = this.amended.get(msg.id);
    if (amended) Object.assign(msg, amended);
    const own = this.isOwn(msg);
    let li = own ? this.adoptPending(msg) : null;
    if (li) {
      li.replaceChildren();
      li.className = 'msg';
    } else {
      li = /** @type {HTMLLIElement} */ (element('li', 'msg'));
    }
    const entry = { msg, li };
    this.byId.set(msg.id, entry);
    this.render(entry);
    this.place(li, msg.id);
    this.observer.observe(li);
    this.afterInsert(live && !own);
  }

  /**
   * Shows older messages (oldest first, all older than what is shown) above the rest, keeping the
   * messages on screen where they are.
   * @param {Message[]} messages
   */
  prepend(messages) {
    const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
    const oldFirst = this.list.firstElementChild;
    const fragment = document.createDocumentFragment();
    const added = [];
    for (const msg of messages) {
      if (this.byId.has(msg.id)) continue;
      const amended = this.amended.get(msg.id);
      if (amended) Object.assign(msg, amended);
      const entry = { msg, li: /** @type {HTMLLIElement} */ (element('li', 'msg')) };
      this.byId.set(msg.id, entry);
      this.render(entry);
      fragment.append(entry.li);
      added.push(entry.li);
    }
    this.scroller.setAttribute('aria-busy', 'true');
    this.list.insertBefore(fragment, oldFirst);
    for (const li of added) {
      this.regroup(li);
      this.observer.observe(li);
    }
    if (oldFirst) this.regroup(oldFirst);
    this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
    this.scroller.setAttribute('aria-busy', 'false');
  }

  /** Message `target` now reads `text`. */
  edit(target, text) {
    const entry = this.byId.get(target);
    if (!entry) {
      this.amended.set(target, { message: text, edited: true });
      return;
    }
    if (entry.msg.deleted) return;
    entry.msg.message = text;
    entry.msg.edited = true;
    this.rerender(entry);
  }

  /** Message `target` was deleted. */
  remove(target) {
    const entry = this.byId.get(target);
    if (!entry) {
      this.amended.set(target, { message: '', deleted: true });
      return;
    }
    entry.msg.message = '';
    entry.msg.deleted = true;
    this.rerender(entry);
  }

  /** Every message up to `through` was deleted. */
  clear(through) {
    for (const [id] of this.byId) if (id <= through) this.remove(id);
  }

  /**
   * A quiet line between the messages (someone came or went, or a notice).
   * @param {string} text
   * @param {string} [kind] an extra class: 'notice' for errors
   */
  system(text, kind) {
    const li = element('li', 'system' + (kind ? ' ' + kind : ''));
    li.append(element('span', 'system-text', text), ' ', timeElement(new Date().toISOString()));
    this.list.insertBefore(li, this.firstPending());
    this.regroup(this.nextMessage(li));
    this.afterInsert(false);
  }

  /**
   * Shows a send that has no ack yet; returns its key for {@link confirm} or {@link fail}.
   * @param {string} text
   */
  addPending(text) {
    const key = 'p' + this.pendingSeq++;
    const li = /** @type {HTMLLIElement} */ (element('li', 'msg own pending'));
    li.dataset.pending = key;
    const meta = element('div', 'meta');
    meta.append(element('span', 'author', this.me.name), ' ', element('span', 'state', 'sending…'));
    const body = element('div', 'body');
    body.append(element('span', 'text', text));
    li.append(meta, body);
    this.list.append(li);
    this.pending.set(key, { text, li });
    this.regroup(li);
    this.scrollToBottom();
    return key;
  }

  /** The send `key` is stored as message `id`. */
  confirm(key, id) {
    const pending = this.pending.get(key);
    if (!pending) return;
    this.pending.delete(key);
    if (this.byId.has(id)) {
      const next = this.nextMessage(pending.li);
      pending.li.remove();
      this.regroup(next);
      return;
    }
    // The ack came before the message itself: show it as stored now; its frame fills in the rest.
    const msg = { id, ts: new Date().toISOString(), user: this.me.name, message: pending.text };
    pending.li.className = 'msg';
    pending.li.replaceChildren();
    delete pending.li.dataset.pending;
    const entry = { msg, li: pending.li };
    this.byId.set(id, entry);
    this.render(entry);
    this.place(pending.li, id);
    this.observer.observe(pending.li);
  }

  /** The send `key` was refused for good: it stays, marked, with a way to dismiss it. */
  fail(key, reason) {
    const pending = this.pending.get(key);
    if (!pending) return;
    this.pending.delete(key);
    const { li } = pending;
    li.classList.remove('pending');
    li.classList.add('failed');
    delete li.dataset.pending;
    const state = li.querySelector('.state');
    if (state) state.textContent = 'not sent: ' + reason;
    const dismiss = element('button', 'link-button', 'Dismiss');
    dismiss.type = 'button';
    dismiss.addEventListener('click', () => {
      const next = this.nextMessage(li);
      li.remove();
      this.regroup(next);
    });
    li.querySelector('.meta')?.append(' ', dismiss);
  }

  /** How many sends wait for an ack. */
  get pendingCount() {
    return this.pending.size;
  }

  /**
   * Puts the unread divider before the first message after `readId` that is not your own (once).
   * @param {number} readId the last message you had read
   */
  markUnread(readId) {
    if (this.divider) return;
    const first = Array.from(this.byId.values())
      .filter(({ msg }) => msg.id > readId && !msg.deleted && !this.isOwn(msg))
      .sort((a, b) => a.msg.id - b.msg.id)[0];
    if (!first) return;
    const li = element('li', 'unread-divider');
    li.append(element('span', '', 'New messages'));
    this.list.insertBefore(li, first.li);
    this.regroup(first.li);
    this.divider = li;
    if (!this.userScrolled && li.offsetTop < this.scroller.scrollTop) {
      this.scroller.scrollTop = Math.max(0, li.offsetTop - 8);
    }
  }

  /** Your newest message that you may still edit, or null. */
  lastOwn() {
    const items = this.list.querySelectorAll('li.msg.own[data-id]:not(.deleted)');
    const last = items[items.length - 1];
    const entry = last && this.byId.get(Number(last.dataset.id));
    return entry ? { id: entry.msg.id, text: entry.msg.message } : null;
  }

  /** The message `id`, when shown. */
  get(id) {
    return this.byId.get(id)?.msg ?? null;
  }

  /** Whether `msg` was said by the account looking at it. */
  isOwn(msg) {
    return msg.user === this.me.name && !msg.guest === this.me.signedIn;
  }

  /** What `me` may do with `msg`: edit your own, delete your own or (staff) anyone's. */
  allowed(msg) {
    if (msg.deleted || !this.me.signedIn) return { edit: false, delete: false };
    const own = this.isOwn(msg);
    return { edit: own, delete: own || this.me.staff };
  }

  /** Scrolls to the newest message. */
  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.stuck = true;
    this.unseen = 0;
    this.jump.hidden = true;
  }

  // --- internals ---

  /** Fills `entry.li` from `entry.msg`. */
  render({ msg, li }) {
    li.dataset.id = String(msg.id);
    li.classList.toggle('own', this.isOwn(msg));
    li.classList.toggle('guest', Boolean(msg.guest));
    li.classList.toggle('deleted', Boolean(msg.deleted));
    li.classList.toggle('edited', Boolean(msg.edited) && !msg.deleted);
    const meta = element('div', 'meta');
    meta.append(element('span', 'author', msg.user));
    if (msg.guest) meta.append(' ', element('span', 'tag guest-tag', 'guest'));
    const time = timeElement(msg.ts);
    meta.append(' ', time);
    const body = element('div', 'body');
    body.title = time.title;
    body.append(element('span', 'text', msg.deleted ? 'message deleted' : msg.message));
    if (msg.edited && !msg.deleted) body.append(' ', element('span', 'edited-mark', '(edited)'));
    li.append(meta, body);
    const may = this.allowed(msg);
    if (may.edit || may.delete) {
      const button = /** @type {HTMLButtonElement} */ (element('button', 'msg-menu-button'));
      button.type = 'button';
      button.setAttribute('aria-haspopup', 'menu');
      button.setAttribute('aria-expanded', 'false');
      button.setAttribute('aria-label', 'Actions for the message by ' + msg.user);
      button.append(element('span', '', '⋯'));
      button.firstElementChild?.setAttribute('aria-hidden', 'true');
      button.addEventListener('click', () => this.onMenu(msg.id, button));
      li.append(button);
    }
  }

  /** The server's copy of a message shown already (a replay, or the frame after its ack). */
  update(entry, msg) {
    entry.msg = Object.assign(entry.msg, msg);
    this.rerender(entry);
  }

  rerender(entry) {
    const keepFocus = entry.li.contains(document.activeElement);
    const cont = entry.li.classList.contains('cont');
    entry.li.replaceChildren();
    this.render(entry);
    entry.li.classList.toggle('cont', cont);
    this.regroup(entry.li);
    this.regroup(this.nextMessage(entry.li));
    if (keepFocus) this.scroller.focus();
  }

  /** Puts `li` (message `id`) after the last shown message with a smaller id, before pending sends. */
  place(li, id) {
    let before = this.firstPending();
    let node = before ? before.previousElementSibling : this.list.lastElementChild;
    while (node) {
      if (node !== li && node.matches('li.msg[data-id]') && Number(node.dataset.id) < id) break;
      if (node !== li && node.matches('li.msg[data-id]')) before = node;
      node = node.previousElementSibling;
    }
    if (li.nextElementSibling !== before || li.parentNode !== this.list) {
      const oldNext = this.nextMessage(li);
      this.list.insertBefore(li, before);
      if (oldNext) this.regroup(oldNext);
    }
    this.regroup(li);
    this.regroup(this.nextMessage(li));
  }

  firstPending() {
    return this.list.querySelector('li[data-pending]');
  }

  /** The next sibling of `node` when it is a message, else null. */
  nextMessage(node) {
    const next = node?.nextElementSibling;
    return next && next.classList.contains('msg') ? next : null;
  }

  /** Marks `li` as continuing the group above it (same author, close in time). */
  regroup(li) {
    if (!li || !li.classList.contains('msg')) return;
    const prev = li.previousElementSibling;
    let cont = false;
    if (prev && prev.classList.contains('msg') && !prev.classList.contains('failed')) {
      const a = this.entryOf(prev);
      const b = this.entryOf(li);
      if (a && b) {
        cont = a.user === b.user && Boolean(a.guest) === Boolean(b.guest) &&
          Math.abs(Date.parse(b.ts) - Date.parse(a.ts)) < GROUP_GAP_MS;
      } else if (!b && prev.classList.contains('own')) {
        cont = true; // a pending send after your own message
      }
    }
    li.classList.toggle('cont', cont);
  }

  entryOf(li) {
    return li.dataset.id ? this.byId.get(Number(li.dataset.id))?.msg : undefined;
  }

  /** The pending send that `msg` (your own, just stored) is the copy of: oldest with the same text. */
  adoptPending(msg) {
    for (const [key, pending] of this.pending) {
      if (pending.text === msg.message) {
        this.pending.delete(key);
        delete pending.li.dataset.pending;
        return pending.li;
      }
    }
    return null;
  }

  afterInsert(countsAsNew) {
    if (this.stuck) {
      this.scroller.scrollTop = this.scroller.scrollHeight;
    } else if (countsAsNew) {
      this.unseen += 1;
      this.jumpCount.textContent = ' (' + this.unseen + ' new)';
      this.jump.hidden = false;
    }
  }

  scrolled() {
    const s = this.scroller;
    const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < BOTTOM_SLACK;
    if (!atBottom) this.userScrolled = true;
    this.stuck = atBottom;
    if (atBottom) {
      this.unseen = 0;
      this.jump.hidden = true;
    } else if (s.scrollHeight - s.scrollTop - s.clientHeight > s.clientHeight) {
      if (this.jump.hidden) this.jumpCount.textContent = '';
      this.jump.hidden = false;
    }
    if (s.scrollTop < TOP_SLACK) this.onNearTop();
  }

  intersected(entries) {
    for (const entry of entries) {
      const id = Number(/** @type {HTMLElement} */ (entry.target).dataset.id);
      if (!id) continue;
      if (entry.isIntersecting) this.visible.add(id);
      else this.visible.delete(id);
    }
    this.reportSeen();
  }

  reportSeen() {
    if (document.visibilityState !== 'visible' || !this.visible.size) return;
    let newest = 0;
    for (const id of this.visible) if (id > newest && this.byId.has(id)) newest = id;
    if (newest) this.onSeen(newest);
  }
}
