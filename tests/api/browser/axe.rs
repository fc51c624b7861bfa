//! axe-core finds no serious or critical problem on the room page or the lobby, light or dark, wide or
//! narrow; the screenshots in docs/screenshots/ are taken along the way.

use std::path::PathBuf;

use fantoccini::{Client, Locator};

use super::{
    ARROW_UP, CONTROL, RELEASE, enter, id_of, input, script, sign_up, wait_for_lobby_room,
};
use crate::chromium::{
    ENTER, axe_source, axe_violations, emulate, room_log_of, screenshot_to, type_message,
    wait_for_room_log, wait_open, wait_until, with_browsers,
};

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
