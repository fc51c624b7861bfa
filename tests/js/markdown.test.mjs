// Unit tests of static/markdown.js: what each piece of the Markdown subset parses to, that only http and
// https become links, that quotes nest only so deep, and that rendering builds nodes through a document
// that refuses every HTML-from-a-string property (a small fake DOM: Node has none). The same renderer
// meets the XSS list in Chromium in tests/api/browser/markdown.rs. Run: `node --test tests/js/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, parseInline, render, safeHref, mentionsOf, plainText, MAX_QUOTE_DEPTH, LINK_REL } from '../../static/markdown.js';

const text = (t) => ({ type: 'text', text: t });
const para = (...children) => ({ type: 'paragraph', children });

test('plain text is one paragraph of text; line breaks are kept', () => {
  assert.deepEqual(parse('hello'), [para(text('hello'))]);
  assert.deepEqual(parse('a\nb\r\n\nc'), [para(text('a'), { type: 'break' }, text('b'), { type: 'break' }, { type: 'break' }, text('c'))]);
});

test('bold, italic in both spellings, and code spans', () => {
  assert.deepEqual(parseInline('**b** *i* _j_ `c`'), [
    { type: 'strong', children: [text('b')] }, text(' '),
    { type: 'em', children: [text('i')] }, text(' '),
    { type: 'em', children: [text('j')] }, text(' '),
    { type: 'code', text: 'c' },
  ]);
  assert.deepEqual(parseInline('**bold *and italic* too**'), [
    { type: 'strong', children: [text('bold '), { type: 'em', children: [text('and italic')] }, text(' too')] },
  ]);
  assert.deepEqual(parseInline('``a ` b``'), [{ type: 'code', text: 'a ` b' }]);
});

test('what only looks like emphasis stays text', () => {
  for (const s of ['snake_case_name', '2 * 3 * 4', '**', '* a*', 'a_b', '__init__', '`unclosed', '**open', 'window.__pwned=1']) {
    const nodes = parseInline(s);
    assert.deepEqual(nodes, [text(s)], s);
  }
});

test('markup inside code is text', () => {
  assert.deepEqual(parseInline('`**no** [x](http://a.b) @ada <b>`'), [{ type: 'code', text: '**no** [x](http://a.b) @ada <b>' }]);
  assert.deepEqual(parse('```html\n<script>alert(1)</script>\n**x**\n```\nafter'), [
    { type: 'codeblock', lang: 'html', text: '<script>alert(1)</script>\n**x**' },
    para(text('after')),
  ]);
  assert.deepEqual(parse('```\nunclosed\n> not a quote'), [{ type: 'codeblock', lang: '', text: 'unclosed\n> not a quote' }]);
  assert.deepEqual(parse('```code```'), [para({ type: 'code', text: 'code' })]);
});

