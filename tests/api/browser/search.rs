//! The search page in a browser: `/` focuses the header's box, hits come grouped by room with the
//! matches in `<mark>`s and "More results" for the next page, a hit opens its room scrolled to the message
//! (loading older pages when it is further back), empty and refused searches say so, the page passes axe
//! wide and narrow, light and dark, and a private room's messages never reach a non-member's results.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, Locator};
use serde_json::Value;

use super::axe::{VIEWS, axe, screenshot_dir};
use super::{enter, script, sign_up};
use crate::chromium::{
    ENTER, axe_source, click_css, emulate, screenshot_to, type_message, wait_open, wait_until,
    with_browsers,
};
use crate::helpers::{PATIENCE, connect};

/// The results shown: each room's heading with its hits' ids and `<mark>`ed text, in page order.
const RESULTS: &str =
    "return Array.from(document.querySelectorAll('#search-results .search-group'), (g) => ({
    room: g.querySelector('h2').textContent,
    ids: Array.from(g.querySelectorAll('li.hit'), (li) => Number(li.dataset.id)),
    marks: Array.from(g.querySelectorAll('mark'), (m) => m.textContent),
}))";

/// Presses `key` wherever the focus is (not into an element of our choosing).
async fn press(page: &Client, key: char) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    page.perform_actions(keys).await.expect("press a key");
}

/// Waits until the API finds `want` hits for `q` (the index follows the rooms about every half second).
async fn indexed(origin: &str, q: &str, want: usize) -> Vec<u64> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let body: Value = reqwest::get(format!("{origin}/api/search?q={q}"))
            .await
            .expect("search")
            .text()
            .await
            .map(|text| serde_json::from_str(&text).expect("json"))
            .expect("a body");
        let ids: Vec<u64> = body["hits"]
            .as_array()
            .map(|hits| hits.iter().filter_map(|h| h["id"].as_u64()).collect())
            .unwrap_or_default();
        if ids.len() == want {
            return ids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{q:?} never found {want} hits: {body}"
        );
        tokio::time::sleep(crate::chromium::DOM_POLL).await;
    }
}

