/**
 * @file The per-message menu (Edit, Delete, Pin or Unpin): one popup shared by every message, opened from a message's
 * "⋯" button, used with the mouse or the keyboard (arrows move, Escape closes and returns focus, Tab
 * leaves). Deleting asks once more in the same menu.
 */

export class MessageMenu {
  /**
   * @param {object} options
   * @param {HTMLElement} options.menu the `role="menu"` element
   * @param {(id: number) => {edit: boolean, delete: boolean, pin?: boolean, pinned?: boolean}} options.allowed
   *   what may be done (and whether the message is pinned now)
   * @param {(id: number) => void} options.onEdit
   * @param {(id: number) => void} options.onDelete
   * @param {(id: number, pin: boolean) => void} [options.onPin] pin it (true) or unpin it
   */
  constructor({ menu, allowed, onEdit, onDelete, onPin }) {
    this.menu = menu;
    this.allowed = allowed;
    this.onEdit = onEdit;
    this.onDelete = onDelete;
    this.onPin = onPin;
    this.pinned = false;
    /** @type {HTMLButtonElement | null} */
    this.opener = null;
    this.target = 0;
    this.items = /** @type {HTMLButtonElement[]} */ (Array.from(menu.querySelectorAll('[role=menuitem]')));
    menu.addEventListener('click', (e) => {
      const item = /** @type {HTMLElement} */ (e.target).closest('[role=menuitem]');
      if (item) this.choose(/** @type {HTMLElement} */ (item).dataset.action);
    });
    menu.addEventListener('keydown', (e) => this.keydown(e));
    document.addEventListener('pointerdown', (e) => {
      if (!this.menu.hidden && !this.menu.contains(/** @type {Node} */ (e.target)) &&
        e.target !== this.opener) this.close(false);
    });
  }

  /** Opens the menu for message `id` under its `button` (a second click closes it). */
  open(id, button) {
    if (this.opener === button && !this.menu.hidden) {
      this.close(true);
      return;
    }
    this.close(false);
    const may = this.allowed(id);
    this.target = id;
    this.opener = button;
    this.item('edit').hidden = !may.edit;
    this.item('delete').hidden = !may.delete;
    this.item('confirm-delete').hidden = true;
    const pin = this.items.find((i) => i.dataset.action === 'pin');
    if (pin) {
      this.pinned = Boolean(may.pinned);
      pin.hidden = !may.pin;
      pin.textContent = this.pinned ? 'Unpin' : 'Pin to the room';
    }
    this.menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    this.position(button);
    this.focusFirst();
  }

  /** Closes the menu; `refocus` returns focus to the button that opened it. */
  close(refocus) {
    if (this.menu.hidden) return;
    this.menu.hidden = true;
    const opener = this.opener;
    this.opener = null;
    if (opener) {
      opener.setAttribute('aria-expanded', 'false');
      if (refocus && opener.isConnected) opener.focus();
    }
  }

  /** @param {string | undefined} action */
  choose(action) {
    const id = this.target;
    if (action === 'edit') {
      this.close(false);
      this.onEdit(id);
    } else if (action === 'delete') {
      this.item('delete').hidden = true;
      this.item('confirm-delete').hidden = false;
      this.item('confirm-delete').focus();
    } else if (action === 'confirm-delete') {
      this.close(true);
      this.onDelete(id);
    } else if (action === 'pin') {
      this.close(true);
      if (this.onPin) this.onPin(id, !this.pinned);
    }
  }

  /** @param {KeyboardEvent} e */
  keydown(e) {
    const shown = this.items.filter((i) => !i.hidden);
    const at = shown.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const step = e.key === 'ArrowDown' ? 1 : shown.length - 1;
      shown[(at + step) % shown.length]?.focus();
    } else if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      (e.key === 'Home' ? shown[0] : shown[shown.length - 1])?.focus();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      this.close(true);
    } else if (e.key === 'Tab') {
      this.close(true);
    }
  }

  item(action) {
    return /** @type {HTMLButtonElement} */ (this.items.find((i) => i.dataset.action === action));
  }

  focusFirst() {
    this.items.find((i) => !i.hidden)?.focus();
  }

  /** Places the menu below the button, inside the viewport. */
  position(button) {
    const rect = button.getBoundingClientRect();
    const width = this.menu.offsetWidth;
    const height = this.menu.offsetHeight;
    const left = Math.max(8, Math.min(rect.right - width, window.innerWidth - width - 8));
    const below = rect.bottom + 4;
    const top = below + height > window.innerHeight - 8 ? rect.top - height - 4 : below;
    this.menu.style.left = left + 'px';
    this.menu.style.top = Math.max(8, top) + 'px';
  }
}
