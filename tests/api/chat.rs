//! Messaging in rooms: the Channels tutorial's two-browser check, plus ids, acks and idempotent sends.

use serde_json::json;

use crate::helpers::{TempDir, connect_small_buffer, ids, spawn_app, texts};

#[tokio::test]
async fn two_clients_in_a_room_both_receive_a_message_and_another_room_receives_nothing() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut alice = app.join("lobby").await;
    let mut bob = app.join("lobby").await;
    let mut carol = app.join("elsewhere").await;

    alice.say("hello, room").await;
    for client in [&mut alice, &mut bob] {
        let frame = client.next_message().await;
        assert_eq!(frame["message"], "hello, room");
        assert_eq!(frame["user"], "anonymous");
        assert_eq!(frame["id"], 1);
        assert!(frame["ts"].as_str().is_some_and(|ts| ts.ends_with('Z')));
    }

    // Messages are published in commit order: had alice's reached carol's room, it would come first.
    carol.say("anyone here?").await;
    let frame = carol.next_message().await;
    assert_eq!(frame["message"], "anyone here?");
    assert_eq!(frame["id"], 1, "rooms number their messages independently");

    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    for line in [
        "chatweb_connections 3",
        "chatweb_rooms 2",
        "chatweb_messages_received_total 2",
        "chatweb_deliveries_total 3",
        "chatweb_store_write_seconds_count",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_sender_name_comes_from_the_nickname_cookie() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = app.join_path("/ws/chat/r/", Some("Ad%C3%A1")).await;
    ada.say("hi").await;
    assert_eq!(ada.next_message().await["user"], "Adá");
    app.stop().await;
}

#[tokio::test]
async fn ids_count_up_without_gaps_in_send_order() {
    let dir = TempDir::new();
    let config = chatweb::config::Config {
        max_message_bytes: 16 * 1024,
        // The room buffer holds the whole burst (6 MB): this test is about the live path.
        room_buffer_bytes: 16 * 1024 * 1024,
        ..crate::helpers::test_config(dir.sqlite_url())
    };
    let app = crate::helpers::spawn_app_with(config).await;
    // A reader with a tiny socket buffer that reads nothing until all 500 (6 MB, more than the socket
    // buffers hold) are stored: its connection holds a backlog of live events (fewer than the room
    // buffer), drained in bursts.
    let mut reader = connect_small_buffer(app.addr, "/ws/chat/count/", 4096).await;
    let mut sender = app.join("count").await;
    let padding = "p".repeat(12_000);
    let sent: Vec<String> = (0..500).map(|i| format!("m{i} {padding}")).collect();
    for (i, text) in sent.iter().enumerate() {
        sender
            .send_json(json!({"message": text, "client_id": format!("c{i}")}))
            .await;
    }
    let mut acked = Vec::new();
    while acked.len() < sent.len() {
        let frame = sender.next_json().await;
        if frame["type"] == "ack" {
            acked.push(frame["id"].as_u64().expect("id"));
        }
    }
    assert_eq!(acked, (1..=500).collect::<Vec<u64>>());
    let got = reader.messages(500).await;
    assert_eq!(texts(&got), sent);
    assert_eq!(ids(&got), (1..=500).collect::<Vec<u64>>());
    // Within the room buffer: nobody fell behind, so nothing was read back from the store.
    assert_eq!(chatweb::stats::Stats::get(&app.stats.catch_ups), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_client_id_send_is_acked_once_stored_and_a_repeat_stores_nothing() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut client = app.join("acks").await;
    let mut watcher = app.join("acks").await;

    client
        .send_json(json!({"message": "once", "client_id": "c-1"}))
        .await;
    let mut frames = [client.next_json().await, client.next_json().await];
    frames.sort_by_key(|f| f["type"].as_str().map(str::to_owned));
    assert_eq!(frames[0]["type"], "ack");
    assert_eq!(frames[0]["client_id"], "c-1");
    assert_eq!(frames[0]["id"], 1);
    assert_eq!(frames[0]["duplicate"], false);
    assert_eq!(frames[1]["message"], "once");

    client
        .send_json(json!({"message": "once", "client_id": "c-1"}))
        .await;
    let ack = client.next_json().await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["id"], 1, "the repeat is acked with the original id");
    assert_eq!(ack["duplicate"], true);

    client
        .send_json(json!({"message": "twice", "client_id": "c-2"}))
        .await;
    let got = watcher.messages(2).await;
    assert_eq!(
        texts(&got),
        ["once", "twice"],
        "the repeat was not delivered again"
    );
    assert_eq!(ids(&got), [1, 2]);
    app.stop().await;
}
