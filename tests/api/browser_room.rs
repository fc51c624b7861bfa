//! The live room page and the lobby in real browsers (tests/api/chromium.rs drives them): two members see
//! each other come, type, edit, delete and go; scrolling up pages older messages in without moving the
//! view while the live log keeps flowing; the lobby counts people and a member's unread messages without a
//! reload; axe-core finds no serious or critical problem on either page, light or dark, wide or narrow; and
//! the screenshots in docs/screenshots/ are taken along the way.

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::chromium::{
    ENTER, axe_source, axe_violations, emulate, room_log_of, screenshot_to, type_message,
    wait_for_room_log, wait_open, wait_until, with_browsers,
};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_in_a_room_see_each_other_arrive_type_edit_delete_and_leave() {
    with_browsers(2, |browsers, node| async move {
        let origin = node.origin;
        let [ada, bob]: [Client; 2] = browsers.try_into().expect("two browsers");
        sign_up(&ada, &origin, "ada").await;
        sign_up(&bob, &origin, "bob").await;
        enter(&ada, &origin, "live").await;
        enter(&bob, &origin, "live").await;

        // Presence: both pages list both; ada, there first, sees bob arrive.
        wait_for_people(&ada, &["ada", "bob"]).await;
        wait_for_people(&bob, &["ada", "bob"]).await;
        wait_for_system_line(&ada, "bob joined").await;

        // Typing shows on the other page, not on your own; the message itself clears it.
        input(&bob).await.send_keys("hello ad").await.expect("type");
        let typing = wait_until(
            &ada,
            "return document.getElementById('typing').textContent",
            "ada sees bob typing",
        )
        .await;
        assert_eq!(typing, "bob is typing…");
        let own = script(&bob, "return document.getElementById('typing').textContent").await;
        assert_eq!(own, "", "your own typing is not shown to you");
        input(&bob)
            .await
            .send_keys(&format!("a{ENTER}"))
            .await
            .expect("type");
        wait_for_room_log(&ada, "bob: hello ada\n").await;
        wait_for_room_log(&bob, "bob: hello ada\n").await;
        wait_until(
            &ada,
            "return document.getElementById('typing').textContent === ''",
            "the typing line clears when bob's message arrives",
        )
        .await;
        let id = id_of(&bob, "hello ada").await;
        let own_on = |page: &Client| {
            let page = page.clone();
            async move {
                script(
                    &page,
                    &format!("return document.querySelector('li.msg[data-id=\"{id}\"]').classList.contains('own')"),
                )
                .await
            }
        };
        assert_eq!(own_on(&bob).await, true, "bob's message is marked as his on his page");
        assert_eq!(own_on(&ada).await, false, "and not on ada's");

        // An edit with the keyboard: Up in the empty box takes bob's last message; Enter saves it.
        input(&bob).await.send_keys(ARROW_UP).await.expect("up");
        wait_until(
            &bob,
            "return document.getElementById('chat-message-input').value === 'hello ada'",
            "Up puts bob's last message in the box",
        )
        .await;
        input(&bob)
            .await
            .send_keys(&format!("{CONTROL}a{RELEASE}hello ada, edited{ENTER}"))
            .await
            .expect("type the edit");
        for page in [&ada, &bob] {
            let log = wait_for_room_log(page, "bob: hello ada, edited [edited]\n").await;
            assert_eq!(log.matches("hello ada").count(), 1, "edited in place:\n{log}");
        }

        // A delete from the message's menu, keyboard only: Enter opens it on Edit, Down, Enter, Enter.
        type_message(&ada, "a mistake").await;
        let mistake = id_of(&bob, "a mistake").await;
        let button = format!("li.msg[data-id=\"{mistake}\"] .msg-menu-button");
        assert_eq!(
            script(&bob, &format!("return document.querySelector('{button}') === null")).await,
            true,
            "bob gets no menu on ada's message (not his, and he is not staff)"
        );
        ada.find(Locator::Css(&button))
            .await
            .expect("ada's menu button")
            .send_keys(ENTER)
            .await
            .expect("open the menu");
        wait_until(
            &ada,
            "return document.activeElement?.dataset.action === 'edit'",
            "the menu opens with focus on Edit",
        )
        .await;
        for (key, then) in [
            (ARROW_DOWN, "delete"),
            (ENTER, "confirm-delete"),
        ] {
            ada.active_element()
                .await
                .expect("focus")
                .send_keys(key)
                .await
                .expect("key");
            wait_until(
                &ada,
                &format!("return document.activeElement?.dataset.action === '{then}'"),
                &format!("focus on {then}"),
            )
            .await;
        }
        ada.active_element()
            .await
            .expect("focus")
            .send_keys(ENTER)
            .await
            .expect("confirm");
        for page in [&ada, &bob] {
            let log = wait_for_room_log(page, "ada: [deleted]\n").await;
            assert!(!log.contains("a mistake"), "{log}");
        }
        assert_eq!(
            script(&ada, "return document.getElementById('message-menu').hidden").await,
            true,
            "the menu closed"
        );

        // Near the byte limit a counter shows (multi-byte text counted in bytes); over it nothing is
        // sent and a notice says why.
        let counter = script(
            &ada,
            "const box = document.getElementById('chat-message-input');
             const max = Number(document.getElementById('room').dataset.maxBytes);
             box.value = 'é'.repeat(Math.ceil(max * 0.45));
             box.dispatchEvent(new Event('input'));
             return [document.getElementById('byte-counter').textContent, Math.ceil(max * 0.45) * 2, max];",
        )
        .await;
        assert_eq!(
            counter[0],
            format!("{} / {} bytes", counter[1], counter[2]),
            "{counter}"
        );
        script(
            &ada,
            "const box = document.getElementById('chat-message-input');
             box.value = 'x'.repeat(Number(document.getElementById('room').dataset.maxBytes) + 1);
             box.dispatchEvent(new Event('input'));
             return true;",
        )
        .await;
        input(&ada).await.send_keys(ENTER).await.expect("Enter");
        wait_until(
            &ada,
            "return Array.from(document.querySelectorAll('#chat-log li.system.notice'))
                 .some((li) => li.textContent.includes('limited to'))",
            "a notice about the limit",
        )
        .await;
        assert_eq!(
            script(&ada, "return document.querySelectorAll('#chat-log li.pending, #chat-log li.failed').length").await,
            0,
            "nothing was sent"
        );

        // Closing bob's browser: ada sees him leave.
        bob.close().await.expect("close bob's browser");
        wait_for_system_line(&ada, "bob left").await;
        wait_for_people(&ada, &["ada"]).await;
    })
    .await;
}

