//! The limits of issue 10 against a live node: a burst over the send rate is refused with `rate_limited`
//! and `retry_after_ms` and nothing refused is stored, and the connection sends again after the wait;
//! a user's bucket spans their connections, guests share their address's (the address a trusted proxy
//! names in `X-Forwarded-For`, and only a trusted one); open connections and handshakes per address,
//! new rooms per address and full-history replays per client are refused (429 at the handshake); a
//! flood of any frame is answered once and dropped; `--limits off` lets everything through; and every
//! refusal is counted in `/metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chatweb::config::Config;
use chatweb::limits::LimitSettings;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{Client, PATIENCE, TempDir, TestApp, spawn_app_with, test_config};
use crate::people::{PASSWORD, socket};
use crate::tokens::accounts_on;

/// A test node on `dir` with the limits on, as `settings` says.
async fn node(dir: &TempDir, settings: LimitSettings) -> TestApp {
    spawn_app_with(Config {
        limits: settings,
        ..test_config(dir.sqlite_url())
    })
    .await
}

/// `settings` with nginx on this machine in front: 127.0.0.1's `X-Forwarded-For` names the client, so one
/// test process can speak from several addresses.
fn behind_local_proxy(settings: LimitSettings) -> LimitSettings {
    LimitSettings {
        trusted_proxies: vec!["127.0.0.1".into()],
        ..settings
    }
}

/// The headers of a page's handshake: an allowed origin, a nickname, and a forwarded address if given.
fn guest(app: &TestApp, nickname: &str, forwarded: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("origin", app.origin()),
        ("cookie", format!("chatweb_nickname={nickname}")),
    ];
    if let Some(address) = forwarded {
        headers.push(("x-forwarded-for", address.to_owned()));
    }
    headers
}

