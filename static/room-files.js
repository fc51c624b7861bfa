/**
 * @file Attachments in the compose box: files come from the attach button (a hidden file picker), from
 * being dropped anywhere on the room, or from an image pasted into the message box. Each one is uploaded
 * at once (`POST /api/rooms/{room}/files`, docs/PROTOCOL.md) with XMLHttpRequest, for its progress, and
 * shows in the tray above the box: a progress bar with Cancel while it goes, then a chip you can remove,
 * or why it was refused, in words. The next send takes the finished ones ({@link MAX_FILES} at most) and
 * the message carries them. File names only ever reach the page as text.
 */

import { humanSize } from '/static/message-files.js';

/** @typedef {import('/static/chatweb-client.js').FileInfo} FileInfo */

/** A message attaches at most this many files (the server's limit). */
export const MAX_FILES = 10;

/** The upload API's refusals, in words, by error code (the file's name goes before them). */
const REFUSALS = {
  too_large: 'is larger than this server accepts',
  quota_exceeded: 'would go over your upload allowance for today',
  image_too_large: 'is an image with too many pixels to take',
  invalid_parameter: 'could not be read as a file',
  forbidden: 'was refused: you may not post files in this room',
  not_found: 'was refused: this room is gone, or not yours to post in',
  login_required: 'was refused: sign in again to upload',
  rate_limited: 'was refused: too many uploads at once; try again in a moment',
  csrf_failed: 'was refused: reload the page and try again',
};

/** Refusals by HTTP status, for answers without a JSON `error`. */
const BY_STATUS = {
  400: 'invalid_parameter', 401: 'login_required', 403: 'forbidden', 404: 'not_found', 413: 'too_large',
  422: 'image_too_large', 429: 'rate_limited',
};

/**
 * One file in the tray.
 * @typedef {object} Attachment
 * @property {File} file
 * @property {'uploading' | 'done' | 'failed'} state
 * @property {XMLHttpRequest | null} xhr   while uploading
 * @property {FileInfo | null} info        once uploaded
 * @property {string | null} preview       an object URL of the local image, for the chip
 * @property {HTMLLIElement} li
 */

/** The `csrftoken` cookie (Django's name), or the page's form token when there is no cookie. */
function csrfToken() {
  const cookie = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith('csrftoken='));
  if (cookie) return decodeURIComponent(cookie.slice('csrftoken='.length));
  const field = /** @type {HTMLInputElement | null} */ (document.querySelector('input[name=csrfmiddlewaretoken]'));
  return field ? field.value : '';
}

/** Whether a drag carries files (not text or a link). */
function carriesFiles(event) {
  const types = event.dataTransfer ? Array.from(event.dataTransfer.types || []) : [];
  return types.includes('Files');
}

/** A new element with a class and text (as text). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A small button with its visible word and a label that names the file. */
function button(word, label) {
  const b = /** @type {HTMLButtonElement} */ (el('button', 'attachment-button', word));
  b.type = 'button';
  b.setAttribute('aria-label', label);
  return b;
}

export class Attachments {
  /**
   * @param {object} options
   * @param {string} options.room
   * @param {HTMLButtonElement} options.button opens the picker
   * @param {HTMLInputElement} options.picker a hidden `<input type=file multiple>`
   * @param {HTMLElement} options.tray shown while it holds something
   * @param {HTMLUListElement} options.list the tray's list
   * @param {HTMLElement} options.dropZone files dropped on it are attached
   * @param {HTMLTextAreaElement} options.input files pasted into it are attached
   * @param {HTMLElement} options.status a polite live region: what finished or failed
   * @param {number} [options.maxBytes] the server's limit per file, when the page knows it: a larger file
   *   is refused here instead of being sent whole to be refused
   * @param {() => void} [options.onChange] the tray changed (an upload finished, a chip went)
   */
  constructor({ room, button: attach, picker, tray, list, dropZone, input, status, maxBytes, onChange }) {
    this.room = room;
    this.maxBytes = maxBytes && maxBytes > 0 ? maxBytes : Infinity;
    this.tray = tray;
    this.list = list;
    this.dropZone = dropZone;
    this.input = input;
    this.status = status;
    this.onChange = onChange || (() => {});
    /** @type {Attachment[]} in the order they were added */
    this.items = [];
    /** Nested dragenter/dragleave pairs over the drop zone's children. */
    this.dragDepth = 0;

    attach.addEventListener('click', () => picker.click());
    picker.addEventListener('change', () => {
      this.add(Array.from(picker.files || []));
      picker.value = ''; // the same file may be chosen again
      this.input.focus();
    });
    input.addEventListener('paste', (e) => this.paste(/** @type {ClipboardEvent} */ (e)));
    dropZone.addEventListener('dragenter', (e) => this.dragenter(/** @type {DragEvent} */ (e)));
    dropZone.addEventListener('dragover', (e) => this.dragover(/** @type {DragEvent} */ (e)));
    dropZone.addEventListener('dragleave', () => this.dragleave());
    dropZone.addEventListener('drop', (e) => this.drop(/** @type {DragEvent} */ (e)));
    this.refresh();
  }

