/**
 * @file The room page's message list: one `<li>` per message in id order, consecutive messages by one
 * author grouped, edits and deletions applied in place, join/leave and notices as quiet system lines,
 * sends still waiting for their ack at the bottom, the unread divider, and older pages prepended. Where
 * the list is scrolled is the {@link Viewport}'s business; how one message looks, room-message.js's.
 */

import { continues, element, pendingItem, renderFoot, renderMessage, timeElement } from '/static/room-message.js';

/** @typedef {import('/static/room-message.js').Message} Message */
/** @typedef {import('/static/room-message.js').Conversation} Conversation */
/** @typedef {import('/static/room-viewport.js').Viewport} Viewport */
/** @typedef {import('/static/chatweb-client.js').FileInfo} FileInfo */

export class MessageLog {
  /**
   * @param {object} options
   * @param {HTMLOListElement} options.list the list in the log
   * @param {Viewport} options.viewport where it is scrolled
   * @param {{name: string, signedIn: boolean, staff: boolean, mayPin?: boolean}} options.me who is looking
   * @param {(id: number, button: HTMLButtonElement) => void} options.onMenu a message's menu button
   * @param {Conversation} [options.conversation] replies, reactions and pins
   */
  constructor({ list, viewport, me, onMenu, conversation }) {
    this.list = list;
    this.viewport = viewport;
    this.me = me;
    this.onMenu = onMenu;
    this.conversation = conversation;
    /** @type {Map<number, {msg: Message, li: HTMLLIElement}>} */
    this.byId = new Map();
    /** @type {Map<string, {text: string, files: FileInfo[], li: HTMLLIElement}>} sends without an ack, oldest first */
    this.pending = new Map();
    /** @type {Map<number, Partial<Message>>} edits and deletions of messages not shown yet */
    this.amended = new Map();
    this.pendingSeq = 0;
    /** @type {HTMLElement | null} */
    this.divider = null;
    /** @type {number | null} your read mark when the page connected */
    this.readId = null;
  }

  /** Replaces everything shown with `messages` (oldest first), scrolled to the bottom. */
  reset(messages) {
    this.list.replaceChildren();
    this.byId.clear();
    this.divider = null;
    for (const msg of messages) this.add(msg, false);
    this.viewport.scrollToBottom();
  }

  /**
   * Shows a message (new, replayed, or the server's copy of one shown already).
   * @param {Message} msg
   * @param {boolean} live whether it was just said (counts towards "jump to newest")
   */
  add(msg, live) {
    const known = this.byId.get(msg.id);
    if (known) {
      Object.assign(known.msg, msg);
      this.rerender(known);
      return;
    }
    Object.assign(msg, this.amended.get(msg.id));
    const own = this.isOwn(msg);
    const li = (own && this.adoptPending(msg)) || /** @type {HTMLLIElement} */ (element('li'));
    li.className = 'msg';
    const entry = { msg, li };
    this.byId.set(msg.id, entry);
    this.render(entry);
    this.place(li, msg.id);
    this.viewport.observe(li);
    this.viewport.added(live && !own);
  }

  /**
   * Shows older messages (oldest first, all older than what is shown) above the rest, keeping the
   * text on screen where it is.
   * @param {Message[]} messages
   */
  prepend(messages) {
    this.viewport.keepView(() => {
      const oldFirst = this.list.firstElementChild;
      const fragment = document.createDocumentFragment();
      const added = [];
      for (const msg of messages) {
        if (this.byId.has(msg.id)) continue;
        Object.assign(msg, this.amended.get(msg.id));
        const entry = { msg, li: /** @type {HTMLLIElement} */ (element('li', 'msg')) };
        this.byId.set(msg.id, entry);
        this.render(entry);
        fragment.append(entry.li);
        added.push(entry.li);
      }
      this.list.insertBefore(fragment, oldFirst);
      for (const li of added) {
        this.regroup(li);
        this.viewport.observe(li);
      }
      this.regroup(oldFirst);
      this.placeDivider();
    });
  }

  /** Message `target` now reads `text`. */
  edit(target, text) {
    const entry = this.byId.get(target);
    if (!entry) {
      this.amended.set(target, { message: text, edited: true });
    } else if (!entry.msg.deleted) {
      Object.assign(entry.msg, { message: text, edited: true });
      this.rerender(entry);
    }
  }

  /** Message `target` was deleted. */
  remove(target) {
    const entry = this.byId.get(target);
    if (!entry) {
      this.amended.set(target, { message: '', deleted: true });
      return;
    }
    Object.assign(entry.msg, { message: '', deleted: true });
    this.rerender(entry);
  }

  /**
   * The API's copy of a message shown already: what the page's own copy lacked (`reply_to`, `mentions`,
   * `files`) is taken, and it is drawn again if that changed anything.
   * @param {Message} msg
   */
  amend(msg) {
    const entry = this.byId.get(msg.id);
    if (!entry) return;
    let changed = false;
    for (const key of /** @type {const} */ (['reply_to', 'mentions', 'files'])) {
      if (msg[key] !== undefined && JSON.stringify(entry.msg[key]) !== JSON.stringify(msg[key])) {
        entry.msg[key] = msg[key];
        changed = true;
      }
    }
    if (changed) this.rerender(entry);
  }