/// Opens a socket that must be accepted.
async fn open(app: &TestApp, path: &str, headers: &[(&'static str, String)]) -> Client {
    socket(app.addr, path, headers, false)
        .await
        .unwrap_or_else(|status| panic!("handshake to {path} refused with {status}"))
}

/// A refused handshake: its status, its JSON body and its `Retry-After` header.
async fn refused(
    app: &TestApp,
    path: &str,
    headers: &[(&'static str, String)],
) -> (u16, Value, String) {
    let mut request = format!("ws://{}{path}", app.addr)
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => panic!("handshake to {path} accepted; a limit should have refused it"),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            let retry = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = serde_json::from_slice(&body).expect("a JSON body");
            (response.status().as_u16(), body, retry)
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// Sends one message with `client_id` = `text`.
async fn send(client: &mut Client, text: &str) {
    client
        .send_json(json!({"type": "message", "message": text, "client_id": text}))
        .await;
}

/// Sends `text` and returns its answer.
async fn send_and_answer(client: &mut Client, text: &str) -> Value {
    send(client, text).await;
    let frame = client.next_answer().await;
    assert_eq!(
        frame["client_id"], text,
        "the answer names the send: {frame}"
    );
    frame
}

/// Asserts `frame` is a `rate_limited` refusal by `limit`; returns its `retry_after_ms`.
fn assert_rate_limited(frame: &Value, limit: &str) -> u64 {
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "rate_limited", "{frame}");
    assert_eq!(frame["limit"], limit, "{frame}");
    let wait = frame["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(wait > 0, "a rate refusal says how long to wait: {frame}");
    wait
}

/// The texts stored in `room` (the HTTP API, oldest first).
async fn stored(app: &TestApp, room: &str) -> Vec<String> {
    let body = app
        .get(&format!("/api/rooms/{room}/messages?limit=200"), None)
        .await
        .text()
        .await
        .expect("history");
    let page: Value = serde_json::from_str(&body).expect("history JSON");
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["message"].as_str().expect("text").to_owned())
        .collect()
}

/// `chatweb_limit_refusals_total{limit="<limit>"}` as `/metrics` shows it.
async fn refusals(app: &TestApp, limit: &str) -> u64 {
    let text = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    let prefix = format!("chatweb_limit_refusals_total{{limit=\"{limit}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{prefix} in\n{text}"))
        .trim()
        .parse()
        .expect("a count")
}

#[tokio::test]
async fn a_burst_over_the_send_limit_is_refused_unstored_and_the_socket_sends_again_after_the_wait()
{
    let dir = TempDir::new();
    // The defaults: 20 messages a second, bursts of 40.
    let app = node(&dir, LimitSettings::default()).await;
    let mut client = app.join("burst").await;
    const SENT: usize = 60;
    for i in 0..SENT {
        send(&mut client, &format!("b-{i}")).await;
    }
    let mut answers = BTreeMap::new();
    while answers.len() < SENT {
        let frame = client.next_answer().await;
        let id = frame["client_id"]
            .as_str()
            .expect("every answer names its send")
            .to_owned();
        answers.insert(id, frame);
    }
    let acked: BTreeSet<String> = answers
        .iter()
        .filter(|(_, f)| f["type"] == "ack")
        .map(|(id, _)| id.clone())
        .collect();
    let mut longest_wait = 0;
    for frame in answers.values().filter(|f| f["type"] != "ack") {
        let wait = assert_rate_limited(frame, "sends");
        assert!(wait <= 1000, "one token comes back within 1/20 s: {frame}");
        longest_wait = longest_wait.max(wait);
    }
    // The burst, and at most the few tokens that came back while it was read.
    assert!(
        (40..=50).contains(&acked.len()),
        "{} of {SENT} acked",
        acked.len()
    );
    let refused = SENT - acked.len();
    let kept: BTreeSet<String> = stored(&app, "burst").await.into_iter().collect();
    assert_eq!(kept, acked, "exactly the acked messages are stored");
    assert_eq!(refusals(&app, "sends").await, refused as u64);

    // The connection stays: after the wait it sends again.
    tokio::time::sleep(Duration::from_millis(longest_wait)).await;
    assert_eq!(send_and_answer(&mut client, "after").await["type"], "ack");
    app.stop().await;
}

#[tokio::test]
async fn a_users_bucket_spans_their_connections_and_no_one_elses() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        LimitSettings {
            send_rate: 1,
            send_burst: 4,
            ..LimitSettings::default()
        },
    )
    .await;
    let accounts = accounts_on(&dir.sqlite_url()).await;
    let mut tokens = Vec::new();
    for name in ["ada", "bob"] {
        let user = accounts
            .create_user(name, "", PASSWORD, false)
            .await
            .expect("user");
        tokens.push(
            accounts
                .create_token(user.id, "bot")
                .await
                .expect("token")
                .1,
        );
    }
    let bearer = |token: &str| vec![("authorization", format!("Bearer {token}"))];
    let mut ada_one = open(&app, "/ws/chat/users/", &bearer(&tokens[0])).await;
    let mut ada_two = open(&app, "/ws/chat/users/", &bearer(&tokens[0])).await;
    let mut bob = open(&app, "/ws/chat/users/", &bearer(&tokens[1])).await;
    for i in 0..4 {
        let frame = send_and_answer(&mut ada_one, &format!("ada-{i}")).await;
        assert_eq!(frame["type"], "ack", "{frame}");
    }
    // Her other connection has its own bucket, but she has one.
    let frame = send_and_answer(&mut ada_two, "ada-again").await;
    assert_rate_limited(&frame, "sends");
    // Bob, from the same address, is not held back by her.
    assert_eq!(send_and_answer(&mut bob, "bob-0").await["type"], "ack");
    assert!(
        !stored(&app, "users")
            .await
            .contains(&"ada-again".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn guests_share_their_addresss_bucket_as_a_trusted_proxy_names_it() {
    let dir = TempDir::new();
    let settings = LimitSettings {
        send_rate: 1,
        send_burst: 3,
        ..LimitSettings::default()
    };
    let app = node(&dir, behind_local_proxy(settings.clone())).await;
    let mut ann = open(&app, "/ws/chat/guests/", &guest(&app, "ann", None)).await;
    let mut bea = open(&app, "/ws/chat/guests/", &guest(&app, "bea", None)).await;
    for i in 0..3 {
        assert_eq!(
            send_and_answer(&mut ann, &format!("ann-{i}")).await["type"],
            "ack"
        );
    }
    // Another guest at the same address shares the bucket.
    assert_rate_limited(&send_and_answer(&mut bea, "bea-0").await, "sends");
    // Behind the loopback proxy (trusted here), its X-Forwarded-For entry is the address.
    let mut far = open(
        &app,
        "/ws/chat/guests/",
        &guest(&app, "cy", Some("203.0.113.7")),
    )
    .await;
    assert_eq!(send_and_answer(&mut far, "cy-0").await["type"], "ack");
    app.stop().await;

    // A node that trusts no proxy believes no X-Forwarded-For: every guest here is 127.0.0.1.
    let dir = TempDir::new();
    let app = node(
        &dir,
        LimitSettings {
            trusted_proxies: vec!["none".into()],
            ..settings
        },
    )
    .await;
    let mut ann = open(&app, "/ws/chat/guests/", &guest(&app, "ann", None)).await;
    for i in 0..3 {
        assert_eq!(
            send_and_answer(&mut ann, &format!("ann-{i}")).await["type"],
            "ack"
        );
    }
    let mut spoof = open(
        &app,
        "/ws/chat/guests/",
        &guest(&app, "cy", Some("203.0.113.7")),
    )
    .await;
    assert_rate_limited(&send_and_answer(&mut spoof, "cy-0").await, "sends");
    app.stop().await;
}

#[tokio::test]
async fn a_forged_x_forwarded_for_from_loopback_is_ignored_by_default_and_the_peer_is_limited() {
    let dir = TempDir::new();
    // The defaults, but for a send bucket small enough to empty: no proxy is trusted.
    let app = node(
        &dir,
        LimitSettings {
            send_rate: 1,
            send_burst: 3,
            ..LimitSettings::default()
        },
    )
    .await;
    let mut ann = open(&app, "/ws/chat/guests/", &guest(&app, "ann", None)).await;
    for i in 0..3 {
        assert_eq!(
            send_and_answer(&mut ann, &format!("ann-{i}")).await["type"],
            "ack"
        );
    }
    // A client on loopback (anyone behind a forwarder that passes the header on) names another address:
    // it is still 127.0.0.1, whose bucket is empty.
    let mut forger = open(
        &app,
        "/ws/chat/guests/",
        &guest(&app, "cy", Some("203.0.113.7")),
    )
    .await;
    assert_rate_limited(&send_and_answer(&mut forger, "cy-0").await, "sends");
    app.stop().await;
}

#[tokio::test]
async fn open_connections_per_address_are_capped_with_a_429_that_names_the_limit() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        behind_local_proxy(LimitSettings {
            connections_per_address: 3,
            handshake_rate: 1000,
            ..LimitSettings::default()
        }),
    )
    .await;
    let headers = guest(&app, "ann", None);
    let mut open_now = Vec::new();
    for _ in 0..3 {
        open_now.push(open(&app, "/ws/chat/cap/", &headers).await);
    }
    let (status, body, retry) = refused(&app, "/ws/chat/cap/", &headers).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert_eq!(body["limit"], "connections_per_address", "{body}");
    assert!(!retry.is_empty(), "a 429 says when to retry");
    // Another address is not held back.
    let elsewhere = guest(&app, "bea", Some("198.51.100.2"));
    open_now.push(open(&app, "/ws/chat/cap/", &elsewhere).await);
    assert_eq!(refusals(&app, "connections_per_address").await, 1);

    // A connection that ends gives its place back (the server lets go just after the close).
    open_now.swap_remove(0).close().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(client) = socket(app.addr, "/ws/chat/cap/", &headers, false).await {
            open_now.push(client);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a closed connection's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn handshakes_per_address_per_second_are_limited() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        LimitSettings {
            handshake_rate: 3,
            ..LimitSettings::default()
        },
    )
    .await;
    let headers = guest(&app, "ann", None);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(open(&app, "/ws/chat/hs/", &headers).await);
    }
    let (status, body, retry) = refused(&app, "/ws/chat/hs/", &headers).await;
    assert_eq!(
        (status, body["limit"].as_str()),
        (429, Some("handshakes")),
        "{body}"
    );
    assert_eq!(retry, "1", "under a second, rounded up");
    let wait = body["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!((1..=1000).contains(&wait), "{body}");
    assert_eq!(refusals(&app, "handshakes").await, 1);
    // Once the wait has passed, the address may connect again.
    tokio::time::sleep(Duration::from_millis(wait)).await;
    clients.push(open(&app, "/ws/chat/hs/", &headers).await);
    app.stop().await;
}

#[tokio::test]
async fn full_history_replays_per_client_are_limited_at_the_handshake_and_on_the_socket() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        LimitSettings {
            replays_per_min: 2,
            replay_far_back: 5,
            ..LimitSettings::default()
        },
    )
    .await;
    let headers = guest(&app, "ann", None);
    let mut writer = open(&app, "/ws/chat/replay/", &headers).await;
    for i in 0..10 {
        assert_eq!(
            send_and_answer(&mut writer, &format!("r-{i}")).await["type"],
            "ack"
        );
    }
    // Two full replays a minute: since=0 twice, then refused; so is a resume far back.
    for _ in 0..2 {
        let mut replay = open(&app, "/ws/chat/replay/?since=0", &headers).await;
        assert_eq!(replay.messages(10).await.len(), 10);
    }
    let (status, body, _) = refused(&app, "/ws/chat/replay/?since=0", &headers).await;
    assert_eq!(
        (status, body["limit"].as_str()),
        (429, Some("replays")),
        "{body}"
    );
    let (status, _, _) = refused(&app, "/ws/chat/replay/?since=1", &headers).await;
    assert_eq!(status, 429, "9 behind is further back than 5");
    // A resume from near the head is not a full replay.
    let mut near = open(&app, "/ws/chat/replay/?since=7", &headers).await;
    assert_eq!(near.messages(3).await.len(), 3);
    // On the socket: the resume frame is refused, and the connection goes on live.
    near.send_json(json!({"type": "resume", "since": 0})).await;
    assert_rate_limited(&near.next_answer().await, "replays");
    writer.say("still live").await;
    assert_eq!(near.next_message().await["message"], "still live");
    assert_eq!(refusals(&app, "replays").await, 3);
    app.stop().await;
}

