// chatweb lobby: keeps a guest's nickname in a cookie and goes to /chat/<room>/ on Enter or the button.
(function () {
  'use strict';
  const form = document.getElementById('room-form');
  const nick = document.getElementById('nickname-input');
  const room = document.getElementById('room-name-input');
  const error = document.getElementById('room-name-error');
  // The server's rule (src/domain/room_name.rs): letters and digits of any script, '-', '_', '.'.
  const ROOM = /^[\p{Alphabetic}\p{N}_.-]{1,64}$/u;

  // Signed-in users have no nickname box: the server knows their name.
  function saveNickname() {
    if (!nick) return;
    const value = nick.value.trim();
    document.cookie = nick.dataset.cookie + '=' + encodeURIComponent(value) +
      '; path=/; max-age=31536000; samesite=lax';
  }

  if (nick) nick.addEventListener('change', saveNickname);
  room.focus();
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    saveNickname();
    const name = room.value.trim();
    if (!ROOM.test(name)) {
      error.textContent = 'Room names are 1 to 64 letters, digits, "-", "_" or ".".';
      return;
    }
    window.location.pathname = '/chat/' + encodeURIComponent(name) + '/';
  });
})();
