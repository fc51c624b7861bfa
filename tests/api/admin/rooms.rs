//! Rooms in the admin: the room list with each room's message count, last id and state; every listing's
//! pager; a locked room refusing sends with `room_locked` and storing nothing until it is unlocked; and
//! clearing a room, one `clear` event that only `chatweb.v2` clients see while plain ones see nothing.

use serde_json::json;

use crate::accounts::member;
use crate::helpers::{TempDir, ids};

use super::{
    STAFF, admin_app, assert_plain_message, assert_room_locked, audit_rows, audited, follow,
    ids_and_texts, page_of, redirected, room_action, room_row, said, send_to_locked, send_with_id,
    table, v2_join,
};

#[tokio::test]
async fn every_admin_listing_has_a_pager_saying_which_page_of_how_many_it_shows() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut lobby = app.join("lobby").await;
    said(&mut lobby, "one").await;
    said(&mut lobby, "two").await;
    room_action(&mut staff, "lobby", "lock").await;
    for (listing, pager) in [
        ("/admin/users/", "page 1 of 1 (1)"),
        ("/admin/rooms/", "page 1 of 1 (1)"),
        ("/admin/messages/", "page 1 of 1 (2)"),
        ("/admin/messages/?room=lobby&user=&q=one", "page 1 of 1 (1)"),
        ("/admin/audit/", "page 1 of 1 (1)"),
    ] {
        let body = page_of(&mut staff, listing).await;
        assert!(body.contains(pager), "{listing} says {pager:?}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_room_list_shows_each_rooms_message_count_last_id_and_state() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut lobby = app.join("lobby").await;
    for text in ["one", "two", "three"] {
        said(&mut lobby, text).await;
    }
    said(&mut app.join("kitchen").await, "tea").await;
    let list = page_of(&mut staff, "/admin/rooms/").await;
    let rows = table(&list, "room-list");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let lobby_row = room_row(&mut staff, "lobby").await;
    assert_eq!(&lobby_row[1..3], ["3", "3"]);
    assert_eq!(lobby_row[4], "open");
    assert_eq!(lobby_row[5], "public");
    assert!(lobby_row[6].contains("Lock"), "{lobby_row:?}");
    let kitchen = room_row(&mut staff, "kitchen").await;
    assert_eq!(&kitchen[1..3], ["1", "1"]);
    assert!(
        list.contains("href=\"/admin/messages/?room=lobby\""),
        "{list}"
    );
    let index = page_of(&mut staff, "/admin/").await;
    assert!(index.contains("Rooms</a>: 2"), "{index}");
    assert!(index.contains("Users</a>: 1"), "{index}");
    app.stop().await;
}

#[tokio::test]
async fn a_locked_room_refuses_sends_with_room_locked_and_stores_nothing_until_it_is_unlocked() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut watcher = app.join("lobby").await;
    let mut sender = app.join("lobby").await;
    said(&mut sender, "before").await;
    assert_plain_message(&watcher.next_message().await, 1, "before");

    let page = staff.post("/admin/rooms/lobby/lock", &[]).await;
    let list = follow(&mut staff, &page, "/admin/rooms/?notice=").await;
    assert!(list.contains("room locked: it is read-only"), "{list}");
    let row = room_row(&mut staff, "lobby").await;
    assert_eq!(row[4], "locked");
    assert!(row[6].contains("Unlock"), "{row:?}");
    audited(&mut staff, STAFF, "room.lock", "lobby").await;

    send_to_locked(&mut sender, "x", "c1").await;
    sender.say("plain").await;
    assert_room_locked(&sender.next_json().await, None);
    let ada = member(&app, "ada").await;
    let mut member_socket = ada.join("/ws/chat/lobby/").await.expect("joined");
    assert_eq!(member_socket.next_message().await["message"], "before");
    member_socket
        .send_json(json!({"type": "message", "message": "me too", "client_id": "m1"}))
        .await;
    assert_room_locked(&member_socket.next_json().await, Some("m1"));
    let mut replay = app.join_path("/ws/chat/lobby/?since=0", None).await;
    assert_plain_message(&replay.next_message().await, 1, "before");

    let page = staff
        .post(
            "/admin/rooms/lobby/unlock",
            &[("next", "/admin/rooms/?page=1")],
        )
        .await;
    redirected(&page, "/admin/rooms/?page=1&notice=room%20unlocked");
    assert_eq!(room_row(&mut staff, "lobby").await[4], "open");
    audited(&mut staff, STAFF, "room.unlock", "lobby").await;
    // The refused client_id was never stored: sent again, it is a new message with the next id.
    let (ack, echo) = send_with_id(&mut sender, "x", "c1").await;
    assert_eq!(
        (ack["id"].as_u64(), ack["duplicate"].as_bool()),
        (Some(2), Some(false))
    );
    assert_plain_message(&echo, 2, "x");
    // Nothing reached anyone while the room was locked: the next frame everywhere is message 2.
    assert_plain_message(&watcher.next_message().await, 2, "x");
    assert_plain_message(&replay.next_message().await, 2, "x");
    assert_plain_message(&member_socket.next_message().await, 2, "x");
    assert_eq!(room_row(&mut staff, "lobby").await[1], "2");

    assert_eq!(
        staff.post("/admin/rooms/nowhere/lock", &[]).await.status,
        404
    );
    assert_eq!(
        staff
            .post("/admin/rooms/no%20such%20room!/lock", &[])
            .await
            .status,
        404
    );
    assert_eq!(audit_rows(&mut staff).await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn clearing_a_room_deletes_every_message_as_one_clear_event_that_only_v2_clients_see() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut v2 = v2_join(&app, "/ws/chat/lobby/").await;
    let mut plain = app.join("lobby").await;
    let mut sender = app.join("lobby").await;
    for text in ["alpha", "beta", "gamma"] {
        said(&mut sender, text).await;
    }
    assert_eq!(ids(&v2.messages(3).await), [1, 2, 3]);
    assert_eq!(ids(&plain.messages(3).await), [1, 2, 3]);

    let page = staff.post("/admin/rooms/lobby/clear", &[]).await;
    redirected(&page, "/admin/rooms/?notice=");
    let event = v2.next_json().await;
    assert_eq!(event["type"], "clear", "{event}");
    assert_eq!(
        (event["id"].as_u64(), event["through"].as_u64()),
        (Some(4), Some(3)),
        "{event}"
    );
    assert_eq!(event["user"], STAFF);
    assert!(event.get("message").is_none(), "{event}");
    let row = audited(&mut staff, STAFF, "room.clear", "lobby").await;
    assert_eq!(row[4], "event 4");

    said(&mut sender, "fresh").await;
    assert_plain_message(&plain.next_message().await, 5, "fresh");
    assert_eq!(v2.next_message().await["id"], 5);

    let mut plain_replay = app.join_path("/ws/chat/lobby/?since=0", None).await;
    assert_plain_message(&plain_replay.next_message().await, 5, "fresh");
    let mut plain_join = app.join("lobby").await;
    assert_plain_message(&plain_join.next_message().await, 5, "fresh");
    let mut v2_replay = v2_join(&app, "/ws/chat/lobby/?since=0").await;
    for id in 1..=3 {
        let tombstone = v2_replay.next_json().await;
        assert_eq!(tombstone["type"], "message", "{tombstone}");
        assert_eq!(tombstone["id"], id);
        assert_eq!(
            (
                tombstone["deleted"].as_bool(),
                tombstone["message"].as_str()
            ),
            (Some(true), Some(""))
        );
    }
    let event = v2_replay.next_json().await;
    assert_eq!(
        (event["type"].as_str(), event["id"].as_u64()),
        (Some("clear"), Some(4)),
        "{event}"
    );
    assert_eq!(v2_replay.next_message().await["message"], "fresh");

    let row = room_row(&mut staff, "lobby").await;
    assert_eq!(&row[1..3], ["1", "5"], "one message left; last id 5");
    assert_eq!(
        ids_and_texts(&mut staff, "room=lobby").await,
        [
            ["5", "fresh"],
            ["3", "deleted"],
            ["2", "deleted"],
            ["1", "deleted"]
        ]
    );
    let body = page_of(&mut staff, "/admin/messages/?room=lobby").await;
    assert!(!body.contains("alpha") && !body.contains("gamma"), "{body}");
    app.stop().await;
}
