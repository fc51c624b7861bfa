//! The JavaScript client, `static/chatweb-client.js`, tested on its own against a real node. In headless
//! Chromium (its real target): a page of the node imports the module as served at
//! `/static/chatweb-client.js`, and a scenario of `tests/js/scenarios.js` runs in the page through
//! WebDriver; the scenario checks itself and returns a summary checked again here. In Node's test runner:
//! `tests/js/unit.test.mjs` (a scripted socket: the rules a real server rarely provokes) and
//! `tests/js/server.test.mjs` (the same scenarios over Node's WebSocket).
//!
//! What the reconnect tests prove, and what not: `reconnect()` closes the page's socket from the client side
//! while another socket's burst is still being stored and fanned out (the scenario records the writer's acks
//! at each drop to show the burst was not over), so frames in flight to the page are lost as in a network
//! failure and the page must resume with `since`; and a node stopped and started again on the same port
//! closes the socket from the server side (1001) while the page still has sends waiting for their ack. A
//! half-open TCP connection that neither side notices is not simulated.

use std::process::Stdio;

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::chromium::{
    Chromedriver, DOM_POLL, ENTER, SCENARIO_LIMIT, browser_installed, close_all, rethrow,
    with_browsers,
};
use crate::helpers::{PATIENCE, TempDir, spawn_app, spawn_app_with, test_config};
use crate::people::PASSWORD;
use crate::tokens::accounts_on;

/// The scenarios, a plain script the page takes through WebDriver's executeScript.
const SCENARIOS: &str = include_str!("../js/scenarios.js");

/// How long one scenario may run in the page (WebDriver's script timeout).
const SCRIPT_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Opens a page of the node at `origin` that loads no script of its own, and gives it the scenarios.
async fn scenario_page(page: &Client, origin: &str) {
    page.goto(&format!("{origin}/healthz"))
        .await
        .expect("open a page of the node");
    page.update_timeouts(TimeoutConfiguration::new(Some(SCRIPT_LIMIT), None, None))
        .await
        .expect("script timeout");
    page.execute(SCENARIOS, vec![])
        .await
        .expect("load tests/js/scenarios.js into the page");
}

/// Runs scenario `name` in `page` with the module imported from the node and `env` (origin, room) merged
/// into its environment; returns its summary, or panics with the scenario's own failure message.
async fn run_scenario(page: &Client, name: &str, env: Value, args: Value) -> Value {
    const RUN: &str = r"
        const [name, env, args, done] = arguments;
        import('/static/chatweb-client.js')
          .then(({ ChatClient }) =>
            globalThis.chatwebScenarios[name](Object.assign({ ChatClient, WebSocket }, env), args))
          .then((value) => done({ ok: value === undefined ? null : value }),
                (error) => done({ error: String((error && error.stack) || error) }));
    ";
    let outcome = page
        .execute_async(RUN, vec![json!(name), env, args])
        .await
        .unwrap_or_else(|e| panic!("scenario {name}: WebDriver: {e}"));
    if let Some(error) = outcome.get("error") {
        panic!(
            "scenario {name} failed in Chromium:\n{}",
            error.as_str().unwrap_or_default()
        );
    }
    outcome["ok"].clone()
}

