//! Who may read a private or a direct room, at every door: the socket, the page, the history API and
//! the room list; and what members see of membership changes.

use serde_json::json;

use super::{api, listed, person};
use crate::helpers::{TempDir, spawn_app};
use crate::people::{Browser, socket};

#[tokio::test]
async fn a_private_room_is_its_members_only_at_every_door() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = person(app.addr, "ada").await;
    let mut bob = person(app.addr, "bob").await;
    let mut guest = Browser::new(app.addr);

    let room = json!({"name": "plans", "kind": "private", "topic": "the secret plan"});
    let (status, created) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/rooms/",
        Some(room.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "private");
    assert_eq!(created["role"], "owner");
    assert_eq!(
        created["members"],
        json!([{"user": "ada", "role": "owner"}])
    );
    let (status, again) = api(app.addr, &mut bob, "POST", "/api/rooms/", Some(room)).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (409, Some("conflict")),
        "the name is taken"
    );
    let (status, _) = api(
        app.addr,
        &mut guest,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "g"})),
    )
    .await;
    assert_eq!(status, 401, "guests cannot create rooms");

    let mut owner = ada
        .join_v2("/ws/chat/plans/")
        .await
        .expect("the owner enters");
    owner.say("only for members").await;
    // A v2 client's history holds the room's creation first: ada added as its owner.
    let created = owner.next_of_type("member").await;
    assert_eq!(
        (&created["user"], &created["role"]),
        (&json!("ada"), &json!("owner"))
    );
    let said = owner.next_of_type("message").await;
    assert_eq!(said["message"], "only for members");

    // Outsiders: refused at the socket, 404 at the page and the API, and not listed.
    for who in [&mut bob, &mut guest] {
        assert_eq!(who.join("/ws/chat/plans/").await.err(), Some(403));
        assert_eq!(who.get("/chat/plans/").await.status, 404);
        let (status, body) = api(app.addr, who, "GET", "/api/rooms/plans/messages", None).await;
        assert_eq!(status, 404, "{body}");
        assert!(!body.to_string().contains("only for members"));
        let (status, _) = api(app.addr, who, "GET", "/api/rooms/plans/members", None).await;
        assert!(status == 404 || status == 401, "{status}");
        assert!(!listed(app.addr, who).await.contains(&"plans".to_owned()));
    }
    let page = ada.get("/chat/plans/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("the secret plan") && page.body.contains("private"));
    assert!(
        listed(app.addr, &mut ada)
            .await
            .contains(&"plans".to_owned())
    );

    // Added, bob reads and writes; the owner's v2 socket hears of it as an event of the room.
    let (status, added) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/rooms/plans/members",
        Some(json!({"user": "bob"})),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    let event = owner.next_of_type("member").await;
    assert_eq!(
        (
            &event["user"],
            &event["action"],
            &event["role"],
            &event["by"]
        ),
        (
            &json!("bob"),
            &json!("added"),
            &json!("member"),
            &json!("ada")
        )
    );
    let mut member = bob.join("/ws/chat/plans/").await.expect("a member enters");
    // A plain Channels client gets the history's messages only, never a membership event.
    let first = member.next_json().await;
    assert_eq!(first["message"], "only for members", "{first}");
    member.say("hello from bob").await;
    let heard = member.next_json().await;
    assert_eq!(heard["message"], "hello from bob", "{heard}");
    assert_eq!(owner.next_message().await["message"], "hello from bob");
    let (status, history) = api(app.addr, &mut bob, "GET", "/api/rooms/plans/messages", None).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(2));

    // Removed, bob's socket closes with 4403, and a resume is refused.
    let (status, _) = api(
        app.addr,
        &mut ada,
        "DELETE",
        "/api/rooms/plans/members/bob",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(member.closed().await, Some(4403));
    assert_eq!(bob.join("/ws/chat/plans/?since=1").await.err(), Some(403));
    assert_eq!(bob.get("/chat/plans/").await.status, 404);

    // The only owner cannot leave.
    let (status, body) = api(
        app.addr,
        &mut ada,
        "DELETE",
        "/api/rooms/plans/members/ada",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_direct_room_is_the_same_whoever_asks_and_nobody_elses() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = person(app.addr, "ada").await;
    let mut bob = person(app.addr, "bob").await;
    let mut carol = person(app.addr, "carol").await;

    let (status, first) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/dms/",
        Some(json!({"users": ["bob"]})),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["kind"], "direct");
    let name = first["name"].as_str().expect("name").to_owned();
    assert!(name.starts_with("dm-"), "{name}");
    let (_, second) = api(
        app.addr,
        &mut bob,
        "POST",
        "/api/dms/",
        Some(json!({"users": ["ADA", "bob"]})),
    )
    .await;
    assert_eq!(
        second["name"],
        name.as_str(),
        "the same room, from either side, in any case"
    );
    let (_, group) = api(
        app.addr,
        &mut bob,
        "POST",
        "/api/dms/",
        Some(json!({"users": ["ada", "carol"]})),
    )
    .await;
    assert_ne!(
        group["name"],
        name.as_str(),
        "another set of people, another room"
    );
    let (status, _) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/dms/",
        Some(json!({"users": ["nobody"]})),
    )
    .await;
    assert_eq!(status, 404);

    let path = format!("/ws/chat/{name}/");
    let mut a = ada.join_v2(&path).await.expect("ada enters");
    let mut b = bob.join(&path).await.expect("bob enters");
    a.say("psst").await;
    assert_eq!(b.next_json().await["message"], "psst");
    assert_eq!(carol.join(&path).await.err(), Some(403));
    assert_eq!(carol.get(&format!("/chat/{name}/")).await.status, 404);

    // Nobody joins a direct room: not by being added, not by an invite.
    let add = json!({"user": "carol"});
    let (status, _) = api(
        app.addr,
        &mut ada,
        "POST",
        &format!("/api/rooms/{name}/members"),
        Some(add),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = api(
        app.addr,
        &mut ada,
        "POST",
        &format!("/api/rooms/{name}/invites"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 403);
    assert!(listed(app.addr, &mut bob).await.contains(&name));
    assert!(!listed(app.addr, &mut carol).await.contains(&name));
    drop((a, b));
    app.stop().await;
}

#[tokio::test]
async fn public_rooms_and_the_channels_client_are_unchanged() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut guest = app.join("lobby").await;
    guest.send_json(json!({"message": "hi"})).await;
    let frame = guest.next_json().await;
    assert_eq!(
        (&frame["user"], &frame["message"]),
        (&json!("anonymous"), &json!("hi"))
    );
    let mut visitor = Browser::new(app.addr);
    assert_eq!(visitor.get("/chat/lobby/").await.status, 200);
    let (status, rooms) = api(app.addr, &mut visitor, "GET", "/api/rooms/", None).await;
    assert_eq!(status, 200);
    assert_eq!(rooms["rooms"][0]["kind"], "public");
    assert_eq!(rooms["rooms"][0]["role"], json!(null));
    // A socket with no cookie at all, as the Django page's script opens it.
    let plain = socket(
        app.addr,
        "/ws/chat/lobby/",
        &[("origin", app.origin())],
        false,
    )
    .await;
    assert!(plain.is_ok());
    app.stop().await;
}

