//! Presence and typing on one node: one entry per person however many tabs, a join and a leave as people
//! come and go, typing throttled and never replayed, and nothing of it for a plain client.

use serde_json::{Value, json};

use super::v2_guest;
use crate::helpers::{TempDir, spawn_app, texts};
use crate::people::Browser;

fn users(presence: &Value) -> Vec<String> {
    presence["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["user"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn presence_lists_each_person_once_and_follows_joins_and_leaves() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("ada").await;
    let mut ada_tab = ada.join_v2("/ws/chat/den/").await.expect("ada");
    let first = ada_tab.next_of_type("presence").await;
    assert_eq!(users(&first), ["ada"]);
    assert_eq!(first["users"][0]["guest"], false);
    assert_eq!(first["count"], 1);

    let mut bob = v2_guest(app.addr, "/ws/chat/den/", "bob").await;
    let snapshot = bob.next_of_type("presence").await;
    assert_eq!(users(&snapshot), ["ada", "bob"]);
    assert_eq!(snapshot["users"][1]["guest"], true);
    let join = ada_tab.next_of_type("join").await;
    assert_eq!(
        (join["user"].as_str(), join["guest"].as_bool()),
        (Some("bob"), Some(true))
    );

    // A second tab of ada is not a second person: nobody hears a join, and its snapshot has two people.
    let mut ada_second = ada.join_v2("/ws/chat/den/").await.expect("second tab");
    let snapshot = ada_second.next_of_type("presence").await;
    assert_eq!(snapshot["count"], 2);
    // Closing one of ada's tabs: ada is still here. bob's next frame is the typing below, not a leave.
    ada_second.close().await;
    ada_tab.send_json(json!({"type": "typing"})).await;
    let next = bob.next_frame().await;
    assert_eq!(
        (next["type"].as_str(), next["user"].as_str()),
        (Some("typing"), Some("ada"))
    );

    // bob goes: ada hears it.
    bob.close().await;
    let leave = ada_tab.next_of_type("leave").await;
    assert_eq!(leave["user"], "bob");
    app.stop().await;
}

#[tokio::test]
async fn typing_is_throttled_ephemeral_and_only_for_v2_clients() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut plain = app.join("den").await;
    let mut ada = v2_guest(app.addr, "/ws/chat/den/", "ada").await;
    let mut bob = v2_guest(app.addr, "/ws/chat/den/", "bob").await;
    bob.next_of_type("presence").await;
    for _ in 0..5 {
        ada.send_json(json!({"type": "typing"})).await;
    }
    ada.send_json(json!({"message": "done typing", "client_id": "t1"}))
        .await;
    // bob: one typing frame (throttled to one per 3 s per person), then the message.
    let typing = bob.next_frame().await;
    assert_eq!(
        (
            typing["type"].as_str(),
            typing["user"].as_str(),
            typing.get("id")
        ),
        (Some("typing"), Some("ada"), None),
        "{typing}"
    );
    let message = bob.next_frame().await;
    assert_eq!(
        message["type"], "message",
        "one typing frame only: {message}"
    );
    assert_eq!(message["message"], "done typing");

    // The plain client sees the message and nothing else: no presence, join, typing frame.
    let frame = plain.next_frame().await;
    assert_eq!(
        (frame["type"].as_str(), frame["message"].as_str()),
        (Some("message"), Some("done typing"))
    );

    // A replay from 0 holds the message, never the typing.
    let mut replay = v2_guest(app.addr, "/ws/chat/den/?since=0", "carol").await;
    let first = replay.next_frame().await;
    assert_eq!(
        (first["type"].as_str(), first["id"].as_u64()),
        (Some("message"), Some(1))
    );
    let then = replay.next_frame().await;
    assert_eq!(
        then["type"], "presence",
        "after the replay comes presence: {then}"
    );
    // The plain client still got nothing but that one message: its next frame is the next message.
    ada.say("second").await;
    let frame = plain.next_frame().await;
    assert_eq!(texts(&[frame]), ["second"]);
    app.stop().await;
}

#[tokio::test]
async fn a_big_room_sends_counts_not_names() {
    let dir = TempDir::new();
    let config = chatweb::config::Config {
        presence_list_max: 2,
        ..crate::helpers::test_config(dir.sqlite_url())
    };
    let app = crate::helpers::spawn_app_with(config).await;
    let mut a = v2_guest(app.addr, "/ws/chat/hall/", "a").await;
    a.next_of_type("presence").await;
    let mut b = v2_guest(app.addr, "/ws/chat/hall/", "b").await;
    b.next_of_type("presence").await;
    assert_eq!(a.next_of_type("join").await["user"], "b");
    let mut c = v2_guest(app.addr, "/ws/chat/hall/", "c").await;
    let snapshot = c.next_of_type("presence").await;
    assert_eq!(
        (snapshot["count"].as_u64(), snapshot["partial"].as_bool()),
        (Some(3), Some(true))
    );
    assert!(
        users(&snapshot).is_empty(),
        "no names above the limit: {snapshot}"
    );
    // No join for c (the room is over the limit): a's next frame is the message.
    b.say("hello").await;
    let next = a.next_frame().await;
    assert_eq!(next["type"], "message", "{next}");
    app.stop().await;
}