fn u64s(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_u64().expect("a number"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_burst_arrives_exactly_once_in_order_across_two_dropped_connections() {
    with_browsers(1, |browsers, node| async move {
        let page = &browsers[0];
        scenario_page(page, &node.origin).await;
        let env = json!({"origin": node.origin, "room": "burst"});
        let summary = run_scenario(
            page,
            "burstAcrossReconnect",
            env,
            json!({"burst": 200, "window": 20, "hold": 150}),
        )
        .await;

        let delivered = u64s(&summary["delivered"]);
        let sends = summary["sends"].as_array().expect("sends");
        let total = 200 + sends.len() as u64;
        assert_eq!(
            delivered,
            (1..=total).collect::<Vec<_>>(),
            "every message once, in id order"
        );
        assert!(sends.len() >= 5, "the page's own sends: {}", sends.len());
        let mut acked: Vec<u64> = sends
            .iter()
            .map(|s| s["id"].as_u64().expect("id"))
            .collect();
        acked.sort_unstable();
        acked.dedup();
        assert_eq!(acked.len(), sends.len(), "each send has its own id");
        for drop in summary["drops"].as_array().expect("drops") {
            assert!(
                drop["writerAcked"].as_u64() < Some(200),
                "the drop came before the burst ended: {drop}"
            );
        }
        assert_eq!(summary["stored"], total, "stored once each");
        println!(
            "burst: {total} messages, {} own sends, drops {}, {} delivered from a replay",
            sends.len(),
            summary["drops"],
            summary["replayedAfterDrop"]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_refused_sends_reject_with_the_servers_code_and_are_never_resent() {
    with_browsers(1, |browsers, node| async move {
        let page = &browsers[0];
        scenario_page(page, &node.origin).await;
        let summary = run_scenario(
            page,
            "refusals",
            json!({"origin": node.origin, "room": "refusals"}),
            json!({"maxBytes": chatweb::config::Config::default().max_message_bytes}),
        )
        .await;
        assert_eq!(
            summary["codes"],
            json!(["message_too_long", "empty_message"])
        );
        assert_eq!(
            summary["ids"],
            json!([1, 2]),
            "only the good sends were stored"
        );
        assert_eq!(summary["closedCode"], "closed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_sends_in_flight_when_the_server_restarts_are_resent_and_stored_once() {
    if !browser_installed() {
        return;
    }
    const COUNT: usize = 120;
    const STOP_AFTER: usize = 30;
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let addr = app.addr;
    let driver = Chromedriver::start(&dir).await;
    let browsers = driver.open_browsers(&dir, 1).await;
    let page = browsers[0].clone();
    let database_url = dir.sqlite_url();
    let task = tokio::spawn(async move {
        let origin = app.origin();
        scenario_page(&page, &origin).await;
        let mut watcher = app.join_path("/ws/chat/restart/?since=0", None).await;
        let scenario = {
            let page = page.clone();
            tokio::spawn(async move {
                run_scenario(
                    &page,
                    "sendsAcrossServerRestart",
                    json!({"origin": origin, "room": "restart"}),
                    json!({"count": COUNT, "window": 5}),
                )
                .await
            })
        };
        // Once some of the page's sends are stored, the node stops and the same node comes back.
        let seen = watcher.messages(STOP_AFTER).await;
        app.stop().await;
        let config = chatweb::config::Config {
            port: addr.port(),
            ..test_config(database_url)
        };
        let app = spawn_app_with(config).await;
        let summary = tokio::time::timeout(SCRIPT_LIMIT, scenario)
            .await
            .expect("the scenario ends")
            .expect("the scenario task");
        assert_eq!(seen.len(), STOP_AFTER);
        assert!(
            summary["waitingAtDrop"][0].as_u64() >= Some(1),
            "the restart caught sends in flight: {summary}"
        );
        // 1001 when the server's close frame reached the page; 1006 when the page's sends, still
        // arriving at a socket the server had stopped reading, made its kernel reset the connection first.
        assert!(
            [json!(1001), json!(1006)].contains(&summary["closeCodes"][0]),
            "the server closed the socket: {summary}"
        );
        let mut ids = u64s(&summary["ids"]);
        ids.sort_unstable();
        assert_eq!(
            ids,
            (1..=COUNT as u64).collect::<Vec<_>>(),
            "one id per send"
        );

        // The store holds each send once, and nothing else.
        let mut back = app.join_path("/ws/chat/restart/?since=0", None).await;
        let stored = back.messages(COUNT).await;
        let mut texts: Vec<String> = crate::helpers::texts(&stored);
        texts.sort();
        let mut expected: Vec<String> = (0..COUNT).map(|i| format!("r-{i}")).collect();
        expected.sort();
        assert_eq!(texts, expected, "each send stored once");
        back.say("after").await;
        assert_eq!(
            back.next_message().await["id"],
            COUNT as u64 + 1,
            "nothing else was stored"
        );
        println!("restart: {summary}");
        app.stop().await;
    });
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(SCENARIO_LIMIT, task).await;
    abort.abort();
    close_all(browsers).await;
    drop(driver);
    rethrow(outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_presence_typing_edit_and_delete_reach_the_other_person() {
    with_browsers(1, |browsers, node| async move {
        let page = &browsers[0];
        // The page speaks as the account ada (signed up in the page: her session cookie); the second
        // client connects to `localhost` instead of 127.0.0.1, where the page has no cookie: a guest.
        page.goto(&format!("{}/accounts/signup/", node.origin))
            .await
            .expect("signup page");
        for (field, text) in [
            ("id_username", "ada".to_owned()),
            ("id_password1", PASSWORD.to_owned()),
            ("id_password2", format!("{PASSWORD}{ENTER}")),
        ] {
            page.find(Locator::Id(field))
                .await
                .expect("signup field")
                .send_keys(&text)
                .await
                .expect("type");
        }
        // The form posts and the page moves on: the signup page's own `#whoami` can go stale between
        // finding it and reading it, so look again until the next page's says ada.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let name = match page.find(Locator::Css("#whoami")).await {
                Ok(whoami) => whoami.text().await.ok(),
                Err(_) => None,
            };
            if name.as_deref() == Some("ada") {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not signed in after signing up: #whoami says {name:?}"
            );
            tokio::time::sleep(DOM_POLL).await;
        }
        scenario_page(page, &node.origin).await;
        let guest_url = format!("ws://localhost:{}/ws/chat/live/", node.addr.port());
        let summary = run_scenario(
            page,
            "liveFrames",
            json!({"origin": node.origin, "room": "live"}),
            json!({"canEdit": true, "second": {"url": guest_url}}),
        )
        .await;
        let users = summary["users"].as_array().expect("users");
        assert!(
            users.contains(&json!({"user": "ada", "guest": false})),
            "{summary}"
        );
        assert_eq!(users.len(), 2, "{summary}");
        assert_eq!(summary["typing"]["user"], "ada");
        assert_eq!(summary["missing"], "not_found");
        assert_eq!(summary["forbidden"], "forbidden");
        assert_eq!(
            summary["afterLeave"],
            json!([{"user": "ada", "guest": false}])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_history_pages_back_through_the_room() {
    with_browsers(1, |browsers, node| async move {
        let page = &browsers[0];
        scenario_page(page, &node.origin).await;
        let summary = run_scenario(
            page,
            "historyPaging",
            json!({"origin": node.origin, "room": "paging"}),
            json!({"count": 25}),
        )
        .await;
        assert_eq!(
            summary["pages"],
            json!([
                (16..=25).collect::<Vec<_>>(),
                (6..=15).collect::<Vec<_>>(),
                (1..=5).collect::<Vec<_>>()
            ])
        );
        assert_eq!(summary["missing"], "invalid_room 404");
    })
    .await;
}

/// The JS unit tests (the client, its aggregates, the Markdown renderer, file sizes) and the server
/// scenarios in Node's test runner, against a node with an account `ada` whose API token the edit/delete
/// scenario uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_node_the_unit_tests_and_the_scenarios_pass() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let user = accounts
        .create_user("ada", "", PASSWORD, false)
        .await
        .expect("user");
    let (_, token) = accounts.create_token(user.id, "js").await.expect("token");
    let root = env!("CARGO_MANIFEST_DIR");
    let run = tokio::process::Command::new("node")
        .current_dir(root)
        .args([
            "--experimental-websocket",
            "--test",
            "--test-reporter=spec",
            "tests/js/unit.test.mjs",
            "tests/js/aggregates.test.mjs",
            "tests/js/markdown.test.mjs",
            "tests/js/files.test.mjs",
            "tests/js/server.test.mjs",
        ])
        .env("CHATWEB_TEST_ORIGIN", app.origin())
        .env("CHATWEB_TEST_TOKEN", token)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_LIMIT + PATIENCE, run)
        .await
        .expect("node's test runner finishes in time")
        .expect("run node (Node.js 20 or newer must be installed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    app.stop().await;
    assert!(
        output.status.success(),
        "node --test failed:\n{stdout}\n{stderr}"
    );
    let count = |label: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim_start_matches(['ℹ', ' ']).strip_prefix(label))
            .and_then(|n| n.trim().parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"))
    };
    assert_eq!(count("fail"), 0, "{stdout}");
    assert_eq!(count("skipped"), 0, "nothing skipped:\n{stdout}");
    assert!(count("pass") >= 16, "{stdout}");
    println!("{stdout}");
}
