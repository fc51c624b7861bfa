//! Limits at the handshake: open connections and handshakes per address, and full-history replays per client
//! (at the handshake and on the socket), each refused with a 429 that names the limit.

use std::time::Duration;

use chatweb::limits::LimitSettings;
use serde_json::json;

use super::{
    assert_rate_limited, behind_local_proxy, guest, node, open, refusals, refused, send_and_answer,
};
use crate::helpers::{PATIENCE, TempDir};
use crate::people::socket;

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