  /** Message `id`'s replies, reactions or pin changed: its foot is drawn again (the rest stays). */
  refreshFoot(id) {
    const entry = this.byId.get(id);
    if (entry && this.conversation) renderFoot(entry.li, entry.msg, this.conversation, 'log');
  }

  /** The replies shown in the thread of `root`, oldest first. */
  repliesTo(root) {
    const out = [];
    for (const { msg } of this.byId.values()) if (msg.reply_to === root) out.push(msg);
    return out.sort((a, b) => a.id - b.id);
  }

  /** The shown message item of `id`, or null. */
  item(id) {
    return this.byId.get(id)?.li ?? null;
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
    this.viewport.added(false);
  }

  /**
   * Shows a send that has no ack yet; returns its key for {@link confirm} or {@link fail}.
   * @param {string} text
   * @param {FileInfo[]} [files] the uploads it attaches
   */
  addPending(text, files = []) {
    const key = 'p' + this.pendingSeq++;
    const li = pendingItem(key, text, this.me, files);
    this.list.append(li);
    this.pending.set(key, { text, files, li });
    this.regroup(li);
    this.viewport.scrollToBottom();
    return key;
  }

  /** The send `key` is stored as message `id`. */
  confirm(key, id) {
    const pending = this.pending.get(key);
    if (!pending) return; // its message came first and took its place
    this.pending.delete(key);
    const { li } = pending;
    if (this.byId.has(id)) {
      const next = this.nextMessage(li);
      li.remove();
      this.regroup(next);
      return;
    }
    // The ack came before the message itself: show it as stored now; its frame fills in the rest.
    const msg = {
      id, ts: new Date().toISOString(), user: this.me.name, message: pending.text, guest: !this.me.signedIn,
    };
    if (pending.files.length) msg.files = pending.files;
    li.className = 'msg';
    delete li.dataset.pending;
    const entry = { msg, li };
    this.byId.set(id, entry);
    this.render(entry);
    this.place(li, id);
    this.viewport.observe(li);
  }

  /** The send `key` was refused for good: it stays, marked, with a way to dismiss it. */
  fail(key, reason) {
    const pending = this.pending.get(key);
    if (!pending) return;
    this.pending.delete(key);
    const { li } = pending;
    li.classList.replace('pending', 'failed');
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

  /**
   * Puts the unread divider before the first message after `readId` that is not your own (once: the
   * mark the page found when it connected).
   * @param {number} readId the last message you had read
   */
  markUnread(readId) {
    if (this.readId !== null) return;
    this.readId = readId;
    this.placeDivider();
    if (this.divider) this.viewport.reveal(this.divider);
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

  /** The oldest message id shown, or 0. */
  get oldestId() {
    const first = this.list.querySelector('li.msg[data-id]');
    return first ? Number(first.dataset.id) : 0;
  }

  /** Whether `msg` was said by the one looking (the account, or a guest of that name). */
  isOwn(msg) {
    return msg.user === this.me.name && !msg.guest === this.me.signedIn;
  }

  /** What `me` may do with `msg`: edit your own, delete your own or (staff) anyone's, pin (by role). */
  allowed(msg) {
    if (msg.deleted || !this.me.signedIn) return { edit: false, delete: false, pin: false };
    const own = this.isOwn(msg);
    return { edit: own, delete: own || this.me.staff, pin: Boolean(this.me.mayPin) };
  }

  // --- internals ---

  render({ msg, li }) {
    renderMessage(li, msg, {
      own: this.isOwn(msg),
      me: this.me.name,
      may: this.allowed(msg),
      onMenu: (button) => this.onMenu(msg.id, button),
      conversation: this.conversation,
    });
  }

  rerender(entry) {
    const hadFocus = entry.li.contains(document.activeElement);
    this.render(entry);
    this.regroup(entry.li);
    this.regroup(this.nextMessage(entry.li));
    if (hadFocus) this.viewport.scroller.focus();
  }

  /** Puts the divider before the first unread message shown (again after an older page came in). */
  placeDivider() {
    if (this.readId === null) return;
    const readId = this.readId;
    let first = null;
    for (const entry of this.byId.values()) {
      const { msg } = entry;
      if (msg.id > readId && !msg.deleted && !this.isOwn(msg) && (!first || msg.id < first.msg.id)) {
        first = entry;
      }
    }
    if (!first || first.li.previousElementSibling === this.divider) return;
    const next = this.divider ? this.nextMessage(this.divider) : null;
    if (!this.divider) {
      this.divider = element('li', 'unread-divider');
      this.divider.append(element('span', '', 'New messages'));
    }
    this.list.insertBefore(this.divider, first.li);
    this.regroup(first.li);
    this.regroup(next);
  }

  /** Puts `li` (message `id`) after the last shown message with a smaller id, before pending sends. */
  place(li, id) {
    let before = this.firstPending();
    let node = before ? before.previousElementSibling : this.list.lastElementChild;
    while (node) {
      if (node !== li && node.matches('li.msg[data-id]')) {
        if (Number(/** @type {HTMLElement} */ (node).dataset.id) < id) break;
        before = node;
      }
      node = node.previousElementSibling;
    }
    if (li.parentNode !== this.list || li.nextElementSibling !== before) {
      const oldNext = this.nextMessage(li);
      this.list.insertBefore(li, before);
      this.regroup(oldNext);
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
      if (a && b) cont = continues(a, b);
      else if (!b && prev.classList.contains('own')) cont = true; // a pending send after your own
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
}