test('links: http and https only, with their text; bare URLs without the sentence around them', () => {
  assert.deepEqual(parseInline('[the docs](https://example.com/a_(b))'), [
    { type: 'link', href: 'https://example.com/a_(b)', children: [text('the docs')] },
  ]);
  assert.deepEqual(parseInline('see https://example.com/x, or (http://a.b/c).'), [
    text('see '), { type: 'link', href: 'https://example.com/x', children: [text('https://example.com/x')] },
    text(', or ('), { type: 'link', href: 'http://a.b/c', children: [text('http://a.b/c')] }, text(').'),
  ]);
  for (const s of [
    '[x](javascript:alert(1))', '[x](JaVaScRiPt:alert(1))', '[x](data:text/html,<script>alert(1)</script>)',
    '[x](vbscript:msgbox(1))', '[x](/relative)', '[x](//evil.example)', 'javascript:alert(1)',
    '[x]( javascript:alert(1))', '[x](http://a b)',
  ]) {
    const links = parseInline(s).filter((n) => n.type === 'link');
    assert.ok(links.every((l) => /^https?:\/\//.test(l.href)), s + ': ' + JSON.stringify(links));
  }
  assert.deepEqual(parseInline('[x](javascript:alert(1))'), [text('[x](javascript:alert(1))')]);
  // An attribute cannot be smuggled: the URL ends at the quote and is a property, never markup.
  const smuggled = parseInline('[a](http://x" onmouseover="alert(1))').filter((n) => n.type === 'link');
  assert.deepEqual(smuggled.map((l) => l.href), ['http://x/']);
});

test('safeHref accepts absolute http(s) URLs only', () => {
  assert.equal(safeHref('https://example.com'), 'https://example.com/');
  for (const bad of ['javascript:alert(1)', 'data:text/html,x', 'vbscript:x', 'file:///etc/passwd', 'http://', 'ftp://x', ' https://x', 'https:x']) {
    assert.equal(safeHref(bad), null, bad);
  }
});

test('mentions: a name after @, not inside a word or an address, without a full stop', () => {
  assert.deepEqual(parseInline('hi @ada. and @bob_2, mail ada@example.com'), [
    text('hi '), { type: 'mention', name: 'ada' }, text('. and '), { type: 'mention', name: 'bob_2' },
    text(', mail ada@example.com'),
  ]);
  assert.deepEqual(mentionsOf('@ada `@not` @bob\n```\n@nope\n```'), ['ada', 'bob']);
  assert.deepEqual(mentionsOf('@ada\n> @bob'), ['ada', 'bob']);
});

test('plainText leaves the Markdown out, on one line', () => {
  assert.equal(plainText('Shall we ship on **Friday**?\n> _quoted_ `x` [docs](https://e.com) @ada'), 'Shall we ship on Friday? quoted x docs @ada');
  assert.equal(plainText('```\ncode  here\n```'), 'code here');
});

test('quotes nest, at most MAX_QUOTE_DEPTH deep; deeper > marks stay text', () => {
  assert.deepEqual(parse('> a\n> > b\nc'), [
    { type: 'quote', children: [para(text('a')), { type: 'quote', children: [para(text('b'))] }] },
    para(text('c')),
  ]);
  let blocks = parse('>'.repeat(200) + ' deep');
  let depth = 0;
  while (blocks.length === 1 && blocks[0].type === 'quote') {
    blocks = blocks[0].children;
    depth += 1;
  }
  assert.equal(depth, MAX_QUOTE_DEPTH);
  assert.deepEqual(blocks, [para(text('>'.repeat(200 - MAX_QUOTE_DEPTH) + ' deep'))]);
});

test('a long line and a pathological one parse quickly', () => {
  const started = Date.now();
  parse('x'.repeat(5000));
  parse('*a '.repeat(1500));
  parse('[a]('.repeat(1000));
  parse('`'.repeat(3000) + 'a');
  parse('@'.repeat(4000));
  parse('http://a'.repeat(500));
  assert.ok(Date.now() - started < 2000, 'took ' + (Date.now() - started) + ' ms');
});

// ---- rendering through a document that has no HTML parser ------------------------------------------

class FakeNode {
  constructor(tag) {
    this.tag = tag;
    this.children = [];
    this.attributes = {};
  }
  append(...nodes) {
    for (const n of nodes) this.children.push(typeof n === 'string' ? new FakeText(n) : n);
  }
  set textContent(t) { this.children = [new FakeText(t)]; }
  get textContent() { return this.children.map((c) => c.textContent).join(''); }
  set innerHTML(_) { throw new Error('innerHTML used'); }
  set outerHTML(_) { throw new Error('outerHTML used'); }
  insertAdjacentHTML() { throw new Error('insertAdjacentHTML used'); }
  setAttribute(k, v) { this.attributes[k] = v; }
  /** A compact picture: tag[class]{props}(children). */
  toString() {
    const props = ['href', 'target', 'rel'].filter((k) => this[k] !== undefined).map((k) => k + '=' + this[k]);
    const cls = this.className ? '.' + this.className.replace(/ /g, '.') : '';
    return this.tag + cls + (props.length ? '{' + props.join(' ') + '}' : '') + '(' + this.children.join('') + ')';
  }
}
class FakeText {
  constructor(t) { this.textContent = t; }
  toString() { return JSON.stringify(this.textContent); }
}
const fakeDocument = {
  createElement: (tag) => new FakeNode(tag),
  createTextNode: (t) => new FakeText(t),
  createDocumentFragment: () => new FakeNode('#fragment'),
};

test('render builds elements, text nodes and link properties only', () => {
  const out = render('**hi** @ada and @bob: see [docs](https://e.com) `<b>`\n> quoted <img src=x onerror=alert(1)>', { me: 'Ada', doc: /** @type {any} */ (fakeDocument) });
  assert.equal(String(out),
    '#fragment(p.md-p(strong("hi")" "span.mention.mention-me("@ada")" and "span.mention("@bob")": see "' +
    `a.md-link{href=https://e.com/ target=_blank rel=${LINK_REL}}("docs")" "code.md-code("<b>"))` +
    'blockquote.md-quote(p.md-p("quoted <img src=x onerror=alert(1)>")))');
  const everyone = render('@HERE @all @bob', { me: 'ada', doc: /** @type {any} */ (fakeDocument) });
  assert.equal(String(everyone), '#fragment(p.md-p(span.mention.mention-me("@HERE")" "span.mention.mention-me("@all")" "span.mention("@bob")))');
  const code = render('```\n<script>x</script>\n```', { doc: /** @type {any} */ (fakeDocument) });
  assert.equal(String(code), '#fragment(pre.md-pre(code("<script>x</script>")))');
});