#[tokio::test]
async fn a_change_signed_in_by_the_session_cookie_needs_the_csrf_header() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let ada = person(app.addr, "ada").await;
    // What a forged cross-site request carries: the browser's cookies, no header a page of ours set.
    let answer = reqwest::Client::new()
        .post(format!("http://{}/api/rooms/", app.addr))
        .header("cookie", ada.cookie_header())
        .header("content-type", "application/json")
        .body(json!({"name": "forged", "kind": "private"}).to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status().as_u16(), 403);
    let body: serde_json::Value =
        serde_json::from_str(&answer.text().await.expect("body")).expect("JSON");
    assert_eq!(body["error"], "forbidden");
    let mut ada = ada;
    assert!(
        !listed(app.addr, &mut ada)
            .await
            .contains(&"forged".to_owned())
    );
    let (status, _) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "forged"})),
    )
    .await;
    assert_eq!(status, 201, "the name was never taken");
    app.stop().await;
}

#[tokio::test]
async fn an_export_leaves_private_and_direct_rooms_out() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = person(app.addr, "ada").await;
    person(app.addr, "bob").await;
    let room = json!({"name": "plans", "kind": "private"});
    assert_eq!(
        api(app.addr, &mut ada, "POST", "/api/rooms/", Some(room))
            .await
            .0,
        201
    );
    let (_, dm) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/dms/",
        Some(json!({"users": ["bob"]})),
    )
    .await;
    let dm = dm["name"].as_str().expect("name").to_owned();
    for path in [
        "/ws/chat/plans/".to_owned(),
        format!("/ws/chat/{dm}/"),
        "/ws/chat/lobby/".to_owned(),
    ] {
        let mut socket = ada.join(&path).await.expect("ada enters");
        socket.say("a secret, or not").await;
        let _ = socket.next_json().await;
    }
    app.stop().await;
    let rooms: Vec<String> = crate::archive::export(&dir.sqlite_url(), &[])
        .await
        .iter()
        .map(|row| row["room"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(rooms.contains(&"lobby".to_owned()), "{rooms:?}");
    assert!(
        !rooms.contains(&"plans".to_owned()) && !rooms.contains(&dm),
        "{rooms:?}"
    );
}
