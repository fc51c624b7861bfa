//! Edits, deletions and read marks over the socket: each change to history is an event with its own id,
//! acked like a send; only its author (staff: any message, for deletion) may make it; refusals change
//! nothing and use no id; a plain client never sees the events but history shows the result.

use serde_json::json;

use super::v2_guest;
use crate::helpers::{TempDir, spawn_app, texts};
use crate::people::{Browser, staff_browser};

#[tokio::test]
async fn an_author_edits_and_deletes_their_message_and_everyone_sees_it_once() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("ada").await;
    let mut plain = app.join("den").await;
    let mut watcher = v2_guest(app.addr, "/ws/chat/den/", "bob").await;
    let mut me = ada.join_v2("/ws/chat/den/").await.expect("ada");
    assert_eq!(me.send_acked("m", 2).await, [1, 2]);
    me.send_json(json!({"type": "edit", "id": 1, "message": "m-0, fixed", "client_id": "e1"}))
        .await;
    let ack = me.next_of_type("ack").await;
    assert_eq!(
        (ack["client_id"].as_str(), ack["id"].as_u64()),
        (Some("e1"), Some(3))
    );
    // The same edit again (a resend after a reconnect) is stored once.
    me.send_json(json!({"type": "edit", "id": 1, "message": "m-0, fixed", "client_id": "e1"}))
        .await;
    let again = me.next_of_type("ack").await;
    assert_eq!(
        (again["id"].as_u64(), again["duplicate"].as_bool()),
        (Some(3), Some(true))
    );
    me.send_json(json!({"type": "delete", "id": 2, "client_id": "d1"}))
        .await;
    assert_eq!(me.next_of_type("ack").await["id"], 4);

    let frames = watcher.messages_and_events(4).await;
    assert_eq!(frames[2]["type"], "edit");
    assert_eq!(
        (
            frames[2]["id"].as_u64(),
            frames[2]["target"].as_u64(),
            frames[2]["message"].as_str()
        ),
        (Some(3), Some(1), Some("m-0, fixed"))
    );
    assert_eq!(
        (frames[3]["type"].as_str(), frames[3]["target"].as_u64()),
        (Some("delete"), Some(2))
    );
    // The plain client saw the two messages only; its next frame is the next message (id 5).
    let seen = plain.messages(2).await;
    assert_eq!(texts(&seen), ["m-0", "m-1"]);
    me.say("after").await;
    assert_eq!(plain.next_frame().await["id"], 5);

    // History: the edited text marked edited, the deletion as a tombstone for v2; plain skips it.
    let mut fresh = v2_guest(app.addr, "/ws/chat/den/", "carol").await;
    let history = fresh.messages_and_events(5).await;
    assert_eq!(
        (
            history[0]["message"].as_str(),
            history[0]["edited"].as_bool()
        ),
        (Some("m-0, fixed"), Some(true))
    );
    assert_eq!(history[1]["deleted"], true);
    // A replay from 0 carries the events in their place in the sequence, ids 1 to 5 with no gap.
    let mut replay = v2_guest(app.addr, "/ws/chat/den/?since=0", "dave").await;
    let replayed = replay.messages_and_events(5).await;
    let kinds: Vec<_> = replayed
        .iter()
        .map(|f| {
            (
                f["id"].as_u64().unwrap_or(0),
                f["type"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (1, "message".to_owned()),
            (2, "message".to_owned()),
            (3, "edit".to_owned()),
            (4, "delete".to_owned()),
            (5, "message".to_owned())
        ]
    );
    assert_eq!(replayed[2]["message"], "m-0, fixed");
    let mut old_style = app.join("den").await;
    let shown = old_style.messages(2).await;
    assert_eq!(texts(&shown), ["m-0, fixed", "after"]);
    app.stop().await;
}

#[tokio::test]
async fn someone_elses_message_an_unknown_id_or_a_guest_is_refused_and_uses_no_id() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("ada").await;
    let mut eve = Browser::new(app.addr);
    eve.sign_up("eve").await;
    let mut ada_socket = ada.join_v2("/ws/chat/den/").await.expect("ada");
    assert_eq!(ada_socket.send_acked("a", 1).await, [1]);
    ada_socket.say("by guest soon").await;
    let mut eve_socket = eve.join_v2("/ws/chat/den/").await.expect("eve");
    let mut guest = v2_guest(app.addr, "/ws/chat/den/", "mallory").await;
    for (by_guest, frame, code) in [
        (
            false,
            json!({"type": "edit", "id": 1, "message": "pwned", "client_id": "x1"}),
            "forbidden",
        ),
        (
            false,
            json!({"type": "delete", "id": 1, "client_id": "x2"}),
            "forbidden",
        ),
        (
            false,
            json!({"type": "delete", "id": 99, "client_id": "x3"}),
            "not_found",
        ),
        (
            true,
            json!({"type": "delete", "id": 1, "client_id": "x4"}),
            "forbidden",
        ),
        (true, json!({"type": "read", "id": 1}), "login_required"),
    ] {
        let socket = if by_guest {
            &mut guest
        } else {
            &mut eve_socket
        };
        socket.send_json(frame.clone()).await;
        let error = socket.next_of_type("error").await;
        assert_eq!(error["code"], code, "{frame} -> {error}");
        if let Some(id) = frame.get("client_id") {
            assert_eq!(&error["client_id"], id);
        }
    }
    // Nothing changed and no id was used: the next message is 3 and message 1 reads as sent.
    assert_eq!(ada_socket.send_acked("b", 1).await, [3]);
    let mut fresh = app.join("den").await;
    assert_eq!(
        texts(&fresh.messages(3).await),
        ["a-0", "by guest soon", "b-0"]
    );

    // Staff may delete anyone's message (but not edit it).
    let mut staff = staff_browser(app.addr, &dir.sqlite_url(), "moderator").await;
    let mut mod_socket = staff.join_v2("/ws/chat/den/").await.expect("staff");
    mod_socket
        .send_json(json!({"type": "edit", "id": 1, "message": "x", "client_id": "s1"}))
        .await;
    assert_eq!(mod_socket.next_of_type("error").await["code"], "forbidden");
    mod_socket
        .send_json(json!({"type": "delete", "id": 1, "client_id": "s2"}))
        .await;
    assert_eq!(mod_socket.next_of_type("ack").await["id"], 4);
    let _ = &mut staff;
    app.stop().await;
}