/// The ids of the messages shown, in page order.
const SHOWN_IDS: &str = "return Array.from(document.querySelectorAll('#chat-log li.msg[data-id]'), (li) => Number(li.dataset.id))";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_up_loads_older_messages_without_moving_the_view_while_new_ones_keep_coming() {
    with_browsers(1, |browsers, node| async move {
        let page = browsers[0].clone();
        let mut seeder = crate::helpers::connect(node.addr, "/ws/chat/long/").await;
        let acked = seeder.send_acked("old", 300).await;
        assert_eq!(acked.len(), 300);
        enter(&page, &node.origin, "long").await;
        let ids = script(&page, SHOWN_IDS).await;
        let ids: Vec<u64> = serde_json::from_value(ids).expect("ids");
        assert_eq!(
            ids,
            (251..=300).collect::<Vec<_>>(),
            "the first paint: the last 50"
        );

        // To the top: the next page goes in above, and the text that was at the top stays put.
        let before = script(
            &page,
            "const log = document.getElementById('chat-log');
             log.scrollTop = 0;
             const first = log.querySelector('li.msg[data-id=\"251\"] .body');
             return first.getBoundingClientRect().top - log.getBoundingClientRect().top;",
        )
        .await;
        wait_until(
            &page,
            "return document.querySelectorAll('#chat-log li.msg').length >= 100",
            "an older page loads",
        )
        .await;
        let offset = |page: &Client| {
            let page = page.clone();
            async move {
                script(
                    &page,
                    "const log = document.getElementById('chat-log');
                     const first = log.querySelector('li.msg[data-id=\"251\"] .body');
                     return first.getBoundingClientRect().top - log.getBoundingClientRect().top;",
                )
                .await
                .as_f64()
                .expect("a number")
            }
        };
        let after = offset(&page).await;
        let before = before.as_f64().expect("a number");
        assert!(
            (after - before).abs() <= 2.0,
            "the view jumped: message 251 was {before}px from the top, now {after}px"
        );
        assert_eq!(
            script(
                &page,
                "return document.getElementById('jump-newest').hidden"
            )
            .await,
            false,
            "scrolled up: the jump-to-newest button shows"
        );

        // The live log keeps flowing meanwhile, at the bottom, without moving what is being read.
        seeder.say("live while reading").await;
        wait_for_room_log(&page, "anonymous (guest): live while reading\n").await;
        let still = offset(&page).await;
        assert!(
            (still - after).abs() <= 2.0,
            "a live message moved the view: {after}px -> {still}px"
        );

        // All the way up: every message once, in order, and the start of the room says so.
        wait_until(
            &page,
            "document.getElementById('chat-log').scrollTop = 0;
             return document.querySelectorAll('#chat-log li.msg').length >= 301",
            "every older page loads",
        )
        .await;
        let ids: Vec<u64> = serde_json::from_value(script(&page, SHOWN_IDS).await).expect("ids");
        assert_eq!(
            ids,
            (1..=301).collect::<Vec<_>>(),
            "each message once, in order"
        );
        let start = wait_until(
            &page,
            "const t = document.getElementById('log-start-text').textContent;
             return t.startsWith('This is the start') ? t : ''",
            "the start of the room",
        )
        .await;
        assert_eq!(start, "This is the start of long.");

        // Jump to newest: back at the bottom, the button gone.
        page.find(Locator::Id("jump-newest"))
            .await
            .expect("jump button")
            .click()
            .await
            .expect("click");
        wait_until(
            &page,
            "const log = document.getElementById('chat-log');
             return log.scrollHeight - log.scrollTop - log.clientHeight < 48
                 && document.getElementById('jump-newest').hidden",
            "at the newest message",
        )
        .await;
    })
    .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lobby_counts_people_in_a_room_and_a_members_unread_messages_without_a_reload() {
    with_browsers(2, |browsers, node| async move {
        let origin = node.origin;
        let [ada, guest]: [Client; 2] = browsers.try_into().expect("two browsers");
        sign_up(&ada, &origin, "ada").await;
        enter(&guest, &origin, "news").await;
        type_message(&guest, "first news").await;
        enter(&ada, &origin, "news").await;
        wait_for_room_log(&ada, "anonymous (guest): first news\n").await;

        // Ada has read it and gone to the lobby: nothing unread there, one person (the guest) in it.
        ada.goto(&origin).await.expect("lobby");
        let news = wait_for_lobby_room(
            &ada,
            "news",
            "li.dataset.unread === '0' && li.dataset.members === '1'",
        )
        .await;
        assert!(news["text"].as_str().unwrap_or_default().contains("1 here"), "{news}");

        // The guest speaks twice: the lobby shows two unread without a reload.
        let marker = script(&ada, "window.__sameLobby = true; return true").await;
        assert_eq!(marker, true);
        type_message(&guest, "second news").await;
        type_message(&guest, "third news").await;
        wait_for_room_log(&guest, "third news\n").await;
        let news = wait_for_lobby_room(&ada, "news", "li.dataset.unread === '2'").await;
        assert_eq!(news["members"], "1", "{news}");
        assert_eq!(
            script(&ada, "return window.__sameLobby === true").await,
            true,
            "updated in place, not by reloading"
        );
        let badge = script(
            &ada,
            "return document.querySelector('#room-list li[data-room=\"news\"] .unread').textContent",
        )
        .await;
        assert_eq!(badge, "2 unread");

        // Back in the room, the divider sits before the first unread message.
        enter(&ada, &origin, "news").await;
        let next = wait_until(
            &ada,
            "const d = document.querySelector('#chat-log .unread-divider');
             return d ? d.nextElementSibling.querySelector('.text').textContent : ''",
            "the unread divider",
        )
        .await;
        assert_eq!(next, "second news");
    })
    .await;
}

/// axe-core's serious and critical violations in the page; none when axe-core is not installed (then
/// [`axe_source`] printed a skip notice, or failed the test on CI).
pub async fn axe(page: &Client, source: Option<&str>) -> Vec<String> {
    match source {
        Some(source) => axe_violations(page, source).await,
        None => Vec::new(),
    }
}

/// Where the screenshots go (the README names this folder).
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).expect("docs/screenshots");
    dir
}

