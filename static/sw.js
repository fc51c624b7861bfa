/**
 * @file chatweb's service worker (served at /sw.js, scope /): shows each Web Push as a notification and,
 * on a click, focuses a tab already on that message, or takes a tab on the room there, or opens one. The
 * push's data is the JSON the server sends: {room, id, user, text, url, more} (docs/PROTOCOL.md).
 */

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = { text: event.data ? event.data.text() : '' };
  }
  const title = data.user ? data.user + (data.room ? ' in ' + data.room : '') : 'chatweb';
  event.waitUntil(self.registration.showNotification(title, {
    body: data.text || '',
    // One notification per room: a newer push replaces the older one.
    tag: 'chatweb-' + (data.room || ''),
    renotify: true,
    data: { url: data.url || '/', room: data.room, id: data.id },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || '/', self.location.origin);
  event.waitUntil((async () => {
    const tabs = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const exact = tabs.find((tab) => tab.url === url.href);
    if (exact) return exact.focus();
    const onRoom = tabs.find((tab) => new URL(tab.url).pathname === url.pathname);
    if (onRoom && 'navigate' in onRoom) {
      const moved = await onRoom.navigate(url.href);
      return (moved || onRoom).focus();
    }
    return self.clients.openWindow(url.href);
  })());
});
