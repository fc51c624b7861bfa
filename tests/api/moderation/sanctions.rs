//! Mutes, bans and kicks in one room: a held send is answered and never stored (ids stay gap-free), a mute
//! ends on time, a ban closes with 4403 and refuses the rejoin with 403 (guests held by nickname), a kick
//! closes with 4408 and lets them back.

use serde_json::json;

use super::{
    assert_audited, assert_back_to_room, assert_error, assert_moderated, command, moderated_room,
    room_page, send, send_when_allowed, table,
};
use crate::accounts::member;
use crate::helpers::{TempDir, ids, texts};

#[tokio::test]
async fn a_muted_member_is_answered_muted_nothing_is_stored_and_the_mute_ends_on_time() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "lobby").await;
    let bob = member(&app, "bob").await;
    let mut bob_socket = bob.join("/ws/chat/lobby/").await.expect("bob joins");
    let mut watcher = app.join("lobby").await;
    assert_eq!(send(&mut bob_socket, "one", "b0").await["id"], 1);

    let mute = json!({"type": "mute", "user": "bob", "seconds": 1});
    let answer = command(&mut mod_socket, mute, "m1").await;
    assert_moderated(&answer, "mute");
    assert_eq!(
        (answer["user"].as_str(), answer["room"].as_str()),
        (Some("bob"), Some("lobby"))
    );
    assert_eq!(answer["seconds"], 1);
    let until = answer["until"].as_str().expect("until").to_owned();
    assert!(
        table(&room_page(&mut staff, "lobby").await, "mute-list").contains("bob"),
        "the admin lists the mute"
    );

    let held = send(&mut bob_socket, "held", "b1").await;
    assert_error(&held, "muted", "b1");
    assert_eq!(held["until"], until.as_str(), "{held}");
    assert!(held["retry_after_ms"].as_u64().expect("retry_after_ms") <= 1000);
    // An edit of their own message is held too.
    bob_socket
        .send_json(json!({"type": "edit", "id": 1, "message": "edited", "client_id": "e1"}))
        .await;
    assert_error(&bob_socket.next_answer().await, "muted", "e1");

    // The held send took no id: the next message is 2.
    assert_eq!(send(&mut mod_socket, "two", "s1").await["id"], 2);
    let ack = send_when_allowed(&mut bob_socket, "after", "b2").await;
    assert_eq!(ack["id"], 3, "{ack}");
    let seen = watcher.messages(3).await;
    assert_eq!(ids(&seen), [1, 2, 3]);
    assert_eq!(texts(&seen), ["one", "two", "after"]);
    let mut replay = app.join_path("/ws/chat/lobby/?since=0", None).await;
    assert_eq!(
        texts(&replay.messages(3).await),
        ["one", "two", "after"],
        "nothing held was stored"
    );
    assert!(
        !table(&room_page(&mut staff, "lobby").await, "mute-list").contains("bob"),
        "an ended mute is not listed"
    );
    assert_audited(&mut staff, "room.mute", "bob in lobby").await;
    app.stop().await;
}

#[tokio::test]
async fn a_ban_closes_with_4403_refuses_the_rejoin_and_holds_guests_by_nickname() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "hall").await;
    let bob = member(&app, "bob").await;
    let mut bob_socket = bob.join("/ws/chat/hall/").await.expect("bob joins");
    let mut other_room = bob.join("/ws/chat/elsewhere/").await.expect("bob joins");

    let page = staff
        .post("/admin/rooms/hall/ban", &[("user", "bob")])
        .await;
    assert_back_to_room(&page, "hall");
    assert_eq!(bob_socket.closed().await, Some(4403));
    assert_eq!(bob.join("/ws/chat/hall/").await.err(), Some(403));
    let bans = room_page(&mut staff, "hall").await;
    assert!(table(&bans, "ban-list").contains("until lifted"), "{bans}");
    // Only that room.
    assert_eq!(
        send(&mut other_room, "still here", "o1").await["type"],
        "ack"
    );

    // A guest is banned by nickname, whatever its case; another nickname gets in (the documented limit).
    let origin = app.origin();
    let mut eve = app
        .handshake("/ws/chat/hall/", Some(&origin), Some("eve"))
        .await
        .expect("eve joins");
    let answer = command(
        &mut mod_socket,
        json!({"type": "ban", "user": "Eve"}),
        "ban-eve",
    )
    .await;
    assert_moderated(&answer, "ban");
    assert_eq!(answer["guest"], true, "{answer}");
    assert_eq!(eve.closed().await, Some(4403));
    for nickname in ["eve", "EVE"] {
        let refused = app
            .handshake("/ws/chat/hall/", Some(&origin), Some(nickname))
            .await
            .err();
        assert_eq!(refused, Some(403), "{nickname}");
    }
    let mut eve2 = app
        .handshake("/ws/chat/hall/", Some(&origin), Some("eve2"))
        .await
        .expect("another nickname");
    assert_eq!(send(&mut eve2, "hello", "e2").await["type"], "ack");

    let page = staff
        .post("/admin/rooms/hall/unban", &[("user", "bob")])
        .await;
    assert_back_to_room(&page, "hall");
    let mut back = bob.join("/ws/chat/hall/").await.expect("unbanned");
    assert_eq!(send(&mut back, "back", "b1").await["type"], "ack");
    let again = staff
        .post("/admin/rooms/hall/unban", &[("user", "bob")])
        .await;
    assert_eq!(again.status, 200, "shown again with an error");
    assert!(again.body.contains("is not banned"), "{}", again.body);

    assert_audited(&mut staff, "room.ban", "bob in hall").await;
    assert_audited(&mut staff, "room.ban", "Eve (guest) in hall").await;
    assert_audited(&mut staff, "room.unban", "bob in hall").await;
    app.stop().await;
}

#[tokio::test]
async fn a_kick_closes_with_4408_and_the_rejoin_is_allowed() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "hall").await;
    let bob = member(&app, "bob").await;
    let mut first = bob.join("/ws/chat/hall/").await.expect("bob joins");
    let mut second = bob.join_v2("/ws/chat/hall/").await.expect("a second tab");
    let mut other_room = bob.join("/ws/chat/elsewhere/").await.expect("bob joins");

    let answer = command(
        &mut mod_socket,
        json!({"type": "kick", "user": "bob"}),
        "k1",
    )
    .await;
    assert_moderated(&answer, "kick");
    assert_eq!(first.closed().await, Some(4408));
    assert_eq!(second.closed().await, Some(4408));
    assert_eq!(
        send(&mut other_room, "still here", "o1").await["type"],
        "ack"
    );
    let mut back = bob
        .join("/ws/chat/hall/")
        .await
        .expect("a kick allows the rejoin");
    assert_eq!(send(&mut back, "back", "b1").await["id"], 1);

    let page = staff
        .post("/admin/rooms/hall/kick", &[("user", "bob")])
        .await;
    assert_back_to_room(&page, "hall");
    assert_eq!(back.closed().await, Some(4408));
    bob.join("/ws/chat/hall/").await.expect("rejoins again");
    assert_audited(&mut staff, "room.kick", "bob in hall").await;
    app.stop().await;
}