/// The widths (with a matching height) and colour schemes every page is checked and photographed in.
pub const VIEWS: [(u32, u32, &str); 4] = [
    (1280, 800, "light"),
    (1280, 800, "dark"),
    (390, 844, "light"),
    (390, 844, "dark"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_pages_pass_axe_wide_and_narrow_light_and_dark_and_are_photographed() {
    with_browsers(2, |browsers, node| async move {
        let origin = node.origin;
        let [ada, guest]: [Client; 2] = browsers.try_into().expect("two browsers");
        // A room with some life in it: a guest, ada's own messages (one edited, one deleted), other rooms.
        let mut other = crate::helpers::connect(node.addr, "/ws/chat/random/").await;
        other.say("anyone around?").await;
        other.next_message().await;
        sign_up(&ada, &origin, "ada").await;
        guest.goto(&origin).await.expect("lobby");
        guest
            .find(Locator::Id("nickname-input"))
            .await
            .expect("nickname box")
            .send_keys("grace")
            .await
            .expect("type");
        guest
            .find(Locator::Id("room-name-input"))
            .await
            .expect("room box")
            .send_keys(&format!("design{ENTER}"))
            .await
            .expect("type");
        wait_open(&guest).await;
        type_message(&guest, "Morning! Shall we look at the new room page?").await;
        enter(&ada, &origin, "design").await;
        type_message(&ada, "Yes, one moment").await;
        type_message(&ada, "I put the screenshots in docs/screenshots").await;
        type_message(&ada, "a typo").await;
        let typo = id_of(&ada, "a typo").await;
        script(
            &ada,
            &format!(
                "document.querySelector('li.msg[data-id=\"{typo}\"] .msg-menu-button').click();
                      document.querySelector('#message-menu [data-action=delete]').click();
                      document.querySelector('#message-menu [data-action=confirm-delete]').click();
                      return true;"
            ),
        )
        .await;
        wait_for_room_log(&ada, "ada: [deleted]\n").await;
        input(&ada).await.send_keys(ARROW_UP).await.expect("up");
        input(&ada)
            .await
            .send_keys(&format!(
                "{CONTROL}a{RELEASE}I put the screenshots in docs/screenshots/{ENTER}"
            ))
            .await
            .expect("edit");
        wait_for_room_log(&ada, "docs/screenshots/ [edited]\n").await;

        // Ada goes to the lobby; grace says more: unread in the lobby, a divider in the room.
        ada.goto(&origin).await.expect("lobby");
        wait_for_lobby_room(&ada, "design", "li.dataset.unread === '0'").await;
        type_message(&guest, "Looks good in dark mode too.").await;
        type_message(
            &guest,
            "And at 390 px the people list folds into one line above the log.",
        )
        .await;
        wait_for_lobby_room(&ada, "design", "li.dataset.unread === '2'").await;

        let dir = screenshot_dir();
        let axe_js = axe_source();
        let mut problems = Vec::new();
        for (width, height, scheme) in VIEWS {
            emulate(&ada, width, height, scheme).await;
            ada.refresh().await.expect("reload the lobby");
            wait_for_lobby_room(&ada, "design", "li.dataset.unread === '2'").await;
            for v in axe(&ada, axe_js.as_deref()).await {
                problems.push(format!("lobby {width} {scheme}: {v}"));
            }
            screenshot_to(&ada, &dir.join(format!("lobby-{width}-{scheme}.png"))).await;
        }
        enter(&ada, &origin, "design").await;
        for (width, height, scheme) in VIEWS {
            emulate(&ada, width, height, scheme).await;
            // Grace keeps typing, so the typing line shows.
            input(&guest).await.send_keys("s").await.expect("type");
            wait_until(
                &ada,
                "return document.getElementById('typing').textContent === 'grace is typing…'
                    && document.querySelector('#chat-log .unread-divider') !== null
                    && document.querySelectorAll('#people li').length === 2",
                "the room in full",
            )
            .await;
            for v in axe(&ada, axe_js.as_deref()).await {
                problems.push(format!("room {width} {scheme}: {v}"));
            }
            screenshot_to(&ada, &dir.join(format!("room-{width}-{scheme}.png"))).await;
        }
        // The message menu, open.
        emulate(&ada, 1280, 800, "light").await;
        let own = id_of(&ada, "Yes, one moment").await;
        ada.find(Locator::Css(&format!(
            "li.msg[data-id=\"{own}\"] .msg-menu-button"
        )))
        .await
        .expect("menu button")
        .click()
        .await
        .expect("open the menu");
        wait_until(
            &ada,
            "return !document.getElementById('message-menu').hidden",
            "the menu opens",
        )
        .await;
        for v in axe(&ada, axe_js.as_deref()).await {
            problems.push(format!("room with its menu open: {v}"));
        }
        assert!(
            problems.is_empty(),
            "axe-core found serious or critical problems:\n{}",
            problems.join("\n")
        );
        assert!(!room_log_of(&ada).await.is_empty());
    })
    .await;
}
