/**
 * @file `@` in a compose box suggests names: the people present and the room's members
 * (`GET /api/rooms/{room}/members`, asked once, on the first `@`). A list under the box: Up and Down
 * choose, Enter or Tab put the name in, Escape closes it; a click does the same. The box keeps focus
 * (`aria-activedescendant` names the chosen one). Install it before the box's own key handling, so that
 * Enter picks a name rather than sending.
 */

/** At most this many names are suggested. */
const MAX_SHOWN = 8;
/** `@` and the start of a name, right before the caret (not inside a word or an address). */
const TRIGGER = /(?:^|[^\p{L}\p{N}@.+\-_])@([\p{L}\p{N}.+\-_]*)$/u;

let serial = 0;

export class MentionSuggest {
  /**
   * @param {object} options
   * @param {HTMLTextAreaElement | HTMLInputElement} options.input the compose box
   * @param {HTMLUListElement} options.list its listbox (`role="listbox"`, hidden)
   * @param {() => Promise<string[]> | string[]} options.names who may be suggested
   */
  constructor({ input, list, names }) {
    this.input = input;
    this.list = list;
    this.names = names;
    this.id = 'mention-' + ++serial;
    /** @type {string[]} */
    this.shown = [];
    this.active = 0;
    /** @type {{start: number, end: number} | null} the `@name` being typed */
    this.range = null;
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-controls', list.id);
    input.addEventListener('input', () => this.update());
    input.addEventListener('keydown', (e) => this.keydown(/** @type {KeyboardEvent} */ (e)));
    input.addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== input) this.close(); }, 0));
    list.addEventListener('pointerdown', (e) => e.preventDefault()); // keep the focus in the box
    list.addEventListener('click', (e) => {
      const option = /** @type {HTMLElement} */ (e.target).closest('[role=option]');
      if (option) this.accept(Number(/** @type {HTMLElement} */ (option).dataset.index));
    });
  }

  get isOpen() {
    return !this.list.hidden;
  }

  async update() {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const before = this.input.value.slice(0, caret);
    const match = TRIGGER.exec(before);
    if (!match) {
      this.close();
      return;
    }
    const typed = match[1].toLowerCase();
    this.range = { start: caret - match[1].length - 1, end: caret };
    const all = await this.names();
    // The box may have changed while the names came.
    if (this.input.value.slice(0, caret) !== before) return;
    const seen = new Set();
    const starts = [];
    const contains = [];
    for (const name of all) {
      const key = name.toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      if (key.startsWith(typed)) starts.push(name);
      else if (typed && key.includes(typed)) contains.push(name);
    }
    const byName = (a, b) => a.localeCompare(b);
    this.shown = starts.sort(byName).concat(contains.sort(byName)).slice(0, MAX_SHOWN);
    if (!this.shown.length) {
      this.close();
      return;
    }
    this.active = 0;
    this.render();
  }

  render() {
    this.list.replaceChildren(...this.shown.map((name, i) => {
      const li = document.createElement('li');
      li.id = this.id + '-' + i;
      li.setAttribute('role', 'option');
      li.dataset.index = String(i);
      li.setAttribute('aria-selected', String(i === this.active));
      li.textContent = '@' + name;
      return li;
    }));
    this.list.hidden = false;
    this.input.setAttribute('aria-activedescendant', this.id + '-' + this.active);
  }

  close() {
    if (this.list.hidden) return;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.shown = [];
    this.range = null;
    this.input.removeAttribute('aria-activedescendant');
  }

  /** Puts name `i` in place of the `@…` being typed, with a space after it. */
  accept(i) {
    const name = this.shown[i];
    const range = this.range;
    if (!name || !range) return;
    const value = this.input.value;
    const insert = '@' + name + ' ';
    this.input.value = value.slice(0, range.start) + insert + value.slice(range.end);
    const caret = range.start + insert.length;
    this.input.setSelectionRange(caret, caret);
    this.close();
    this.input.focus();
    this.input.dispatchEvent(new Event('input', { bubbles: true }));
  }

  /** @param {KeyboardEvent} e */
  keydown(e) {
    if (!this.isOpen || e.isComposing) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      e.stopImmediatePropagation();
      const n = this.shown.length;
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.render();
    } else if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
      e.preventDefault();
      e.stopImmediatePropagation();
      this.accept(this.active);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopImmediatePropagation();
      this.close();
    }
  }
}
