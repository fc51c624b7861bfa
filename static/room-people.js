/**
 * @file Who is in the room and who is typing: the "Here now" list beside the log and the line under it.
 * Names reach the page through `textContent` only.
 */

import { element } from '/static/room-message.js';

/** A typing notice lasts this long unless refreshed (the server sends one at most every 3 s). */
const TYPING_MS = 6000;

/** @typedef {{user: string, guest?: boolean}} Person */

export class People {
  /**
   * @param {object} options
   * @param {HTMLUListElement} options.list the "Here now" list
   * @param {HTMLElement} options.count its count
   * @param {HTMLElement} options.typingLine the "… is typing" line
   * @param {{name: string, signedIn: boolean}} options.me who is looking
   */
  constructor({ list, count, typingLine, me }) {
    this.list = list;
    this.count = count;
    this.typingLine = typingLine;
    this.me = me;
    /** @type {Map<string, Person>} by name */
    this.people = new Map();
    /** @type {Map<string, number>} name -> timer */
    this.typers = new Map();
  }

  /** Shows exactly `users` (the client's whole current list). */
  set(users) {
    const names = new Set(users.map((p) => p.user));
    for (const name of this.typers.keys()) if (!names.has(name)) this.stopTyping(name);
    this.people = new Map(users.map((p) => [p.user, p]));
    this.render();
  }

  /** `name` is typing (your own tabs' typing is not shown). */
  typing(name) {
    if (name === this.me.name) return;
    clearTimeout(this.typers.get(name));
    this.typers.set(name, window.setTimeout(() => this.stopTyping(name), TYPING_MS));
    this.renderTyping();
  }

  /** `name` stopped typing (they sent their message, or left). */
  stopTyping(name) {
    if (!this.typers.has(name)) return;
    clearTimeout(this.typers.get(name));
    this.typers.delete(name);
    this.renderTyping();
  }

  render() {
    const people = Array.from(this.people.values())
      .sort((a, b) => a.user.localeCompare(b.user));
    this.list.replaceChildren(...people.map((p) => {
      const li = element('li', p.guest ? 'person guest' : 'person');
      li.dataset.user = p.user;
      li.append(element('span', 'person-name', p.user));
      if (p.user === this.me.name && Boolean(p.guest) !== this.me.signedIn) {
        li.append(' ', element('span', 'tag you-tag', 'you'));
      }
      if (p.guest) li.append(' ', element('span', 'tag guest-tag', 'guest'));
      return li;
    }));
    this.count.textContent = '(' + people.length + ')';
  }

  renderTyping() {
    const names = Array.from(this.typers.keys());
    let text = '';
    if (names.length === 1) text = names[0] + ' is typing…';
    else if (names.length === 2) text = names[0] + ' and ' + names[1] + ' are typing…';
    else if (names.length > 2) text = 'Several people are typing…';
    this.typingLine.textContent = text;
  }
}
