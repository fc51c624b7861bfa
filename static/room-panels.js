/**
 * @file The room page's side panels (a bottom sheet on a phone): a thread (its root, its replies from the
 * thread API then live, and a composer of its own) and the room's pinned messages (from the pins API,
 * again on every pin event). One is open at a time; Escape or Close shuts it and returns focus to what
 * opened it. Messages are drawn by room-message.js, so user text reaches the page as text only.
 */

import { element, renderFoot, renderMessage, summary, messageText, timeElement } from '/static/room-message.js';
import { fileList } from '/static/message-files.js';

/** @typedef {import('/static/room-message.js').Message} Message */
/** @typedef {import('/static/room-message.js').Conversation} Conversation */
/** @typedef {import('/static/chatweb-client.js').ChatClient} ChatClient */

/** Replies per page of the thread API. */
const THREAD_PAGE = 100;

/** What both panels share: showing, hiding, Escape, the opener's focus, one open at a time. */
class Panel {
  /** @type {Panel | null} */
  static current = null;

  /**
   * @param {HTMLElement} panel
   * @param {HTMLButtonElement} closeButton
   */
  constructor(panel, closeButton) {
    this.panel = panel;
    /** @type {HTMLElement | null} */
    this.opener = null;
    closeButton.addEventListener('click', () => this.close(true));
    panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !e.defaultPrevented) {
        e.preventDefault();
        this.close(true);
      }
    });
  }

  get open() {
    return !this.panel.hidden;
  }

  /** Shows the panel (closing the other one). */
  show(opener) {
    if (Panel.current && Panel.current !== this) Panel.current.close(false);
    Panel.current = this;
    this.opener = opener;
    this.panel.hidden = false;
    document.body.classList.add('panel-open');
  }

  /** Hides it; `refocus` returns focus to what opened it. */
  close(refocus) {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    if (Panel.current === this) Panel.current = null;
    document.body.classList.remove('panel-open');
    this.closed();
    const opener = this.opener;
    this.opener = null;
    if (refocus && opener && opener.isConnected) opener.focus();
  }

  /** For subclasses: the panel was closed. */
  closed() {}
}