/// Waits until the results page has loaded; its groups.
async fn results(page: &Client) -> Value {
    wait_until(
        page,
        "return document.getElementById('search').dataset.loaded === 'true'",
        "the results load",
    )
    .await;
    script(page, RESULTS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_from_the_header_groups_hits_by_room_and_opens_the_room_at_the_message() {
    with_browsers(1, |browsers, node| async move {
        let origin = node.origin;
        let page = browsers[0].clone();
        // "deep": the hit, then more than a first page's worth after it; "shallow": a newer hit.
        let mut deep = connect(node.addr, "/ws/chat/deep/").await;
        let target = deep.send_acked("quokka", 1).await[0];
        assert_eq!(deep.send_acked("filler", 120).await.len(), 120);
        let mut shallow = connect(node.addr, "/ws/chat/shallow/").await;
        let newer = shallow.send_acked("a quokka sighting", 1).await[0];
        assert_eq!(indexed(&origin, "quokka", 2).await.len(), 2);

        sign_up(&page, &origin, "ada").await;
        page.goto(&origin).await.expect("lobby");
        script(&page, "document.activeElement.blur(); return true;").await;
        press(&page, '/').await;
        let focused = script(
            &page,
            "const el = document.activeElement; return [el.id, el.value];",
        )
        .await;
        assert_eq!(focused, serde_json::json!(["search-input", ""]), "`/` focuses the box and is not typed");
        page.active_element()
            .await
            .expect("the box")
            .send_keys(&format!("quokka{ENTER}"))
            .await
            .expect("type a search");
        let groups = results(&page).await;
        assert_eq!(
            groups,
            serde_json::json!([
                {"room": "shallow", "ids": [newer], "marks": ["quokka"]},
                {"room": "deep", "ids": [target], "marks": ["quokka"]},
            ]),
            "grouped by room, the newest hit's room first, the match marked"
        );
        let boxed = script(&page, "return document.getElementById('search-input').value").await;
        assert_eq!(boxed, "quokka", "the header's box keeps the query");

        let dir = screenshot_dir();
        let axe_js = axe_source();
        let mut problems = Vec::new();
        for (width, height, scheme) in VIEWS {
            emulate(&page, width, height, scheme).await;
            page.refresh().await.expect("reload the results");
            results(&page).await;
            for v in axe(&page, axe_js.as_deref()).await {
                problems.push(format!("search {width} {scheme}: {v}"));
            }
            screenshot_to(&page, &dir.join(format!("search-{width}-{scheme}.png"))).await;
        }
        assert!(
            problems.is_empty(),
            "axe-core found serious or critical problems:\n{}",
            problems.join("\n")
        );
        emulate(&page, 1280, 800, "light").await;

        // More than a page of hits: "More results" adds the next page, older, to the same group.
        indexed(&origin, "filler-119", 1).await;
        page.goto(&format!("{origin}/search/?q=filler"))
            .await
            .expect("results");
        let first: Vec<u64> = (0..20).map(|i| target + 120 - i).collect();
        assert_eq!(results(&page).await[0]["ids"], serde_json::json!(first));
        click_css(&page, "#search-more").await;
        wait_until(
            &page,
            "return document.querySelectorAll('#search-results li.hit').length === 40",
            "the next page of hits",
        )
        .await;
        let both: Vec<u64> = (0..40).map(|i| target + 120 - i).collect();
        let groups = script(&page, RESULTS).await;
        assert_eq!(groups.as_array().map(Vec::len), Some(1), "{groups}");
        assert_eq!(groups[0]["ids"], serde_json::json!(both));
        let focused = wait_until(
            &page,
            "return Number(document.activeElement.closest('li.hit')?.dataset.id)",
            "the focus on the first new hit",
        )
        .await;
        assert_eq!(focused, serde_json::json!(target + 100));
        page.back().await.expect("back to the quokka results");
        results(&page).await;

        // The deep hit: the room opens with the last 50, loads older pages until it shows, and marks it.
        click_css(&page, &format!("a[href=\"/chat/deep/?at={target}\"]")).await;
        wait_open(&page).await;
        let check = format!(
            "const li = document.querySelector('#chat-log li.msg[data-id=\"{target}\"]');
             if (!li) return false;
             const log = document.getElementById('chat-log').getBoundingClientRect();
             const r = li.getBoundingClientRect();
             return li.classList.contains('at-target') && document.activeElement === li
               && r.top >= log.top && r.bottom <= log.bottom;"
        );
        wait_until(&page, &check, "the room scrolled to the hit, marked and focused").await;
        let ids = script(
            &page,
            "return Array.from(document.querySelectorAll('#chat-log li.msg[data-id]'), (li) => Number(li.dataset.id))",
        )
        .await;
        let ids: Vec<u64> = serde_json::from_value(ids).expect("ids");
        let last = target + 120;
        assert!(
            ids.windows(2).all(|w| w[0] + 1 == w[1]) && ids.contains(&target) && ids.last() == Some(&last),
            "the log is whole from the hit to the newest: {ids:?}"
        );

        // `/` from the message in focus goes to the box; typed into the message box, it is text.
        press(&page, '/').await;
        let focused = script(&page, "return document.activeElement.id").await;
        assert_eq!(focused, "search-input");
        page.find(Locator::Id("chat-message-input"))
            .await
            .expect("message box")
            .send_keys("a/b")
            .await
            .expect("type");
        let typed = script(
            &page,
            "const el = document.activeElement; return [el.id, el.value];",
        )
        .await;
        assert_eq!(typed, serde_json::json!(["chat-message-input", "a/b"]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_rooms_messages_never_reach_a_non_members_results() {
    with_browsers(2, |browsers, node| async move {
        let origin = node.origin;
        let [ada, bob]: [Client; 2] = browsers.try_into().expect("two browsers");
        sign_up(&ada, &origin, "ada").await;
        ada.goto(&origin).await.expect("lobby");
        ada.find(Locator::Id("new-room-name"))
            .await
            .expect("name box")
            .send_keys("vault")
            .await
            .expect("type");
        click_css(&ada, "#new-room-private").await;
        click_css(&ada, "#create-room-submit").await;
        wait_until(
            &ada,
            "return location.pathname === '/chat/vault/'",
            "the new room opens",
        )
        .await;
        enter(&ada, &origin, "vault").await;
        type_message(&ada, "the zebra launch code is 0000").await;
        enter(&ada, &origin, "plaza").await;
        type_message(&ada, "zebra crossing ahead").await;

        // Ada finds both (she is in the vault); the guest API finds only the public one.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            ada.goto(&format!("{origin}/search/?q=zebra"))
                .await
                .expect("results");
            let groups = results(&ada).await;
            if groups.as_array().is_some_and(|g| g.len() == 2) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "ada never finds both: {groups}"
            );
            tokio::time::sleep(crate::chromium::DOM_POLL * 4).await;
        }

        sign_up(&bob, &origin, "bob").await;
        for q in ["zebra", "launch", "in:vault%20zebra"] {
            bob.goto(&format!("{origin}/search/?q={q}"))
                .await
                .expect("results");
            let groups = results(&bob).await;
            let rooms: Vec<&str> = groups
                .as_array()
                .expect("groups")
                .iter()
                .filter_map(|g| g["room"].as_str())
                .collect();
            let want: &[&str] = if q == "zebra" { &["plaza"] } else { &[] };
            assert_eq!(rooms, want, "bob's results for {q:?}");
            let text = script(&bob, "return document.getElementById('search').textContent").await;
            let text = text.as_str().expect("text");
            assert!(
                !text.contains("launch code") && !text.contains("0000"),
                "{text}"
            );
        }
        let status = script(
            &bob,
            "return document.getElementById('search-status').textContent",
        )
        .await;
        assert_eq!(status, "Nothing found for “in:vault zebra”.");

        // No query: nothing asked; a query the API refuses: its reason, and no results.
        bob.goto(&format!("{origin}/search/"))
            .await
            .expect("empty search");
        let status = script(
            &bob,
            "return document.getElementById('search-status').textContent",
        )
        .await;
        assert_eq!(status, "Type what to look for.");
        let long = "x".repeat(201);
        bob.goto(&format!("{origin}/search/?q={long}"))
            .await
            .expect("too long");
        let refused = wait_until(
            &bob,
            "const s = document.getElementById('search-status').textContent;
             return s.startsWith('Could not search: ') && s",
            "the refusal shows",
        )
        .await;
        let hits = script(&bob, "return document.querySelectorAll('li.hit').length").await;
        assert_eq!(hits, 0, "{refused}");
    })
    .await;
}
