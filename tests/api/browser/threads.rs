//! Conversations in two real browsers: one page replies in a thread and reacts, the other sees both live
//! ("N replies" under the root, the reply in its thread panel, the reaction chip with who reacted); a
//! reply written with the keyboard alone; the thread panel and the reaction picker pass axe, wide and
//! narrow, light and dark, and are photographed for docs/screenshots/.

use fantoccini::{Client, Locator};
use serde_json::Value;

use super::axe::{VIEWS, axe, screenshot_dir};
use super::{ARROW_UP, enter, id_of, script, sign_up, wait_for_people};
use crate::chromium::{
    ENTER, axe_source, click_css, emulate, screenshot_to, type_message, wait_for_room_log,
    wait_until, with_browsers,
};
use crate::helpers::PATIENCE;

/// WebDriver's Shift key (held until released).
const SHIFT: &str = "\u{E008}";
const TAB: &str = "\u{E004}";
const ESCAPE: &str = "\u{E00C}";
const ARROW_RIGHT: &str = "\u{E014}";

/// The CSS selector of message `id` in the room's log.
fn in_log(id: u64) -> String {
    format!("#messages li.msg[data-id=\"{id}\"]")
}

/// Clicks `selector` inside message `id` of the log, as a person would: the message first has the
/// focus (a tap, or the pointer over it), which shows its actions.
async fn click_in_message(page: &Client, id: u64, selector: &str) {
    script(
        page,
        &format!(
            "document.querySelector('{}').focus(); return true;",
            in_log(id)
        ),
    )
    .await;
    click_css(page, &format!("{} {selector}", in_log(id))).await;
}

/// The text of `selector` (inside message `id` of the log), once `condition` (JS on `text`) holds.
async fn wait_for_text(page: &Client, selector: &str, condition: &str, what: &str) -> Value {
    let script = format!(
        "const e = document.querySelector('{selector}'); const text = e ? e.textContent : null;
         return ({condition}) ? (text ?? true) : false;"
    );
    wait_until(page, &script, what).await
}

/// The reaction chips of message `id`: `emoji count pressed label` each.
async fn chips(page: &Client, id: u64) -> Value {
    script(
        page,
        &format!(
            "return Array.from(document.querySelectorAll('{} .chip'), (c) =>
                c.dataset.emoji + ' ' + c.querySelector('.chip-count').textContent + ' ' +
                c.getAttribute('aria-pressed') + ' ' + c.getAttribute('aria-label'));",
            in_log(id)
        ),
    )
    .await
}

/// Waits until message `id` shows exactly the chips `want` (see [`chips`]).
async fn wait_for_chips(page: &Client, id: u64, want: &[&str]) {
    let want = serde_json::to_string(want).expect("json");
    wait_until(
        page,
        &format!(
            "return JSON.stringify(Array.from(document.querySelectorAll('{} .chip'), (c) =>
                c.dataset.emoji + ' ' + c.querySelector('.chip-count').textContent + ' ' +
                c.getAttribute('aria-pressed'))) === {want:?}",
            in_log(id)
        ),
        &format!("message {id} shows the chips {want}"),
    )
    .await;
}

