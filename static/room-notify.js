/**
 * @file While the tab is hidden: the title counts new messages (`(3) design · chatweb`), and, once the
 * person allowed it with the button (never asked on load), a browser notification comes for a message
 * that mentions them and for every message in a direct room. No sound.
 */

export class Notifier {
  /**
   * @param {object} options
   * @param {string} options.room
   * @param {boolean} options.direct a direct room: every message notifies
   * @param {HTMLButtonElement} options.button asks for permission
   * @param {HTMLElement} options.state says what was decided
   */
  constructor({ room, direct, button, state }) {
    this.room = room;
    this.direct = direct;
    this.button = button;
    this.state = state;
    this.title = document.title;
    this.unread = 0;
    this.supported = typeof window.Notification === 'function';
    button.addEventListener('click', () => this.ask());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.seen();
    });
    window.addEventListener('focus', () => this.seen());
    this.showState();
  }

  /** Whether notifications may be shown. */
  get allowed() {
    return this.supported && window.Notification.permission === 'granted';
  }

  async ask() {
    if (!this.supported) return;
    try {
      await window.Notification.requestPermission();
    } catch (e) {
      // Old browsers take a callback instead; nothing to do then.
    }
    this.showState();
  }

  showState() {
    const permission = this.supported ? window.Notification.permission : 'unsupported';
    this.button.hidden = permission !== 'default';
    this.state.hidden = permission === 'default';
    this.state.textContent = permission === 'granted' ? 'Notifications on'
      : permission === 'denied' ? 'Notifications blocked in this browser' : '';
    this.state.dataset.permission = permission;
  }

  /**
   * A live message from someone else: counted in the title while hidden, and notified when it mentions
   * you (or the room is direct) and you allowed it.
   * @param {{id: number, user: string, message: string, files?: {name: string}[]}} msg
   * @param {boolean} mentionsMe
   */
  message(msg, mentionsMe) {
    if (document.visibilityState !== 'hidden') return;
    this.unread += 1;
    document.title = '(' + this.unread + ') ' + this.title;
    if (!(mentionsMe || this.direct) || !this.allowed) return;
    try {
      const note = new window.Notification(msg.user + (this.direct ? '' : ' in ' + this.room), {
        body: body(msg),
        tag: 'chatweb-' + this.room + '-' + msg.id,
        silent: true,
      });
      note.addEventListener('click', () => {
        window.focus();
        note.close();
      });
    } catch (e) {
      // Some browsers only notify from a service worker: the title still counts.
    }
  }

  /** The tab is seen again: the title loses its count. */
  seen() {
    if (document.visibilityState !== 'visible') return;
    this.unread = 0;
    document.title = this.title;
  }
}

/** What a notification says of `msg`: its text (cut at 200 characters), or the names of its files. */
function body(msg) {
  const text = msg.message || (Array.isArray(msg.files) && msg.files.length
    ? 'sent ' + msg.files.map((f) => String(f && f.name)).join(', ') : '');
  return text.length > 200 ? text.slice(0, 199) + '…' : text;
}