#[tokio::test]
async fn read_marks_only_move_forward_and_come_back_on_the_next_connect() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("ada").await;
    let mut first = ada.join_v2("/ws/chat/den/").await.expect("ada");
    assert_eq!(
        first.next_of_type("read").await["id"],
        0,
        "nothing read yet"
    );
    assert_eq!(first.send_acked("m", 5).await, [1, 2, 3, 4, 5]);
    first.send_json(json!({"type": "read", "id": 4})).await;
    first.send_json(json!({"type": "read", "id": 2})).await;
    // Beyond what the socket was sent: clamped to 5.
    first.send_json(json!({"type": "read", "id": 4000})).await;
    // A round trip on the same socket orders the marks before the next connect.
    assert_eq!(first.send_acked("n", 1).await, [6]);
    let mut second = ada.join_v2("/ws/chat/den/").await.expect("again");
    let read = second.next_of_type("read").await;
    assert_eq!(
        (read["room"].as_str(), read["id"].as_u64()),
        (Some("den"), Some(5))
    );
    first.close().await;
    second.close().await;
    // After a restart the mark comes from the database (the stopping node wrote it).
    app.stop().await;
    let app = spawn_app(&dir).await;
    let mut third = ada
        .on(app.addr)
        .join_v2("/ws/chat/den/")
        .await
        .expect("after restart");
    assert_eq!(third.next_of_type("read").await["id"], 5);
    app.stop().await;
}
