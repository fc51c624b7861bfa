//! The rest of a conversation in two real browsers, in a private room ada owns and bob is a member of:
//! `@` in the compose box suggests names and a mention highlights the message for the one named; while
//! ada's tab is hidden her title counts new messages and, once she allowed it with the button (never asked
//! on load), a mention raises a browser notification; ada pins bob's message and bob sees it pinned, in
//! the Pinned panel too; a topic set through the API shows under the room's name at once; the lobby shows
//! a mention badge.

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use super::{enter, id_of, input, script, sign_up, wait_for_people};
use crate::chromium::{ENTER, cdp, click_css, emulate, type_message, wait_until, with_browsers};

const ESCAPE: &str = "\u{E00C}";

/// Calls the API from `page` as its own script would (the session cookie and the CSRF header); returns
/// the status.
async fn api(page: &Client, method: &str, path: &str, body: Value) -> u64 {
    let status = page
        .execute_async(
            "const [method, path, body, done] = arguments;
             const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]*)/) || [])[1] || '';
             fetch(path, { method, credentials: 'same-origin', body: JSON.stringify(body),
                           headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf } })
               .then((r) => done(r.status), (e) => done(String(e)));",
            vec![json!(method), json!(path), body],
        )
        .await
        .expect("fetch runs");
    status
        .as_u64()
        .unwrap_or_else(|| panic!("{method} {path}: {status}"))
}

