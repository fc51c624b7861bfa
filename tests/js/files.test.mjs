// Unit tests of static/message-files.js's arithmetic: sizes in words, the size an image is shown at (its
// own, or shrunk to fit 400 x 400 with its shape kept), and which files show as images. The DOM it builds
// is checked in Chromium by tests/api/browser/files.rs. Run: `node --test tests/js/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanSize, previewSize, isImage, PREVIEW_BOX } from '../../static/message-files.js';

test('sizes read as bytes, KB, MB and GB, one decimal below ten', () => {
  assert.equal(humanSize(0), '0 bytes');
  assert.equal(humanSize(1), '1 byte');
  assert.equal(humanSize(1023), '1023 bytes');
  assert.equal(humanSize(1024), '1 KB');
  assert.equal(humanSize(1536), '1.5 KB');
  assert.equal(humanSize(1.2 * 1024 * 1024), '1.2 MB');
  assert.equal(humanSize(25 * 1024 * 1024), '25 MB');
  assert.equal(humanSize(3 * 1024 ** 3), '3 GB');
  assert.equal(humanSize(-5), '0 bytes');
  assert.equal(humanSize(undefined), '0 bytes');
});

test('an image is shown at its own size up to 400 x 400, larger ones shrunk with their shape kept', () => {
  assert.equal(PREVIEW_BOX, 400);
  assert.deepEqual(previewSize(120, 80), { width: 120, height: 80 });
  assert.deepEqual(previewSize(800, 600), { width: 400, height: 300 });
  assert.deepEqual(previewSize(600, 1200), { width: 200, height: 400 });
  assert.deepEqual(previewSize(10000, 10), { width: 400, height: 1 }, 'never 0 px');
});

test('PNG, JPEG, GIF and WebP with a size are images; SVG, PDF and sizeless ones are cards', () => {
  const file = (type, width = 10, height = 10) => ({ type, width, height });
  for (const type of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) assert.ok(isImage(file(type)), type);
  assert.ok(!isImage(file('image/svg+xml')));
  assert.ok(!isImage(file('application/pdf')));
  assert.ok(!isImage(file('image/png', null, null)));
  assert.ok(!isImage(file('image/png', 0, 10)));
});