  /** How many finished uploads wait for the next send. */
  get ready() {
    return this.items.filter((a) => a.state === 'done').length;
  }

  /**
   * The finished uploads for a send (the oldest {@link MAX_FILES}), out of the tray.
   * @returns {FileInfo[]}
   */
  take() {
    const taken = this.items.filter((a) => a.state === 'done').slice(0, MAX_FILES);
    for (const a of taken) this.discard(a);
    this.refresh();
    return taken.map((a) => /** @type {FileInfo} */ (a.info));
  }

  /**
   * Uploads `files`, each with its own line in the tray.
   * @param {File[]} files
   */
  add(files) {
    for (const file of files) this.upload(file);
    this.refresh();
  }

  // ---- where files come from --------------------------------------------------------------------------

  /** @param {ClipboardEvent} e */
  paste(e) {
    const data = e.clipboardData;
    if (!data) return;
    const files = Array.from(data.files || []);
    // Text on the clipboard (a spreadsheet's cells come with a picture of them) is pasted as text.
    if (files.length === 0 || data.getData('text/plain')) return;
    e.preventDefault();
    this.add(files.map((file) => (file.name ? file : new File([file], 'pasted image.' +
      ((file.type.split('/')[1] || 'png').replace(/[^a-z0-9]/gi, '') || 'png'), { type: file.type }))));
  }

  /** @param {DragEvent} e */
  dragenter(e) {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    this.dragDepth += 1;
    this.dropZone.classList.add('drop-target');
  }

  /** @param {DragEvent} e */
  dragover(e) {
    if (!carriesFiles(e)) return;
    e.preventDefault(); // without it the browser would open the file instead of dropping it here
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  }

  dragleave() {
    this.dragDepth = Math.max(0, this.dragDepth - 1);
    if (this.dragDepth === 0) this.dropZone.classList.remove('drop-target');
  }

  /** @param {DragEvent} e */
  drop(e) {
    this.dragDepth = 0;
    this.dropZone.classList.remove('drop-target');
    if (!carriesFiles(e)) return;
    e.preventDefault();
    this.add(Array.from(e.dataTransfer?.files || []));
    this.input.focus();
  }

  // ---- one upload -----------------------------------------------------------------------------------

