//! Room roles and the rights that follow people's sockets: a room moderator moderates their room and no
//! other; staff rights taken away stop working on sockets already open; a ban stops reading too.

use serde_json::json;

use super::{api, person};
use crate::helpers::{TempDir, spawn_app};
use crate::people::{Browser, staff_browser};

/// ada, who creates the public room `town`, bob, whom she makes its moderator, and carol, a stranger.
async fn town_with_moderator(addr: std::net::SocketAddr) -> (Browser, Browser, Browser) {
    let mut ada = person(addr, "ada").await;
    let bob = person(addr, "bob").await;
    let carol = person(addr, "carol").await;
    let (status, _) = api(
        addr,
        &mut ada,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "town"})),
    )
    .await;
    assert_eq!(status, 201);
    let add = json!({"user": "bob", "role": "moderator"});
    let (status, body) = api(addr, &mut ada, "POST", "/api/rooms/town/members", Some(add)).await;
    assert_eq!(status, 201, "{body}");
    (ada, bob, carol)
}

#[tokio::test]
async fn a_room_moderator_mutes_and_kicks_in_their_room_and_nowhere_else() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let (_ada, bob, carol) = town_with_moderator(app.addr).await;

    let mut moderator = bob.join_v2("/ws/chat/town/").await.expect("bob enters");
    let mut target = carol.join_v2("/ws/chat/town/").await.expect("carol enters");
    moderator
        .send_json(json!({"type": "mute", "user": "carol", "seconds": 60, "client_id": "m"}))
        .await;
    let answer = moderator.next_answer().await;
    assert_eq!(
        (&answer["type"], &answer["action"]),
        (&json!("moderated"), &json!("mute")),
        "{answer}"
    );
    target
        .send_json(json!({"message": "let me speak", "client_id": "c"}))
        .await;
    assert_eq!(target.next_answer().await["code"], "muted");
    // Nor may a moderator touch the room's owner.
    moderator
        .send_json(json!({"type": "kick", "user": "ada", "client_id": "k0"}))
        .await;
    assert_eq!(moderator.next_answer().await["code"], "forbidden");
    moderator
        .send_json(json!({"type": "kick", "user": "carol", "client_id": "k"}))
        .await;
    assert_eq!(moderator.next_answer().await["type"], "moderated");
    assert_eq!(target.closed().await, Some(4408));

    // In a room where bob has no role, he is refused.
    let mut elsewhere = bob
        .join_v2("/ws/chat/lobby/")
        .await
        .expect("bob in the lobby");
    elsewhere
        .send_json(json!({"type": "mute", "user": "carol", "seconds": 60, "client_id": "x"}))
        .await;
    assert_eq!(elsewhere.next_answer().await["code"], "forbidden");
    // And a moderator does not give roles: owners do.
    let mut bob_browser = bob;
    let add = json!({"user": "carol", "role": "moderator"});
    let (status, _) = api(
        app.addr,
        &mut bob_browser,
        "POST",
        "/api/rooms/town/members",
        Some(add),
    )
    .await;
    assert_eq!(status, 403);
    app.stop().await;
}

#[tokio::test]
async fn staff_rights_taken_away_stop_working_on_sockets_already_open() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut boss = staff_browser(app.addr, &dir.sqlite_url(), "boss").await;
    let mut chief = staff_browser(app.addr, &dir.sqlite_url(), "chief").await;
    let bob = person(app.addr, "bob").await;
    let mut staff_socket = chief.join_v2("/ws/chat/hall/").await.expect("chief enters");
    let mut author = bob.join_v2("/ws/chat/hall/").await.expect("bob enters");
    for (i, text) in ["one", "two"].iter().enumerate() {
        author
            .send_json(json!({"message": text, "client_id": format!("b{i}")}))
            .await;
        assert_eq!(author.next_answer().await["type"], "ack");
    }
    staff_socket
        .send_json(json!({"type": "delete", "id": 1, "client_id": "d1"}))
        .await;
    assert_eq!(
        staff_socket.next_answer().await["type"],
        "ack",
        "staff delete any message"
    );

    // Another staff member takes chief's rights away in the admin.
    let chief_id = crate::tokens::accounts_on(&dir.sqlite_url())
        .await
        .user_named("chief")
        .await
        .expect("chief")
        .id;
    let page = boss
        .post(
            &format!("/admin/users/{chief_id}/staff"),
            &[("value", "false")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    staff_socket
        .send_json(json!({"type": "delete", "id": 2, "client_id": "d2"}))
        .await;
    let answer = staff_socket.next_answer().await;
    assert_eq!(
        answer["code"], "forbidden",
        "the open socket lost the right: {answer}"
    );
    staff_socket
        .send_json(json!({"type": "kick", "user": "bob", "client_id": "k"}))
        .await;
    assert_eq!(staff_socket.next_answer().await["code"], "forbidden");
    let _ = chief.get("/").await;
    app.stop().await;
}

#[tokio::test]
async fn a_ban_stops_reading_as_well_as_writing() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut boss = staff_browser(app.addr, &dir.sqlite_url(), "boss").await;
    let mut bob = person(app.addr, "bob").await;
    let mut speaker = boss.join("/ws/chat/hall/").await.expect("boss enters");
    speaker.say("the plan").await;
    let _ = speaker.next_json().await;
    assert_eq!(bob.get("/chat/hall/").await.status, 200);
    let page = boss.post("/admin/rooms/hall/ban", &[("user", "bob")]).await;
    assert!(page.status == 303 || page.status == 200, "{}", page.body);
    let page = bob.get("/chat/hall/").await;
    assert_eq!(page.status, 403);
    assert!(!page.body.contains("the plan"));
    let (status, body) = api(app.addr, &mut bob, "GET", "/api/rooms/hall/messages", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.to_string().contains("the plan"));
    let _ = boss.get("/").await;
    app.stop().await;
}

#[tokio::test]
async fn a_room_moderator_locks_and_opens_their_room_and_no_other() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let (_ada, mut bob, carol) = town_with_moderator(app.addr).await;
    let mut member = carol.join_v2("/ws/chat/town/").await.expect("carol enters");

    // A moderator locks the room: a member's send is refused, nothing stored.
    let (status, room) = api(
        app.addr,
        &mut bob,
        "PATCH",
        "/api/rooms/town",
        Some(json!({"locked": true})),
    )
    .await;
    assert_eq!(status, 200, "{room}");
    assert_eq!(room["locked"], true);
    member
        .send_json(json!({"message": "anyone?", "client_id": "c1"}))
        .await;
    assert_eq!(member.next_answer().await["code"], "room_locked");
    // A moderator sets the topic too (issue 19).
    let (status, room) = api(
        app.addr,
        &mut bob,
        "PATCH",
        "/api/rooms/town",
        Some(json!({"topic": "mine"})),
    )
    .await;
    assert_eq!((status, room["topic"].as_str()), (200, Some("mine")));
    // Nor lock a room where they hold no role.
    let (status, _) = api(
        app.addr,
        &mut bob,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "elsewhere"})),
    )
    .await;
    assert_eq!(status, 201);
    let mut outsider = carol;
    let (status, _) = api(
        app.addr,
        &mut outsider,
        "PATCH",
        "/api/rooms/elsewhere",
        Some(json!({"locked": true})),
    )
    .await;
    assert_eq!(status, 403);
    // The room page's panel opens it again.
    let page = bob.post("/chat/town/lock/", &[("locked", "false")]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    member
        .send_json(json!({"message": "hello again", "client_id": "c2"}))
        .await;
    assert_eq!(member.next_answer().await["type"], "ack");
    app.stop().await;
}
