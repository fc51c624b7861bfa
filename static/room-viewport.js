/**
 * @file Where the room's log is scrolled: new messages keep it at the bottom unless you scrolled up (then
 * a "jump to newest" button counts them), changes above what you read do not move it, nearing the top
 * asks for older messages, and the newest message on screen is reported while the page is visible (to
 * mark it read).
 */

/** Closer to the bottom than this (px) counts as "at the bottom": new messages keep it there. */
const BOTTOM_SLACK = 48;
/** Closer to the top than this (px) asks for the next older page. */
export const TOP_SLACK = 300;

export class Viewport {
  /**
   * @param {object} options
   * @param {HTMLElement} options.scroller the scrolling log (`#chat-log`)
   * @param {HTMLElement} options.list the list of messages inside it
   * @param {HTMLButtonElement} options.jump the "jump to newest" button
   * @param {HTMLElement} options.jumpCount its counter
   * @param {() => void} options.onNearTop scrolled close to the oldest message shown
   * @param {(id: number) => void} options.onSeen the newest message id on screen while the page is visible
   */
  constructor({ scroller, list, jump, jumpCount, onNearTop, onSeen }) {
    this.scroller = scroller;
    this.list = list;
    this.jump = jump;
    this.jumpCount = jumpCount;
    this.onNearTop = onNearTop;
    this.onSeen = onSeen;
    /** At the bottom: new messages keep it there. */
    this.stuck = true;
    /** The reader has scrolled away from the bottom at least once. */
    this.userScrolled = false;
    this.unseen = 0;
    this.keeping = false;
    /** @type {Set<number>} ids of the messages on screen */
    this.visible = new Set();
    this.observer = new IntersectionObserver((entries) => this.intersected(entries),
      { root: scroller, threshold: 0 });
    scroller.addEventListener('scroll', () => this.scrolled(), { passive: true });
    // The log narrower or wider (a side panel opened, the window resized): text reflows; at the bottom
    // it stays at the bottom.
    if (typeof ResizeObserver === 'function') {
      const keep = new ResizeObserver(() => {
        if (this.stuck && !this.keeping) this.scroller.scrollTop = this.scroller.scrollHeight;
      });
      keep.observe(scroller);
      keep.observe(list);
    }
    jump.addEventListener('click', () => { this.scrollToBottom(); scroller.focus(); });
    document.addEventListener('visibilitychange', () => this.reportSeen());
    window.addEventListener('focus', () => this.reportSeen());
  }

  /** Reports message item `li` (with a `data-id`) as seen when it is on screen. */
  observe(li) {
    this.observer.observe(li);
  }

  /** Scrolls to the newest message. */
  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.stuck = true;
    this.unseen = 0;
    this.jump.hidden = true;
  }

  /** Something was added at the bottom; `countsAsNew` when someone else just said it. */
  added(countsAsNew) {
    if (this.stuck) {
      this.scroller.scrollTop = this.scroller.scrollHeight;
    } else if (countsAsNew) {
      this.unseen += 1;
      this.jumpCount.textContent = ' (' + this.unseen + ' new)';
      this.jump.hidden = false;
    }
  }

  /**
   * Runs `change` (anything above what is on screen: older messages, the start-of-room line) so that
   * the text on screen stays where it is. Nested calls keep the outermost position.
   * @param {() => void} change
   */
  keepView(change) {
    if (this.keeping) {
      change();
      return;
    }
    const s = this.scroller;
    const stuck = this.stuck;
    // The text of the first message on screen is what the eye is on: it must not move.
    const anchor = this.firstOnScreen();
    const before = anchor ? anchor.getBoundingClientRect().top : 0;
    const fromBottom = s.scrollHeight - s.scrollTop;
    this.keeping = true;
    s.setAttribute('aria-busy', 'true');
    try {
      change();
    } finally {
      this.keeping = false;
      if (stuck) s.scrollTop = s.scrollHeight;
      else if (anchor && anchor.isConnected) s.scrollTop += anchor.getBoundingClientRect().top - before;
      else s.scrollTop = s.scrollHeight - fromBottom;
      s.setAttribute('aria-busy', 'false');
    }
  }

  /** Scrolls `li` to the middle of the log as if the reader had: new messages no longer pull it down. */
  show(li) {
    this.stuck = false;
    this.userScrolled = true;
    li.scrollIntoView({ block: 'center' });
  }

  /** Brings `li` near the top, unless the reader has scrolled already or it is below the fold. */
  reveal(li) {
    if (!this.userScrolled && li.offsetTop < this.scroller.scrollTop) {
      this.scroller.scrollTop = Math.max(0, li.offsetTop - 8);
    }
  }

  /** Whether the top of the log is close. */
  nearTop() {
    return this.scroller.scrollTop < TOP_SLACK;
  }

  /** The first list item at least partly on screen (its text, for a message), or null. */
  firstOnScreen() {
    const top = this.scroller.getBoundingClientRect().top;
    for (const li of this.list.children) {
      if (li.getBoundingClientRect().bottom > top) return li.querySelector('.body') ?? li;
    }
    return null;
  }

  scrolled() {
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop - s.clientHeight;
    const atBottom = fromBottom < BOTTOM_SLACK;
    if (!atBottom) this.userScrolled = true;
    this.stuck = atBottom;
    if (atBottom) {
      this.unseen = 0;
      this.jump.hidden = true;
    } else if (fromBottom > s.clientHeight) {
      if (this.jump.hidden) this.jumpCount.textContent = '';
      this.jump.hidden = false;
    }
    if (this.nearTop()) this.onNearTop();
  }

  /** @param {IntersectionObserverEntry[]} entries */
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
    for (const id of this.visible) if (id > newest) newest = id;
    if (newest) this.onSeen(newest);
  }
}
