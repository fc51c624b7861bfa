/**
 * @file The small Markdown of messages (docs/CLIENT.md, "Formatting"): `**bold**`, `*italic*` and
 * `_italic_`, `` `code` ``, fenced code blocks, `> quotes` (nested at most {@link MAX_QUOTE_DEPTH} deep),
 * links (`[text](https://…)` and bare http/https URLs), `@mentions`, line breaks kept. An ES module without
 * dependencies, in two steps: {@link parse} turns text into plain objects (no DOM: Node's tests run it), and
 * {@link render} builds DOM nodes from them with `createElement`, `textContent` and properties only, never
 * HTML from a string. Only `http:` and `https:` URLs become links (a `javascript:`, `data:` or any other
 * scheme stays text), always with `rel="noopener noreferrer nofollow"` and `target="_blank"`. The stored
 * text stays the author's: this is display only.
 */

/** Quotes nest at most this deep; a deeper `>` is shown as the character it is. */
export const MAX_QUOTE_DEPTH = 5;
/** Emphasis, links and code nest at most this deep inside one another. */
const MAX_INLINE_DEPTH = 4;

/** Mentions of everyone present or every member (`@channel` and `@all` are the server's `@room`). */
const EVERYONE = new Set(['here', 'room', 'channel', 'all']);

/** The `rel` of every link. */
export const LINK_REL = 'noopener noreferrer nofollow';

/**
 * @typedef {{type: 'text', text: string}
 *   | {type: 'break'}
 *   | {type: 'code', text: string}
 *   | {type: 'strong' | 'em', children: Inline[]}
 *   | {type: 'link', href: string, children: Inline[]}
 *   | {type: 'mention', name: string}} Inline
 */

/**
 * @typedef {{type: 'paragraph', children: Inline[]}
 *   | {type: 'codeblock', text: string, lang: string}
 *   | {type: 'quote', children: Block[]}} Block
 */

