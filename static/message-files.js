/**
 * @file A message's attached files as DOM (the room's log, threads, pins): an image (PNG, JPEG, GIF,
 * WebP with its size known) as its thumbnail inside a link that opens it full size in a new tab, its
 * width and height set from the start (scaled to fit {@link PREVIEW_BOX}) so the log does not jump as it
 * loads; any other file as a card with its name, type and size that downloads it. Names only ever go in
 * as text or attribute values; a URL that is not http(s) on being resolved gets no link.
 */

/**
 * @typedef {import('/static/chatweb-client.js').FileInfo} FileInfo
 */

/** Previews fit in this many CSS pixels each way (the server's thumbnails are made for the same box). */
export const PREVIEW_BOX = 400;

/** Types shown as images (the ones the server measures and serves inline). */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/**
 * `size` bytes in words: "512 bytes", "1.2 KB", "34 MB" (powers of 1024).
 * @param {number} size
 */
export function humanSize(size) {
  const bytes = Math.max(0, Number(size) || 0);
  if (bytes < 1024) return bytes === 1 ? '1 byte' : bytes + ' bytes';
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return (value < 10 ? value.toFixed(1).replace(/\.0$/, '') : String(Math.round(value))) + ' ' + units[unit];
}

/**
 * The size a `width` x `height` image is shown at: itself, or scaled down to fit the preview box.
 * @param {number} width
 * @param {number} height
 * @returns {{width: number, height: number}}
 */
export function previewSize(width, height) {
  const scale = Math.min(1, PREVIEW_BOX / width, PREVIEW_BOX / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Whether `file` is shown as an image. */
export function isImage(file) {
  return IMAGE_TYPES.has(String(file.type)) && Number(file.width) > 0 && Number(file.height) > 0;
}

/** `url` resolved against the page when it is http(s), else null (never a `javascript:` link). */
function safeUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const resolved = new URL(url, location.href);
    return resolved.protocol === 'http:' || resolved.protocol === 'https:' ? resolved.href : null;
  } catch (e) {
    return null;
  }
}

/**
 * The files of a message, or null when it has none.
 * @param {FileInfo[] | undefined} files
 * @returns {HTMLElement | null}
 */
export function fileList(files) {
  if (!Array.isArray(files) || files.length === 0) return null;
  const list = document.createElement('ul');
  list.className = 'files';
  list.setAttribute('aria-label', files.length === 1 ? 'Attached file' : files.length + ' attached files');
  for (const file of files) {
    if (!file || typeof file !== 'object') continue;
    const item = document.createElement('li');
    item.className = 'file';
    item.append(isImage(file) ? imagePreview(file) : fileCard(file));
    list.append(item);
  }
  return list;
}

/** An image's thumbnail (or itself) at its reserved size, linking to the full image in a new tab. */
function imagePreview(file) {
  const name = String(file.name);
  const full = safeUrl(file.url);
  const img = document.createElement('img');
  img.className = 'file-image';
  img.alt = name;
  const { width, height } = previewSize(Number(file.width), Number(file.height));
  img.width = width;
  img.height = height;
  img.decoding = 'async';
  img.loading = 'lazy';
  const src = safeUrl(file.thumb_url) || full;
  if (src) img.src = src;
  if (!full) return img;
  const link = document.createElement('a');
  link.className = 'file-image-link';
  link.href = full;
  link.target = '_blank';
  link.rel = 'noopener';
  link.title = name + ' (' + file.width + ' × ' + file.height + ', ' + humanSize(file.size) + '): open full size';
  link.append(img);
  return link;
}

/** A card for a file that is not shown: its name, type and size; a link that downloads it. */
function fileCard(file) {
  const name = String(file.name);
  const href = safeUrl(file.url);
  const card = document.createElement(href ? 'a' : 'span');
  card.className = 'file-card';
  if (href && card instanceof HTMLAnchorElement) {
    card.href = href;
    card.download = name;
  }
  const icon = document.createElement('span');
  icon.className = 'file-icon';
  icon.setAttribute('aria-hidden', 'true');
  icon.textContent = '📄';
  const label = document.createElement('span');
  label.className = 'file-label';
  const title = document.createElement('span');
  title.className = 'file-name';
  title.textContent = name;
  const meta = document.createElement('span');
  meta.className = 'file-meta';
  meta.textContent = (String(file.type || '') || 'file') + ' · ' + humanSize(file.size);
  label.append(title, meta);
  card.append(icon, label);
  return card;
}