#[tokio::test]
async fn new_rooms_per_address_are_limited_and_a_refused_room_is_not_created() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        behind_local_proxy(LimitSettings {
            new_rooms_per_min: 2,
            ..LimitSettings::default()
        }),
    )
    .await;
    let headers = guest(&app, "ann", None);
    for room in ["n1", "n2"] {
        let mut client = open(&app, &format!("/ws/chat/{room}/"), &headers).await;
        assert_eq!(send_and_answer(&mut client, room).await["type"], "ack");
        // More messages in a room it created count no more rooms.
        assert_eq!(
            send_and_answer(&mut client, &format!("{room}-2")).await["type"],
            "ack"
        );
    }
    // Joining a room creates nothing: only its first message would.
    let mut third = open(&app, "/ws/chat/n3/", &headers).await;
    assert_rate_limited(&send_and_answer(&mut third, "n3").await, "new_rooms");
    assert!(
        stored(&app, "n3").await.is_empty(),
        "the room was not created"
    );
    // A room that exists takes messages from the same address.
    let mut back = open(&app, "/ws/chat/n1/", &headers).await;
    assert_eq!(send_and_answer(&mut back, "n1-3").await["type"], "ack");
    // Another address may create rooms.
    let mut other = open(
        &app,
        "/ws/chat/n4/",
        &guest(&app, "bea", Some("198.51.100.3")),
    )
    .await;
    assert_eq!(send_and_answer(&mut other, "n4").await["type"], "ack");
    assert_eq!(refusals(&app, "new_rooms").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_resume_before_the_first_send_does_not_skip_the_new_rooms_limit() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        LimitSettings {
            new_rooms_per_min: 1,
            ..LimitSettings::default()
        },
    )
    .await;
    let headers = guest(&app, "ann", None);
    let mut first = open(&app, "/ws/chat/r1/", &headers).await;
    assert_eq!(send_and_answer(&mut first, "r1").await["type"], "ack");
    // A resume starts a catch-up from the store; a send read while it runs is still a new room's first.
    for room in ["r2", "r3"] {
        let mut client = open(&app, &format!("/ws/chat/{room}/"), &headers).await;
        client
            .send_together(&[
                json!({"type": "resume", "since": 0}),
                json!({"type": "message", "message": room, "client_id": room}),
            ])
            .await;
        assert_rate_limited(&client.next_answer().await, "new_rooms");
        assert!(
            stored(&app, room).await.is_empty(),
            "{room} was not created"
        );
    }
    // A resume in a room that has messages, then a send: the room is not new, nothing is refused.
    let mut back = open(&app, "/ws/chat/r1/", &headers).await;
    back.send_together(&[
        json!({"type": "resume", "since": 0}),
        json!({"type": "message", "message": "r1-2", "client_id": "r1-2"}),
    ])
    .await;
    assert_eq!(back.next_answer().await["type"], "ack");
    assert_eq!(stored(&app, "r1").await, ["r1", "r1-2"]);
    assert_eq!(refusals(&app, "new_rooms").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_flood_of_any_frame_is_answered_once_and_dropped() {
    let dir = TempDir::new();
    let app = node(
        &dir,
        LimitSettings {
            frame_rate: 10,
            ..LimitSettings::default()
        },
    )
    .await;
    let mut client = app.join("flood").await;
    for _ in 0..30 {
        client.send_json(json!({"type": "typing"})).await;
    }
    let frame = client.next_answer().await;
    let wait = assert_rate_limited(&frame, "frames");
    assert!(frame.get("client_id").is_none(), "{frame}");
    // Once the budget has refilled, the next frame is handled: no second refusal came in between.
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_eq!(send_and_answer(&mut client, "calm").await["type"], "ack");
    assert_eq!(stored(&app, "flood").await, ["calm"]);
    assert!(refusals(&app, "frames").await >= 1);
    app.stop().await;
}

#[tokio::test]
async fn limits_off_lets_everything_through() {
    let dir = TempDir::new();
    // Every limit as tight as it goes, then all of them off.
    let app = node(
        &dir,
        LimitSettings {
            send_rate: 1,
            send_burst: 1,
            frame_rate: 1,
            connections_per_address: 1,
            handshake_rate: 1,
            new_rooms_per_min: 1,
            replays_per_min: 1,
            replay_far_back: 0,
            ..LimitSettings::off()
        },
    )
    .await;
    let headers = guest(&app, "ann", None);
    let mut clients = Vec::new();
    for room in ["o1", "o2", "o3"] {
        let mut client = open(&app, &format!("/ws/chat/{room}/"), &headers).await;
        for i in 0..20 {
            send(&mut client, &format!("{room}-{i}")).await;
        }
        for _ in 0..20 {
            assert_eq!(client.next_answer().await["type"], "ack");
        }
        clients.push(client);
    }
    for _ in 0..3 {
        let mut replay = open(&app, "/ws/chat/o1/?since=0", &headers).await;
        assert_eq!(replay.messages(20).await.len(), 20);
        clients.push(replay);
    }
    for limit in [
        "sends",
        "frames",
        "connections_per_address",
        "handshakes",
        "new_rooms",
        "replays",
    ] {
        assert_eq!(refusals(&app, limit).await, 0, "{limit}");
    }
    app.stop().await;
}