  /** @param {File} file */
  upload(file) {
    const xhr = new XMLHttpRequest();
    /** @type {Attachment} */
    const item = { file, state: 'uploading', xhr, info: null, preview: null, li: /** @type {HTMLLIElement} */ (el('li', 'attachment')) };
    this.items.push(item);
    this.list.append(item.li);
    this.draw(item);
    if (file.size > this.maxBytes) {
      this.failed(item, REFUSALS.too_large + ' (at most ' + humanSize(this.maxBytes) + ')');
      return;
    }
    const progress = /** @type {HTMLProgressElement} */ (item.li.querySelector('progress'));
    xhr.open('POST', '/api/rooms/' + encodeURIComponent(this.room) + '/files');
    xhr.setRequestHeader('Accept', 'application/json');
    const token = csrfToken();
    if (token) xhr.setRequestHeader('X-CSRFToken', token);
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable || !progress) return;
      progress.max = e.total;
      progress.value = e.loaded;
    });
    xhr.addEventListener('load', () => this.answered(item));
    xhr.addEventListener('error', () => this.failed(item, 'could not be uploaded: the connection failed'));
    xhr.addEventListener('timeout', () => this.failed(item, 'could not be uploaded: the server took too long'));
    xhr.addEventListener('abort', () => {
      if (item.state !== 'uploading') return;
      item.xhr = null;
      this.say('Upload of ' + file.name + ' cancelled.');
      this.discard(item);
      this.refresh();
    });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  }

  /** The server answered `item`'s upload. */
  answered(item) {
    const xhr = /** @type {XMLHttpRequest} */ (item.xhr);
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
    if (xhr.status >= 200 && xhr.status < 300 && body && typeof body.id === 'string') {
      item.state = 'done';
      item.xhr = null;
      item.info = body;
      if (String(body.type).startsWith('image/') && body.width) item.preview = URL.createObjectURL(item.file);
      this.draw(item);
      this.say(item.file.name + ' is ready to send.');
      this.refresh();
      return;
    }
    const code = body && typeof body.error === 'string' ? body.error : BY_STATUS[xhr.status] || '';
    const words = REFUSALS[code] ||
      ('could not be uploaded: ' + ((body && typeof body.detail === 'string' && body.detail) || 'the server answered ' + xhr.status));
    this.failed(item, words);
  }

  /** `item` failed: its line says why, with a way to dismiss it. */
  failed(item, words) {
    if (item.state !== 'uploading') return;
    item.state = 'failed';
    item.xhr = null;
    this.draw(item, words);
    this.say(item.file.name + ' ' + words + '.');
    this.refresh();
  }

  /** Takes `item` out of the tray (cancelling its upload if it still goes). */
  discard(item) {
    const at = this.items.indexOf(item);
    if (at >= 0) this.items.splice(at, 1);
    const hadFocus = item.li.contains(document.activeElement);
    item.li.remove();
    if (item.preview) URL.revokeObjectURL(item.preview);
    if (item.state === 'uploading' && item.xhr) {
      item.state = 'failed'; // so its abort event does nothing more
      item.xhr.abort();
    }
    if (hadFocus) this.input.focus();
  }

  // ---- drawing --------------------------------------------------------------------------------------

  /** Draws `item`'s line for its state (`words`: why it failed). */
  draw(item, words = '') {
    const { li, file } = item;
    li.replaceChildren();
    li.className = 'attachment ' + item.state;
    const name = el('span', 'attachment-name', file.name);
    if (item.state === 'uploading') {
      const progress = /** @type {HTMLProgressElement} */ (el('progress', 'attachment-progress'));
      progress.max = 1;
      progress.setAttribute('aria-label', 'Uploading ' + file.name);
      const cancel = button('Cancel', 'Cancel the upload of ' + file.name);
      cancel.addEventListener('click', () => {
        if (item.xhr) item.xhr.abort();
      });
      li.append(name, ' ', progress, ' ', cancel);
    } else if (item.state === 'done') {
      if (item.preview) {
        const thumb = /** @type {HTMLImageElement} */ (el('img', 'attachment-thumb'));
        thumb.alt = '';
        thumb.src = item.preview;
        li.append(thumb);
      }
      const size = el('span', 'attachment-size', humanSize(item.info ? item.info.size : file.size));
      const remove = button('Remove', 'Remove ' + file.name + ' from the message');
      remove.addEventListener('click', () => {
        this.discard(item);
        this.say(file.name + ' removed.');
        this.refresh();
      });
      li.append(name, ' ', size, ' ', remove);
    } else {
      const why = el('span', 'attachment-error', words);
      const dismiss = button('Dismiss', 'Dismiss the failed upload of ' + file.name);
      dismiss.addEventListener('click', () => {
        this.discard(item);
        this.refresh();
      });
      li.append(name, ' ', why, ' ', dismiss);
    }
  }

  /** Shows the tray while it holds something; tells the composer. */
  refresh() {
    this.tray.hidden = this.items.length === 0;
    this.onChange();
  }

  /** Tells screen readers (the status line is visually hidden). */
  say(text) {
    this.status.textContent = text;
  }
}