/// Makes the page believe its tab is hidden (`hidden`) or shown again, as switching tabs would.
async fn set_hidden(page: &Client, hidden: bool) {
    script(
        page,
        &format!(
            "Object.defineProperty(document, 'visibilityState', {{ configurable: true, get: () => '{}' }});
             document.dispatchEvent(new Event('visibilitychange')); return true;",
            if hidden { "hidden" } else { "visible" }
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_the_hidden_tab_pins_and_the_topic_reach_the_other_page_live() {
    with_browsers(2, |browsers, node| async move {
        let origin = node.origin;
        let [ada, bob]: [Client; 2] = browsers.try_into().expect("two browsers");
        for page in [&ada, &bob] {
            emulate(page, 1280, 800, "light").await;
        }
        sign_up(&ada, &origin, "ada").await;
        sign_up(&bob, &origin, "bob").await;
        let made = api(&ada, "POST", "/api/rooms/", json!({"name": "launch", "kind": "private"})).await;
        assert_eq!(made, 201, "ada makes the room");
        let added = api(
            &ada,
            "POST",
            "/api/rooms/launch/members",
            json!({"user": "bob", "role": "member"}),
        )
        .await;
        assert_eq!(added, 201, "ada adds bob");
        enter(&ada, &origin, "launch").await;
        enter(&bob, &origin, "launch").await;
        wait_for_people(&ada, &["ada", "bob"]).await;

        // Nothing asked on load; the button is there.
        let asked = script(
            &ada,
            "return [Notification.permission, document.getElementById('notify-button').hidden]",
        )
        .await;
        assert_eq!(asked, json!(["default", false]));

        // `@a` suggests ada; Enter takes the name, a second Enter sends.
        input(&bob).await.send_keys("@a").await.expect("type");
        wait_until(
            &bob,
            "const list = document.getElementById('compose-mentions');
             return !list.hidden && list.querySelector('[aria-selected=true]')?.textContent === '@ada'",
            "bob is offered @ada",
        )
        .await;
        input(&bob).await.send_keys(ENTER).await.expect("take it");
        let value = script(
            &bob,
            "return document.getElementById('chat-message-input').value",
        )
        .await;
        assert_eq!(value, "@ada ");
        input(&bob)
            .await
            .send_keys(&format!("can you pin this?{ENTER}"))
            .await
            .expect("send");
        let pin_me = id_of(&ada, "@ada can you pin this?").await;
        let marked = script(
            &ada,
            &format!(
                "const li = document.querySelector('#messages li.msg[data-id=\"{pin_me}\"]');
                 return [li.classList.contains('mentions-me'), li.querySelector('.mention-me')?.textContent];"
            ),
        )
        .await;
        assert_eq!(marked, json!([true, "@ada"]), "ada's mention is highlighted for her");
        let for_bob = script(
            &bob,
            &format!(
                "return document.querySelector('#messages li.msg[data-id=\"{pin_me}\"]').classList.contains('mentions-me')"
            ),
        )
        .await;
        assert_eq!(for_bob, false, "not for the one who wrote it");

        // Ada allows notifications with the button, then hides the tab: the title counts, a mention notifies.
        cdp(
            &ada,
            "Browser.grantPermissions",
            json!({"permissions": ["notifications"], "origin": origin}),
        )
        .await;
        script(
            &ada,
            "window.__notes = [];
             const Real = window.Notification;
             window.Notification = class extends Real {
               constructor(title, options) { window.__notes.push([title, options.body]); super(title, options); }
             };
             return true;",
        )
        .await;
        ada.find(Locator::Id("notify-button"))
            .await
            .expect("button")
            .click()
            .await
            .expect("allow");
        wait_until(
            &ada,
            "return document.getElementById('notify-state').textContent === 'Notifications on'",
            "the page says notifications are on",
        )
        .await;
        set_hidden(&ada, true).await;
        type_message(&bob, "@ada ping").await;
        type_message(&bob, "and a plain one").await;
        wait_until(
            &ada,
            "return document.title === '(2) launch · chatweb'",
            "the hidden tab's title counts two",
        )
        .await;
        let notes = script(&ada, "return window.__notes").await;
        assert_eq!(
            notes,
            json!([["bob in launch", "@ada ping"]]),
            "one notification, for the mention"
        );
        set_hidden(&ada, false).await;
        wait_until(
            &ada,
            "return document.title === 'launch · chatweb'",
            "the title loses its count when the tab shows",
        )
        .await;

        // Ada (the owner) pins bob's message from its menu; bob sees it pinned, and in the panel.
        let menu = format!("#messages li.msg[data-id=\"{pin_me}\"] .msg-menu-button");
        click_css(&ada, &menu).await;
        ada.find(Locator::Css("#message-menu [data-action=pin]"))
            .await
            .expect("pin item")
            .click()
            .await
            .expect("pin");
        wait_until(
            &bob,
            &format!(
                "return document.querySelector('#messages li.msg[data-id=\"{pin_me}\"] .pin-tag') !== null
                   && document.querySelector('#pins-button .pins-count').textContent === ' (1)'"
            ),
            "bob sees the message pinned and counted",
        )
        .await;
        bob.find(Locator::Id("pins-button"))
            .await
            .expect("Pinned")
            .click()
            .await
            .expect("open the pins");
        let pinned = wait_until(
            &bob,
            "const items = document.querySelectorAll('#pins-panel .pins-list li.pin');
             return items.length === 1 && [items[0].querySelector('.text').textContent,
                                           items[0].querySelector('.pin-by').textContent];",
            "the Pinned panel lists it",
        )
        .await;
        assert_eq!(pinned, json!(["@ada can you pin this?", "pinned by ada"]));
        bob.active_element()
            .await
            .expect("focus")
            .send_keys(ESCAPE)
            .await
            .expect("escape");
        wait_until(
            &bob,
            "return document.getElementById('pins-panel').hidden &&
               document.activeElement === document.getElementById('pins-button')",
            "Escape closes the pins and returns the focus",
        )
        .await;

        // A topic set through the API shows under the room's name on bob's page at once.
        let patched = api(&ada, "PATCH", "/api/rooms/launch", json!({"topic": "Ship on Friday"})).await;
        assert_eq!(patched, 200);
        wait_until(
            &bob,
            "const t = document.getElementById('room-topic'); return !t.hidden && t.textContent === 'Ship on Friday'",
            "bob sees the new topic",
        )
        .await;

        // In the lobby, ada's room shows a mention badge for a mention she has not read.
        ada.goto(&origin).await.expect("lobby");
        type_message(&bob, "@ada one more").await;
        let badge = wait_until(
            &ada,
            "const li = document.querySelector('#my-room-list li[data-room=\"launch\"]');
             const badge = li && Number(li.dataset.mentions) >= 1 && li.querySelector('.mention-badge');
             return badge ? badge.textContent : false;",
            "ada's lobby shows a mention badge on launch",
        )
        .await;
        assert!(
            badge.as_str().unwrap_or_default().ends_with(" of you"),
            "the badge says what it counts: {badge}"
        );
    })
    .await;
}
