//! A flood of any frame is answered once and dropped, and `--limits off` lets everything through.

use std::time::Duration;

use chatweb::limits::LimitSettings;
use serde_json::json;

use super::{assert_rate_limited, guest, node, open, refusals, send, send_and_answer, stored};
use crate::helpers::TempDir;

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
