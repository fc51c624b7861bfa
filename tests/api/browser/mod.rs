//! The pages in real browsers (tests/api/chromium.rs drives them): messages between pages and rooms
//! (`messages`), people signing up, guests and the admin's deletions (`people`), the live room
//! (`live`), scrolling back (`scrolling`), the lobby (`lobby`), Markdown against the XSS list (`markdown`),
//! threads and reactions between two pages (`threads`), mentions, pins, the topic and the hidden tab
//! (`conversations`), search and opening a room at a hit (`search`), files dropped, pasted and shown
//! (`files`), a room's outgoing webhooks from its page (`hooks`), and accessibility with the
//! screenshots in docs/screenshots/ (`axe`, `threads`, `search`, `files`). The helpers below sign people
//! up and drive the room page.

mod axe;
mod conversations;
mod files;
mod hooks;
mod live;
mod lobby;
mod markdown;
mod members;
mod messages;
mod people;
mod push;
mod scrolling;
mod search;
mod threads;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::chromium::{ENTER, wait_open, wait_until};
use crate::helpers::PATIENCE;
use crate::people::PASSWORD;

/// WebDriver key codes.
const ARROW_UP: &str = "\u{E013}";
const ARROW_DOWN: &str = "\u{E015}";
const CONTROL: &str = "\u{E009}";
/// Releases held modifier keys.
const RELEASE: &str = "\u{E000}";

/// Signs `name` up through the signup form; returns once the page says who is signed in.
pub async fn sign_up(page: &Client, origin: &str, name: &str) {
    page.goto(&format!("{origin}/accounts/signup/"))
        .await
        .expect("signup page");
    for (id, text) in [
        ("id_username", name.to_owned()),
        ("id_password1", PASSWORD.to_owned()),
        ("id_password2", format!("{PASSWORD}{ENTER}")),
    ] {
        page.find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"))
            .send_keys(&text)
            .await
            .expect("type");
    }
    // The form's page is replaced by the one the sign-up redirects to: read `#whoami` until the new page
    // says who is signed in (an element of the old page may go stale under us meanwhile).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let whoami = match page.find(Locator::Css("#whoami")).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if whoami == name {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "signed in after signing up: #whoami says {whoami:?}"
        );
        tokio::time::sleep(crate::chromium::DOM_POLL).await;
    }
}

/// Opens room `room` and waits for its socket.
async fn enter(page: &Client, origin: &str, room: &str) {
    page.goto(&format!("{origin}/chat/{room}/"))
        .await
        .expect("room page");
    wait_open(page).await;
}

async fn input(page: &Client) -> fantoccini::elements::Element {
    page.find(Locator::Id("chat-message-input"))
        .await
        .expect("message box")
}

/// Waits until the "Here now" list names exactly `names` (sorted).
async fn wait_for_people(page: &Client, names: &[&str]) {
    let want = serde_json::to_string(names).expect("json");
    let script = format!(
        "return JSON.stringify(Array.from(document.querySelectorAll('#people li'), (li) => li.dataset.user)) === {want:?}"
    );
    wait_until(page, &script, &format!("the people list shows {want}")).await;
}

/// Waits until a system line (join/leave) reads `text`.
async fn wait_for_system_line(page: &Client, text: &str) {
    let script = format!(
        "return Array.from(document.querySelectorAll('#chat-log li.system .system-text'), (s) => s.textContent).includes({text:?})"
    );
    wait_until(page, &script, &format!("a system line {text:?}")).await;
}

/// The id of the newest message whose text is `text`.
async fn id_of(page: &Client, text: &str) -> u64 {
    let script = format!(
        "const li = Array.from(document.querySelectorAll('#chat-log li.msg[data-id]')).reverse()
           .find((li) => li.querySelector('.text')?.textContent === {text:?});
         return li ? Number(li.dataset.id) : 0;"
    );
    let id = wait_until(page, &script, &format!("a message {text:?}")).await;
    id.as_u64().expect("an id")
}

async fn script(page: &Client, body: &str) -> Value {
    page.execute(body, vec![]).await.expect("script runs")
}

/// The lobby's entry for `room` (its data attributes and text) once `condition` (JS on `li`) holds;
/// polled, bounded by `PATIENCE`, the list printed when it never does.
async fn wait_for_lobby_room(page: &Client, room: &str, condition: &str) -> Value {
    let script = format!(
        "const li = document.querySelector('#room-list li[data-room=\"{room}\"]');
         const entry = li && {{ members: li.dataset.members, unread: li.dataset.unread, text: li.textContent }};
         return {{ entry, ok: Boolean(li && ({condition})),
                   list: document.getElementById('room-list').textContent.replace(/\\s+/g, ' ') }};"
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let value = page.execute(&script, vec![]).await.expect("lobby script");
        if value["ok"] == true {
            return value["entry"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lobby's {room} never met {condition} within {PATIENCE:?}: {value}"
        );
        tokio::time::sleep(crate::chromium::DOM_POLL).await;
    }
}