export class ThreadPanel extends Panel {
  /**
   * @param {object} options
   * @param {HTMLElement} options.panel `#thread-panel`
   * @param {ChatClient} options.chat
   * @param {{name: string, signedIn: boolean, staff: boolean}} options.me
   * @param {Conversation} options.conversation
   * @param {(msg: Message) => {edit: boolean, delete: boolean, pin: boolean}} options.allowed
   * @param {(msg: Message) => boolean} options.isOwn
   * @param {(id: number, button: HTMLButtonElement) => void} options.onMenu
   * @param {(error: unknown) => string} options.describe a refusal in words
   */
  constructor({ panel, chat, me, conversation, allowed, isOwn, onMenu, describe }) {
    const q = (sel) => /** @type {HTMLElement} */ (panel.querySelector(sel));
    super(panel, /** @type {HTMLButtonElement} */ (q('.panel-close')));
    this.chat = chat;
    this.me = me;
    this.conversation = conversation;
    this.allowed = allowed;
    this.isOwn = isOwn;
    this.onMenu = onMenu;
    this.describe = describe;
    this.rootBox = /** @type {HTMLOListElement} */ (q('.thread-root'));
    this.list = /** @type {HTMLOListElement} */ (q('.thread-replies'));
    this.more = /** @type {HTMLButtonElement} */ (q('.thread-more'));
    this.status = q('.thread-status');
    this.form = /** @type {HTMLFormElement} */ (q('form'));
    this.input = /** @type {HTMLTextAreaElement} */ (q('textarea'));
    /** @type {number | null} the thread's root */
    this.root = null;
    /** @type {Map<number, {msg: Message, li: HTMLLIElement}>} */
    this.byId = new Map();
    /** @type {number | null} pass as `after` for the next page */
    this.after = null;
    this.loading = 0;
    this.more.addEventListener('click', () => this.loadMore());
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing &&
        !e.defaultPrevented) {
        e.preventDefault();
        this.send();
      }
    });
  }

  /**
   * Opens the thread of message `id` (a reply's id opens its root's) and loads it.
   * @param {number} id
   * @param {HTMLElement} opener
   */
  async openThread(id, opener) {
    const known = this.conversation.message(id);
    const root = known && typeof known.reply_to === 'number' ? known.reply_to : id;
    this.show(opener);
    this.input.focus();
    if (this.root === root && this.byId.size) return;
    this.root = root;
    this.byId.clear();
    this.rootBox.replaceChildren();
    this.list.replaceChildren();
    this.after = null;
    this.more.hidden = true;
    // What the log holds is shown at once; the API's answer completes it.
    const rootMsg = known && known.id === root ? known : this.conversation.message(root);
    if (rootMsg) this.place(rootMsg);
    for (const msg of this.conversation.repliesTo(root)) this.place(msg);
    this.panel.dataset.root = String(root);
    await this.load(root, undefined);
  }

  /** Loads one page of the thread after `after`. */
  async load(root, after) {
    const ticket = ++this.loading;
    this.panel.setAttribute('aria-busy', 'true');
    this.status.textContent = 'Loading the thread…';
    try {
      const page = await this.chat.thread(root, { after, limit: THREAD_PAGE });
      if (ticket !== this.loading || this.root !== root) return;
      if (page.root && page.root.id !== root) { // asked with a reply's id: this is its root's thread
        this.root = page.root.id;
        this.panel.dataset.root = String(this.root);
      }
      this.place(page.root);
      for (const msg of page.replies) this.place(msg);
      this.after = typeof page.after === 'number' ? page.after : null;
      this.more.hidden = this.after === null;
      this.status.textContent = '';
      this.panel.dataset.loaded = 'true';
    } catch (error) {
      if (ticket === this.loading) this.status.textContent = 'Could not load the thread: ' + this.describe(error);
    } finally {
      if (ticket === this.loading) this.panel.setAttribute('aria-busy', 'false');
    }
  }

  loadMore() {
    if (this.root !== null && this.after !== null) this.load(this.root, this.after);
  }

  /** A message from the socket: a reply of the open thread joins it. */
  message(msg) {
    if (!this.open || this.root === null) return;
    if (msg.reply_to === this.root || msg.id === this.root) this.place(msg);
  }

  /** A message shown here changed (an edit, a deletion). */
  changed(msg) {
    const entry = this.byId.get(msg.id);
    if (!entry || (entry.msg.deleted && !msg.deleted)) return;
    Object.assign(entry.msg, msg);
    this.draw(entry);
  }

  /** Message `id`'s aggregates changed. */
  refreshFoot(id) {
    const entry = this.byId.get(id);
    if (entry) renderFoot(entry.li, entry.msg, this.conversation, 'thread');
  }

  /** Shows `msg` (the root, or a reply in id order), or redraws it when shown already. */
  place(msg) {
    const known = this.byId.get(msg.id);
    if (known) {
      Object.assign(known.msg, msg);
      this.draw(known);
      return;
    }
    const entry = { msg: Object.assign({}, msg), li: /** @type {HTMLLIElement} */ (element('li', 'msg')) };
    this.byId.set(msg.id, entry);
    this.draw(entry);
    if (msg.id === this.root) {
      this.rootBox.replaceChildren(entry.li);
      return;
    }
    let before = null;
    for (const li of this.list.children) {
      if (Number(/** @type {HTMLElement} */ (li).dataset.id) > msg.id) {
        before = li;
        break;
      }
    }
    this.list.insertBefore(entry.li, before);
    if (!before) entry.li.scrollIntoView({ block: 'nearest' });
  }

  draw(entry) {
    renderMessage(entry.li, entry.msg, {
      own: this.isOwn(entry.msg),
      me: this.me.name,
      may: this.allowed(entry.msg),
      onMenu: (button) => this.onMenu(entry.msg.id, button),
      conversation: this.conversation,
      place: 'thread',
    });
  }

  /** Sends the composer's text as a reply in the thread. */
  send() {
    const text = this.input.value;
    if (!text.trim() || this.root === null) return;
    this.input.value = '';
    this.status.textContent = '';
    this.chat.reply(text, this.root).catch((error) => {
      this.status.textContent = 'Your reply was not sent: ' + this.describe(error);
      if (!this.input.value) this.input.value = text;
    });
    this.input.focus();
  }

  closed() {
    this.status.textContent = '';
  }
}

