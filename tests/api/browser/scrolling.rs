//! Scrolling up the room page pages older messages in without moving the view while the live log keeps
//! flowing.

use fantoccini::{Client, Locator};

use super::{enter, script};
use crate::chromium::{wait_for_room_log, wait_until, with_browsers};

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
