/**
 * @file The compose box: Enter sends, Shift+Enter starts a new line, Up in an empty box edits your last
 * message, Escape stops editing; a byte counter appears near the server's limit. A send may have no text
 * when `canSendEmpty` says so (files wait to go with it: static/room-files.js).
 */

/** The counter shows once a message uses this share of the limit. */
const COUNTER_FROM = 0.8;
/** The box grows with its text up to this many pixels. */
const MAX_HEIGHT = 200;

const encoder = new TextEncoder();

/** The UTF-8 length of `text`, as the server counts it. */
export function byteLength(text) {
  return encoder.encode(text).length;
}

export class Composer {
  /**
   * @param {object} options
   * @param {HTMLFormElement} options.form
   * @param {HTMLTextAreaElement} options.input
   * @param {HTMLElement} options.counter
   * @param {HTMLElement} options.editingBar shown while editing
   * @param {HTMLButtonElement} options.cancel stops editing
   * @param {number} options.maxBytes the server's limit
   * @param {(text: string) => void} options.onSend
   * @param {(id: number, text: string) => void} options.onEdit
   * @param {() => void} options.onTyping
   * @param {() => ({id: number, text: string} | null)} options.lastOwn your newest editable message
   * @param {(text: string) => void} options.onRefused a message that cannot be sent, and why
   * @param {() => boolean} [options.canSendEmpty] whether a send without text has something to carry
   */
  constructor(options) {
    Object.assign(this, options);
    /** @type {number | null} the message being edited */
    this.editing = null;
    this.input.addEventListener('keydown', (e) => this.keydown(e));
    this.input.addEventListener('input', () => this.changed(true));
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    this.cancel.addEventListener('click', () => this.stopEditing());
    this.changed(false);
  }

  /** Puts message `id` with `text` in the box for editing. */
  startEdit(id, text) {
    this.editing = id;
    this.input.value = text;
    this.editingBar.hidden = false;
    this.form.classList.add('is-editing');
    this.form.querySelector('button[type=submit]').textContent = 'Save';
    this.input.focus();
    this.input.setSelectionRange(text.length, text.length);
    this.changed(false);
  }

  /** Leaves editing; the box empties. */
  stopEditing() {
    if (this.editing === null) return;
    this.editing = null;
    this.input.value = '';
    this.editingBar.hidden = true;
    this.form.classList.remove('is-editing');
    this.form.querySelector('button[type=submit]').textContent = 'Send';
    this.changed(false);
    this.input.focus();
  }

  /** @param {KeyboardEvent} e */
  keydown(e) {
    if (e.isComposing) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      this.submit();
    } else if (e.key === 'ArrowUp' && this.input.value === '' && this.editing === null) {
      const last = this.lastOwn();
      if (last) {
        e.preventDefault();
        this.startEdit(last.id, last.text);
      }
    } else if (e.key === 'Escape' && this.editing !== null) {
      e.preventDefault();
      this.stopEditing();
    }
  }

  submit() {
    const text = this.input.value;
    if (!text.trim() && (this.editing !== null || !this.canSendEmpty || !this.canSendEmpty())) return;
    if (byteLength(text) > this.maxBytes) {
      this.onRefused('Messages are limited to ' + this.maxBytes + ' bytes; this one has ' +
        byteLength(text) + '.');
      return;
    }
    if (this.editing !== null) {
      const id = this.editing;
      this.onEdit(id, text);
      this.stopEditing();
    } else {
      this.onSend(text);
      this.input.value = '';
      this.changed(false);
    }
    this.input.focus();
  }

  /** Resizes the box and updates the counter; `typed` tells the room someone is typing. */
  changed(typed) {
    const text = this.input.value;
    this.input.style.height = 'auto';
    this.input.style.height = Math.min(MAX_HEIGHT, this.input.scrollHeight) + 'px';
    const bytes = byteLength(text);
    const near = bytes >= this.maxBytes * COUNTER_FROM;
    this.counter.textContent = near ? bytes + ' / ' + this.maxBytes + ' bytes' : '';
    this.counter.classList.toggle('over', bytes > this.maxBytes);
    if (typed && text.trim() && this.editing === null) this.onTyping();
  }
}