export class PinsPanel extends Panel {
  /**
   * @param {object} options
   * @param {HTMLElement} options.panel `#pins-panel`
   * @param {HTMLButtonElement} options.toggle the header's "Pinned" button
   * @param {ChatClient} options.chat
   * @param {{name: string, mayPin?: boolean}} options.me
   * @param {(id: number, opener: HTMLElement) => void} options.show scroll the log to message `id` (false: not loaded)
   * @param {(id: number) => void} options.unpin
   * @param {(error: unknown) => string} options.describe
   */
  constructor({ panel, toggle, chat, me, show, unpin, describe }) {
    const q = (sel) => /** @type {HTMLElement} */ (panel.querySelector(sel));
    super(panel, /** @type {HTMLButtonElement} */ (q('.panel-close')));
    this.toggle = toggle;
    this.chat = chat;
    this.me = me;
    this.showMessage = show;
    this.unpin = unpin;
    this.describe = describe;
    this.list = /** @type {HTMLOListElement} */ (q('.pins-list'));
    this.status = q('.pins-status');
    this.count = /** @type {HTMLElement} */ (toggle.querySelector('.pins-count'));
    this.loading = 0;
    toggle.addEventListener('click', () => {
      if (this.open) this.close(true);
      else this.openPins(toggle);
    });
  }

  show(opener) {
    super.show(opener);
    this.toggle.setAttribute('aria-expanded', 'true');
  }

  closed() {
    this.toggle.setAttribute('aria-expanded', 'false');
  }

  /** Opens the panel and loads the pins. */
  async openPins(opener) {
    this.show(opener);
    /** @type {HTMLElement} */ (this.panel.querySelector('h2')).focus();
    await this.reload();
  }

  /** Loads the pins again (on open, and on every pin event); updates the count on the button. */
  async reload() {
    const ticket = ++this.loading;
    this.panel.setAttribute('aria-busy', 'true');
    try {
      const answer = await this.chat.pins();
      if (ticket !== this.loading) return;
      this.render(answer.pins);
      this.status.textContent = answer.pins.length ? '' : 'Nothing is pinned here yet.';
    } catch (error) {
      if (ticket === this.loading && this.open) this.status.textContent = 'Could not load the pins: ' + this.describe(error);
    } finally {
      if (ticket === this.loading) this.panel.setAttribute('aria-busy', 'false');
    }
  }

  /** @param {{message: Message, pinned_by: string, pinned_at: string}[]} pins */
  render(pins) {
    this.count.textContent = pins.length ? ' (' + pins.length + ')' : '';
    this.list.replaceChildren(...pins.map((pin) => {
      const msg = pin.message;
      const li = element('li', 'pin');
      li.dataset.id = String(msg.id);
      const meta = element('div', 'meta');
      meta.append(element('span', 'author', msg.user), ' ', timeElement(msg.ts));
      const text = msg.deleted ? element('div', 'text', 'message deleted') : messageText(msg.message, this.me.name);
      const by = element('p', 'pin-by', 'pinned by ' + pin.pinned_by);
      const buttons = element('div', 'pin-actions');
      const jump = /** @type {HTMLButtonElement} */ (element('button', 'link-button', 'Show in the room'));
      jump.type = 'button';
      jump.setAttribute('aria-label', 'Show the message by ' + msg.user + ' in the room: ' + summary(msg, 40));
      jump.addEventListener('click', () => this.showMessage(msg.id, jump));
      buttons.append(jump);
      if (this.me.mayPin) {
        const unpin = /** @type {HTMLButtonElement} */ (element('button', 'link-button', 'Unpin'));
        unpin.type = 'button';
        unpin.setAttribute('aria-label', 'Unpin the message by ' + msg.user);
        unpin.addEventListener('click', () => this.unpin(msg.id));
        buttons.append(' · ', unpin);
      }
      const files = msg.deleted ? null : fileList(msg.files);
      li.append(meta, text, ...(files ? [files] : []), by, buttons);
      return li;
    }));
  }
}