/** An opening fence: three backticks, and an info string without backticks ("```js"). */
const FENCE = /^ {0,3}```([^`]*)$/;
const QUOTE = /^ {0,3}>/;
/** A character that may be part of an account name (docs/PROTOCOL.md, mentions; Django's rules). */
const NAME_CHAR = /[\p{L}\p{N}@.+\-_]/u;
const WORD_CHAR = /[\p{L}\p{N}_]/u;
/** A bare URL runs up to white space or a character that cannot end one in running text. */
const BARE_URL = /https?:\/\/[^\s<>"'`]+/iy;

/**
 * The `href` for `raw` when it is an absolute http or https URL, else null (so `javascript:`, `data:`,
 * `vbscript:`, relative and malformed URLs never become links).
 * @param {string} raw
 * @returns {string | null}
 */
export function safeHref(raw) {
  if (!/^https?:\/\//i.test(raw)) return null;
  let url;
  try { url = new URL(raw); } catch (e) { return null; }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  return url.href;
}

/**
 * The blocks of `text`.
 * @param {string} text
 * @returns {Block[]}
 */
export function parse(text) {
  return parseBlocks(String(text).replace(/\r\n?/g, '\n').split('\n'), 0);
}

/**
 * @param {string[]} lines
 * @param {number} depth how many quotes these lines are in
 * @returns {Block[]}
 */
function parseBlocks(lines, depth) {
  /** @type {Block[]} */
  const blocks = [];
  const quotes = depth < MAX_QUOTE_DEPTH;
  let i = 0;
  while (i < lines.length) {
    const fence = FENCE.exec(lines[i]);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !/^ {0,3}```\s*$/.test(lines[i])) body.push(lines[i++]);
      i += 1; // the closing fence (an unclosed block runs to the end)
      blocks.push({ type: 'codeblock', text: body.join('\n'), lang: fence[1].trim() });
      continue;
    }
    if (quotes && QUOTE.test(lines[i])) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(/^ {0,3}> ?/, ''));
      blocks.push({ type: 'quote', children: parseBlocks(inner, depth + 1) });
      continue;
    }
    const para = [];
    while (i < lines.length && !FENCE.test(lines[i]) && !(quotes && QUOTE.test(lines[i]))) para.push(lines[i++]);
    /** @type {Inline[]} */
    const children = [];
    para.forEach((line, n) => {
      if (n) children.push({ type: 'break' });
      children.push(...parseInline(line, 0, true));
    });
    blocks.push({ type: 'paragraph', children });
  }
  return blocks;
}

/**
 * The inline nodes of one line.
 * @param {string} s
 * @param {number} depth
 * @param {boolean} links whether links may start here (not inside a link's own text)
 * @returns {Inline[]}
 */
export function parseInline(s, depth = 0, links = true) {
  /** @type {Inline[]} */
  const out = [];
  let text = '';
  const flush = () => {
    if (text) out.push({ type: 'text', text });
    text = '';
  };
  const nested = depth < MAX_INLINE_DEPTH;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    const prev = i > 0 ? s[i - 1] : '';
    if (c === '`') {
      let n = 1;
      while (s[i + n] === '`') n += 1;
      const close = findBacktickRun(s, i + n, n);
      if (close >= 0) {
        flush();
        out.push({ type: 'code', text: s.slice(i + n, close) });
        i = close + n;
      } else {
        text += s.slice(i, i + n);
        i += n;
      }
      continue;
    }
    if (nested && c === '*' && s[i + 1] === '*') {
      const close = findCloser(s, i + 2, '**', false);
      if (close > i + 2) {
        flush();
        out.push({ type: 'strong', children: parseInline(s.slice(i + 2, close), depth + 1, links) });
        i = close + 2;
        continue;
      }
      text += '**';
      i += 2;
      continue;
    }
    if (nested && (c === '*' || c === '_') && !(c === '_' && WORD_CHAR.test(prev))) {
      const close = findCloser(s, i + 1, c, c === '_');
      if (close > i + 1) {
        flush();
        out.push({ type: 'em', children: parseInline(s.slice(i + 1, close), depth + 1, links) });
        i = close + 1;
        continue;
      }
    }
    if (links && nested && c === '[') {
      const link = matchLink(s, i);
      if (link) {
        flush();
        out.push({ type: 'link', href: link.href, children: parseInline(link.text, depth + 1, false) });
        i = link.end;
        continue;
      }
    }
    if (links && (c === 'h' || c === 'H') && !WORD_CHAR.test(prev)) {
      const bare = matchBareUrl(s, i);
      if (bare) {
        flush();
        out.push({ type: 'link', href: bare.href, children: [{ type: 'text', text: bare.text }] });
        i += bare.text.length;
        continue;
      }
    }
    if (c === '@' && !NAME_CHAR.test(prev)) {
      let end = i + 1;
      while (end < s.length && NAME_CHAR.test(s[end])) end += 1;
      while (end > i + 1 && s[end - 1] === '.') end -= 1; // a sentence's full stop is not part of the name
      if (end > i + 1) {
        flush();
        out.push({ type: 'mention', name: s.slice(i + 1, end) });
        i = end;
        continue;
      }
    }
    text += c;
    i += 1;
  }
  flush();
  return out;
}

/** Where the next run of exactly `n` backticks from `from` starts, or -1. */
function findBacktickRun(s, from, n) {
  let i = s.indexOf('`', from);
  while (i >= 0) {
    let run = 1;
    while (s[i + run] === '`') run += 1;
    if (run === n) return i;
    i = s.indexOf('`', i + run);
  }
  return -1;
}

/**
 * Where the emphasis opened before `from` by `marker` closes, or -1: the content starts and ends with
 * something other than white space, and an `_` closes only at the end of a word (so `snake_case` stays).
 */
function findCloser(s, from, marker, wordEnd) {
  if (from >= s.length || /\s/.test(s[from]) || s.startsWith(marker, from)) return -1;
  let i = s.indexOf(marker, from + 1);
  while (i >= 0) {
    const before = s[i - 1];
    const after = s[i + marker.length] ?? '';
    const doubled = marker.length === 1 && after === marker; // `*a**`: leave `**` to bold
    if (!/\s/.test(before) && !doubled && !(wordEnd && WORD_CHAR.test(after))) return i;
    i = s.indexOf(marker, i + 1);
  }
  return -1;
}

/** `[text](url)` at `i` with an http(s) URL: its parts and where it ends; else null. */
function matchLink(s, i) {
  const close = s.indexOf(']', i + 1);
  if (close < 0 || s[close + 1] !== '(') return null;
  const text = s.slice(i + 1, close);
  if (!text || text.includes('[')) return null;
  // The URL: no white space, parentheses balanced (Wikipedia's `..._(film)`).
  let depth = 0;
  let end = close + 2;
  for (; end < s.length; end += 1) {
    const ch = s[end];
    if (/\s/.test(ch)) return null;
    if (ch === '(') depth += 1;
    else if (ch === ')') {
      if (depth === 0) break;
      depth -= 1;
    }
  }
  if (end >= s.length) return null;
  const href = safeHref(s.slice(close + 2, end));
  return href ? { text, href, end: end + 1 } : null;
}

/** A bare http(s) URL at `i`, without the punctuation that ends a sentence around it; else null. */
function matchBareUrl(s, i) {
  BARE_URL.lastIndex = i;
  const m = BARE_URL.exec(s);
  if (!m) return null;
  let url = m[0];
  for (;;) {
    const last = url[url.length - 1];
    if (/[.,:;!?*_]/.test(last)) url = url.slice(0, -1);
    else if (last === ')' && count(url, '(') < count(url, ')')) url = url.slice(0, -1);
    else if (last === ']') url = url.slice(0, -1);
    else break;
  }
  const href = safeHref(url);
  return href ? { text: url, href } : null;
}

function count(s, ch) {
  let n = 0;
  for (const c of s) if (c === ch) n += 1;
  return n;
}

/**
 * The DOM of `text` as a fragment: `<p>` paragraphs (lines kept as `<br>`), `<pre><code>` blocks,
 * `<blockquote>`s, `<strong>`, `<em>`, `<code>`, `<a>` and `<span class="mention">` (with `mention-me`
 * for `me`'s own name, and for `@here`, `@room` and its other names `@channel` and `@all`).
 * @param {string} text
 * @param {object} [options]
 * @param {string} [options.me] the name of the one looking
 * @param {Document} [options.doc] the document to build in
 * @returns {DocumentFragment}
 */
export function render(text, { me = '', doc = document } = {}) {
  const fragment = doc.createDocumentFragment();
  const mine = me.toLowerCase();
  appendBlocks(fragment, parse(text), doc, mine);
  return fragment;
}

function appendBlocks(parent, blocks, doc, me) {
  for (const block of blocks) {
    if (block.type === 'paragraph') {
      const p = doc.createElement('p');
      p.className = 'md-p';
      appendInline(p, block.children, doc, me);
      parent.append(p);
    } else if (block.type === 'codeblock') {
      const pre = doc.createElement('pre');
      pre.className = 'md-pre';
      const code = doc.createElement('code');
      code.textContent = block.text;
      pre.append(code);
      parent.append(pre);
    } else {
      const quote = doc.createElement('blockquote');
      quote.className = 'md-quote';
      appendBlocks(quote, block.children, doc, me);
      parent.append(quote);
    }
  }
}

function appendInline(parent, nodes, doc, me) {
  for (const node of nodes) {
    switch (node.type) {
      case 'text':
        parent.append(doc.createTextNode(node.text));
        break;
      case 'break':
        parent.append(doc.createElement('br'));
        break;
      case 'code': {
        const code = doc.createElement('code');
        code.className = 'md-code';
        code.textContent = node.text;
        parent.append(code);
        break;
      }
      case 'strong':
      case 'em': {
        const el = doc.createElement(node.type);
        appendInline(el, node.children, doc, me);
        parent.append(el);
        break;
      }
      case 'link': {
        const a = doc.createElement('a');
        a.href = node.href;
        a.target = '_blank';
        a.rel = LINK_REL;
        a.className = 'md-link';
        appendInline(a, node.children, doc, me);
        parent.append(a);
        break;
      }
      case 'mention': {
        const span = doc.createElement('span');
        const name = node.name.toLowerCase();
        const mine = (me && name === me) || EVERYONE.has(name);
        span.className = mine ? 'mention mention-me' : 'mention';
        span.textContent = '@' + node.name;
        parent.append(span);
        break;
      }
      default:
        break;
    }
  }
}

/**
 * The names `text` mentions with an `@`, as written (outside code), in order: what the page guesses
 * before the server's `mentions` say.
 * @param {string} text
 * @returns {string[]}
 */
export function mentionsOf(text) {
  /** @type {string[]} */
  const names = [];
  const walk = (nodes) => {
    for (const node of nodes) {
      if (node.type === 'mention') names.push(node.name);
      else if ('children' in node) walk(node.children);
    }
  };
  for (const block of parse(text)) walk(block.type === 'codeblock' ? [] : block.children);
  return names;
}

/**
 * `text` without its Markdown, on one line: what a snippet of it shows (`**Friday**` reads `Friday`).
 * @param {string} text
 * @returns {string}
 */
export function plainText(text) {
  const parts = [];
  const inline = (nodes) => {
    for (const node of nodes) {
      if (node.type === 'text' || node.type === 'code') parts.push(node.text);
      else if (node.type === 'mention') parts.push('@' + node.name);
      else if (node.type === 'break') parts.push(' ');
      else if ('children' in node) inline(node.children);
    }
  };
  const blocks = (list) => {
    for (const block of list) {
      if (block.type === 'codeblock') parts.push(block.text);
      else if (block.type === 'quote') blocks(block.children);
      else inline(block.children);
      parts.push(' ');
    }
  };
  blocks(parse(text));
  return parts.join('').replace(/\s+/g, ' ').trim();
}
