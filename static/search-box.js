/**
 * @file The header's search box, on every page: `/` puts the cursor in it, unless you are typing
 * somewhere already (a text field, a text area, anything editable) or holding a modifier.
 */

const box = /** @type {HTMLInputElement | null} */ (document.getElementById('search-input'));

/** Whether `el` takes typed text, so `/` belongs to it. */
function typesText(el) {
  if (!(el instanceof HTMLElement)) return false;
  if (el.isContentEditable || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) return true;
  if (!(el instanceof HTMLInputElement)) return false;
  return !['button', 'checkbox', 'radio', 'submit', 'reset', 'file', 'image', 'range', 'color'].includes(el.type);
}

if (box) {
  document.addEventListener('keydown', (e) => {
    if (e.key !== '/' || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (typesText(document.activeElement)) return;
    e.preventDefault();
    box.focus();
    box.select();
  });
}