/// Waits until the open thread panel lists exactly the replies `want` (their texts, oldest first).
async fn wait_for_thread(page: &Client, root: u64, want: &[&str]) {
    let want = serde_json::to_string(want).expect("json");
    wait_until(
        page,
        &format!(
            "const panel = document.getElementById('thread-panel');
             return !panel.hidden && panel.dataset.root === '{root}' &&
               panel.querySelector('.thread-root li.msg[data-id=\"{root}\"]') !== null &&
               JSON.stringify(Array.from(panel.querySelectorAll('.thread-replies li.msg .text'),
                 (t) => t.textContent)) === {want:?}"
        ),
        &format!("the thread of {root} lists {want}"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_page_replies_in_a_thread_and_reacts_and_the_other_sees_both_live() {
    with_browsers(2, |browsers, node| async move {
        let origin = node.origin;
        let [ada, bob]: [Client; 2] = browsers.try_into().expect("two browsers");
        for page in [&ada, &bob] {
            emulate(page, 1280, 800, "light").await;
        }
        sign_up(&ada, &origin, "ada").await;
        sign_up(&bob, &origin, "bob").await;
        enter(&ada, &origin, "plans").await;
        enter(&bob, &origin, "plans").await;
        wait_for_people(&ada, &["ada", "bob"]).await;

        type_message(&ada, "Shall we ship on **Friday**?").await;
        let root = id_of(&bob, "Shall we ship on Friday?").await;

        // Bob replies in the thread, from its panel.
        click_in_message(&bob, root, ".reply-button").await;
        wait_until(
            &bob,
            "return document.activeElement === document.getElementById('thread-input')",
            "the thread opens with its composer in focus",
        )
        .await;
        bob.find(Locator::Id("thread-input"))
            .await
            .expect("thread composer")
            .send_keys(&format!("Friday works for me{ENTER}"))
            .await
            .expect("type a reply");
        wait_for_thread(&bob, root, &["Friday works for me"]).await;

        // Ada sees it live: "1 reply" under the root, the reply in the log marked as one.
        wait_for_text(
            &ada,
            &format!("{} .replies-link", in_log(root)),
            "text === '1 reply'",
            "ada sees 1 reply under the root",
        )
        .await;
        let reply = id_of(&ada, "Friday works for me").await;
        let context = script(
            &ada,
            &format!(
                "return document.querySelector('{} .reply-context').textContent",
                in_log(reply)
            ),
        )
        .await;
        assert_eq!(context, "↳ in reply to ada: Shall we ship on Friday?");

        // Bob reacts from the picker; ada sees the chip with bob's name, not pressed for her.
        click_in_message(&bob, root, ".react-button").await;
        bob.find(Locator::Css(
            "#reaction-picker .picker-choice[data-emoji=\"👍\"]",
        ))
        .await
        .expect("the picker's thumbs up")
        .click()
        .await
        .expect("pick it");
        wait_for_chips(&ada, root, &["👍 1 false"]).await;
        wait_for_chips(&bob, root, &["👍 1 true"]).await;
        let label = chips(&ada, root).await;
        assert!(
            label[0].as_str().unwrap_or_default().contains("from bob"),
            "the chip names who reacted: {label}"
        );

        // Ada opens the thread from "1 reply" and adds her reaction with the chip itself.
        click_in_message(&ada, root, ".replies-link").await;
        wait_for_thread(&ada, root, &["Friday works for me"]).await;
        click_in_message(&ada, root, ".chip").await;
        wait_for_chips(&bob, root, &["👍 2 true"]).await;
        wait_for_chips(&ada, root, &["👍 2 true"]).await;

        // A second reply reaches ada's open panel and her count live.
        bob.find(Locator::Id("thread-input"))
            .await
            .expect("thread composer")
            .send_keys(&format!("I'll write the notes{ENTER}"))
            .await
            .expect("type a reply");
        wait_for_thread(&ada, root, &["Friday works for me", "I'll write the notes"]).await;
        wait_for_text(
            &ada,
            &format!("{} .replies-link", in_log(root)),
            "text === '2 replies'",
            "ada sees 2 replies",
        )
        .await;

        // The panel and the picker pass axe in every view, and are photographed.
        let axe_js = axe_source();
        let dir = screenshot_dir();
        let mut problems = Vec::new();
        for (width, height, scheme) in VIEWS {
            emulate(&ada, width, height, scheme).await;
            wait_for_thread(&ada, root, &["Friday works for me", "I'll write the notes"]).await;
            for v in axe(&ada, axe_js.as_deref()).await {
                problems.push(format!("thread {width} {scheme}: {v}"));
            }
            screenshot_to(&ada, &dir.join(format!("thread-{width}-{scheme}.png"))).await;
        }
        emulate(&ada, 1280, 800, "light").await;
        let panel_close = ada
            .find(Locator::Css("#thread-panel .panel-close"))
            .await
            .expect("close");
        panel_close.click().await.expect("close the thread");
        click_in_message(&ada, reply, ".react-button").await;
        wait_until(
            &ada,
            "return !document.getElementById('reaction-picker').hidden",
            "the picker opens",
        )
        .await;
        for v in axe(&ada, axe_js.as_deref()).await {
            problems.push(format!("the reaction picker: {v}"));
        }
        assert!(
            problems.is_empty(),
            "axe-core found serious or critical problems:\n{}",
            problems.join("\n")
        );

        // A reload counts the same: the aggregates of history and of the API, never twice.
        ada.refresh().await.expect("reload");
        wait_for_text(
            &ada,
            &format!("{} .replies-link", in_log(root)),
            "text === '2 replies'",
            "2 replies after a reload",
        )
        .await;
        wait_for_chips(&ada, root, &["👍 2 true"]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_in_a_thread_can_be_written_with_the_keyboard_alone() {
    with_browsers(1, |browsers, node| async move {
        let origin = node.origin;
        let ada = browsers[0].clone();
        sign_up(&ada, &origin, "ada").await;
        enter(&ada, &origin, "keys").await;
        type_message(&ada, "first").await;
        type_message(&ada, "the one to answer").await;
        wait_for_room_log(&ada, "ada: the one to answer\n").await;
        let root = id_of(&ada, "the one to answer").await;

        // From the compose box, Shift+Tab back into the newest message's buttons, then `r`.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let inside = script(
                &ada,
                &format!(
                    "return document.querySelector('{}').contains(document.activeElement)",
                    in_log(root)
                ),
            )
            .await;
            if inside == true {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Shift+Tab never reached the message"
            );
            keys(&ada, &format!("{SHIFT}{TAB}{SHIFT}")).await;
        }
        keys(&ada, "r").await;
        wait_until(
            &ada,
            "return document.activeElement === document.getElementById('thread-input')",
            "r opens the thread with its composer in focus",
        )
        .await;
        keys(&ada, &format!("answered by keyboard{ENTER}")).await;
        wait_for_thread(&ada, root, &["answered by keyboard"]).await;
        wait_for_text(
            &ada,
            &format!("{} .replies-link", in_log(root)),
            "text === '1 reply'",
            "1 reply under the root",
        )
        .await;

        // Escape closes the panel and gives the focus back to where the reply started.
        keys(&ada, ESCAPE).await;
        wait_until(
            &ada,
            &format!(
                "return document.getElementById('thread-panel').hidden &&
                   document.querySelector('{}').contains(document.activeElement)",
                in_log(root)
            ),
            "Escape closes the thread and returns the focus to the message",
        )
        .await;

        // Reactions by keyboard: Tab to "☺+", Enter opens the picker on its first emoji, an arrow and
        // Enter choose the next one; Tab reaches the field, which takes any typed emoji.
        keys(&ada, TAB).await;
        let focused = script(&ada, "return document.activeElement.className").await;
        assert_eq!(focused, "react-button");
        keys(&ada, ENTER).await;
        wait_until(
            &ada,
            "return !document.getElementById('reaction-picker').hidden &&
               document.activeElement.classList.contains('picker-choice')",
            "the picker opens with an emoji in focus",
        )
        .await;
        keys(&ada, &format!("{ARROW_RIGHT}{ENTER}")).await;
        wait_for_chips(&ada, root, &["\u{2764}\u{fe0f} 1 true"]).await;
        let back = script(&ada, "return document.activeElement.className").await;
        assert_eq!(back, "react-button", "the focus comes back to the button");
        keys(&ada, ENTER).await;
        keys(&ada, TAB).await;
        let field = script(&ada, "return document.activeElement.id").await;
        assert_eq!(field, "picker-input");
        keys(&ada, &format!("\u{2615}{ENTER}")).await;
        wait_for_chips(&ada, root, &["\u{2764}\u{fe0f} 1 true", "\u{2615} 1 true"]).await;

        // Up moves the focus to the message before, where `r` would answer that one.
        let first = id_of(&ada, "first").await;
        keys(&ada, ARROW_UP).await;
        let focused = script(&ada, "return document.activeElement.dataset.id").await;
        assert_eq!(focused, first.to_string(), "Up focuses the message before");
    })
    .await;
}

/// Types `keys` into whatever has the focus.
async fn keys(page: &Client, keys: &str) {
    page.active_element()
        .await
        .expect("a focused element")
        .send_keys(keys)
        .await
        .expect("keys");
}
