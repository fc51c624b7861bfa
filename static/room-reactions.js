/**
 * @file The reaction picker: one small popup shared by every message, opened from a message's "☺+"
 * button: a row of common emoji and a field for any other one (one emoji, as the server takes it). Arrows
 * move between the emoji, Escape closes and returns focus, a choice toggles your reaction.
 */

/** The common emoji, with their names for screen readers. */
export const COMMON = [
  ['👍', 'thumbs up'], ['❤️', 'heart'], ['😂', 'laughing'], ['🎉', 'party'],
  ['😮', 'surprised'], ['😢', 'sad'], ['👀', 'eyes'], ['🙏', 'thank you'],
];

const encoder = new TextEncoder();
const graphemes = typeof Intl !== 'undefined' && 'Segmenter' in Intl
  ? new Intl.Segmenter(undefined, { granularity: 'grapheme' })
  : null;

/**
 * `text` as one emoji (trimmed), or null: one grapheme cluster of at most 32 bytes that has an emoji in it
 * (the server checks it too, and says `invalid_emoji`).
 * @param {string} text
 */
export function oneEmoji(text) {
  const t = String(text).trim();
  if (!t || encoder.encode(t).length > 32) return null;
  if (graphemes && Array.from(graphemes.segment(t)).length !== 1) return null;
  return /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3/u.test(t) ? t : null;
}

export class ReactionPicker {
  /**
   * @param {object} options
   * @param {HTMLElement} options.picker the popup (`#reaction-picker`), with `.picker-emoji` and a form
   * @param {(id: number, emoji: string) => void} options.onPick toggle your reaction `emoji` on message `id`
   */
  constructor({ picker, onPick }) {
    this.picker = picker;
    this.onPick = onPick;
    this.target = 0;
    /** @type {HTMLElement | null} */
    this.opener = null;
    this.row = /** @type {HTMLElement} */ (picker.querySelector('.picker-emoji'));
    this.form = /** @type {HTMLFormElement} */ (picker.querySelector('form'));
    this.input = /** @type {HTMLInputElement} */ (picker.querySelector('input'));
    this.error = /** @type {HTMLElement} */ (picker.querySelector('.picker-error'));
    for (const [emoji, name] of COMMON) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'picker-choice';
      button.dataset.emoji = emoji;
      button.textContent = emoji;
      button.setAttribute('aria-label', name);
      button.title = name;
      button.addEventListener('click', () => this.pick(emoji));
      this.row.append(button);
    }
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const emoji = oneEmoji(this.input.value);
      if (!emoji) {
        this.error.textContent = 'Type one emoji.';
        this.input.focus();
        return;
      }
      this.pick(emoji);
    });
    picker.addEventListener('keydown', (e) => this.keydown(e));
    document.addEventListener('pointerdown', (e) => {
      if (!this.picker.hidden && !this.picker.contains(/** @type {Node} */ (e.target)) &&
        e.target !== this.opener) this.close(false);
    });
  }

  /** Opens the picker for message `id` by `button` (a second press closes it). */
  open(id, button) {
    if (!this.picker.hidden && this.opener === button) {
      this.close(true);
      return;
    }
    this.close(false);
    this.target = id;
    this.opener = button;
    this.input.value = '';
    this.error.textContent = '';
    this.picker.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    this.position(button);
    /** @type {HTMLElement | null} */ (this.row.firstElementChild)?.focus();
  }

  /** Closes it; `refocus` returns focus to the button that opened it. */
  close(refocus) {
    if (this.picker.hidden) return;
    this.picker.hidden = true;
    const opener = this.opener;
    this.opener = null;
    if (opener) {
      opener.setAttribute('aria-expanded', 'false');
      if (refocus && opener.isConnected) opener.focus();
    }
  }

  pick(emoji) {
    const id = this.target;
    this.close(true);
    this.onPick(id, emoji);
  }

  /** @param {KeyboardEvent} e */
  keydown(e) {
    const choices = /** @type {HTMLButtonElement[]} */ (Array.from(this.row.children));
    const at = choices.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
    if (e.key === 'Escape') {
      e.preventDefault();
      this.close(true);
    } else if (at >= 0 && (e.key === 'ArrowRight' || e.key === 'ArrowLeft')) {
      e.preventDefault();
      const step = e.key === 'ArrowRight' ? 1 : choices.length - 1;
      choices[(at + step) % choices.length].focus();
    } else if (e.key === 'Tab') {
      // Tab stays inside while it is open: emoji, the field, Add, and round again.
      const stops = [choices[0], this.input, /** @type {HTMLElement} */ (this.form.querySelector('button'))];
      const i = stops.indexOf(/** @type {HTMLElement} */ (at >= 0 ? choices[0] : document.activeElement));
      if (i >= 0) {
        e.preventDefault();
        stops[(i + (e.shiftKey ? stops.length - 1 : 1)) % stops.length].focus();
      }
    }
  }

  /** Below the button (above it when there is no room), inside the viewport. */
  position(button) {
    const rect = button.getBoundingClientRect();
    const width = this.picker.offsetWidth;
    const height = this.picker.offsetHeight;
    const left = Math.max(8, Math.min(rect.right - width, window.innerWidth - width - 8));
    const below = rect.bottom + 4;
    const top = below + height > window.innerHeight - 8 ? rect.top - height - 4 : below;
    this.picker.style.left = left + 'px';
    this.picker.style.top = Math.max(8, top) + 'px';
  }
}
