//! The pages of issue 18, through their HTML forms as a browser sends them (the CSRF field included): the
//! lobby creates rooms and opens direct rooms, and the room page's members panel changes members, roles
//! and the topic and makes invite links. Whoever may not read a room gets 404 from every panel route and
//! changes nothing. (The admin's member forms are `admin.rs`'s.)

use serde_json::json;

use super::{api, members, person};
use crate::helpers::{TempDir, spawn_app};
use crate::people::Browser;

/// The HTML of the "Your rooms" list on `who`'s lobby.
async fn your_rooms(who: &mut Browser) -> String {
    let lobby = who.get("/").await;
    assert_eq!(lobby.status, 200);
    let start = lobby.body.find("id=\"my-room-list\"").expect("Your rooms");
    let end = lobby.body[start..].find("</ul>").expect("the list ends");
    lobby.body[start..start + end].to_owned()
}

#[tokio::test]
async fn a_signed_in_user_creates_a_private_room_from_the_lobby_form_and_lands_in_it() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = person(app.addr, "ada").await;
    let mut bob = person(app.addr, "bob").await;
    let lobby = ada.get("/").await;
    for id in [
        "create-room-form",
        "dm-form",
        "my-room-list",
        "csrfmiddlewaretoken",
    ] {
        assert!(lobby.body.contains(id), "the lobby has {id}");
    }

    let form = [
        ("name", "plans"),
        ("kind", "private"),
        ("topic", "Q3 <goals>"),
    ];
    let page = ada.post("/rooms/", &form).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/chat/plans/"));
    let room = ada.get("/chat/plans/").await;
    assert_eq!(room.status, 200);
    assert!(
        room.body.contains("id=\"room-kind\">private<"),
        "{}",
        room.body
    );
    assert!(room.body.contains("Q3 &lt;goals&gt;"), "the topic, escaped");
    assert!(
        room.body.contains("id=\"members-panel\""),
        "its owner gets the panel"
    );
    let mine = your_rooms(&mut ada).await;
    assert!(mine.contains("data-room=\"plans\""), "{mine}");
    assert!(mine.contains(">private<"), "{mine}");
    assert_eq!(
        bob.get("/chat/plans/").await.status,
        404,
        "bob is no member"
    );
    assert!(
        !bob.get("/").await.body.contains("plans"),
        "nor is it listed for him"
    );

    // Refusals show the lobby again, with the form filled in and the reason.
    let page = ada.post("/rooms/", &form).await;
    assert_eq!(page.status, 409, "the name is taken");
    assert!(
        page.body.contains(
            "id=\"create-room-error\" class=\"error\" role=\"alert\">A room of that name exists."
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"plans\""), "the name is kept");
    let page = ada
        .post("/rooms/", &[("name", "no spaces"), ("kind", "private")])
        .await;
    assert_eq!(page.status, 400);
    let page = ada
        .post("/rooms/", &[("name", "x"), ("kind", "secret")])
        .await;
    assert_eq!(page.status, 400);
    let mut guest = Browser::new(app.addr);
    let lobby = guest.get("/").await;
    assert!(!lobby.body.contains("create-room-form") && !lobby.body.contains("dm-form"));
    let page = guest
        .post("/rooms/", &[("name", "mine"), ("kind", "public")])
        .await;
    assert_eq!(page.status, 403, "guests create no rooms");
    let page = ada
        .post_raw("/rooms/", &[("name", "forged"), ("kind", "public")])
        .await;
    assert_eq!(page.status, 403, "no CSRF field, no room");
    assert_eq!(ada.get("/chat/forged/").await.status, 200);
    let (_, rooms) = api(app.addr, &mut ada, "GET", "/api/rooms/", None).await;
    assert!(!rooms.to_string().contains("forged"), "{rooms}");
    app.stop().await;
}

#[tokio::test]
async fn a_dm_opened_from_the_lobby_form_lands_in_the_same_room_as_the_api_gives() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = person(app.addr, "ada").await;
    let mut bob = person(app.addr, "bob").await;
    let _carol = person(app.addr, "carol").await;

    let page = ada.post("/dms/", &[("users", " Bob ")]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.expect("a room");
    let location = percent_encoding::percent_decode_str(&location)
        .decode_utf8()
        .expect("UTF-8")
        .into_owned();
    let (status, body) = api(
        app.addr,
        &mut bob,
        "POST",
        "/api/dms/",
        Some(json!({"users": ["ada"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let name = body["name"].as_str().expect("name");
    assert_eq!(location, format!("/chat/{name}/"));
    let room = ada.get(&location).await;
    assert_eq!(room.status, 200);
    assert!(room.body.contains("id=\"room-kind\">direct<"));
    assert!(
        !room.body.contains("members-panel"),
        "a direct room has no panel"
    );
    assert!(
        !room.body.contains("leave-button"),
        "nor does anyone leave it"
    );
    let mine = your_rooms(&mut ada).await;
    assert!(
        mine.contains(">bob</a>"),
        "named by its other member: {mine}"
    );

    // Several people, comma-separated: another room; unknown people and bad input are refused.
    let page = ada.post("/dms/", &[("users", "bob, carol")]).await;
    assert_eq!(page.status, 303);
    assert_ne!(page.location.as_deref(), Some(location.as_str()));
    let page = ada.post("/dms/", &[("users", "bob, nobody")]).await;
    assert_eq!(page.status, 404);
    assert!(
        page.body
            .contains("id=\"dm-error\" class=\"error\" role=\"alert\">No such user."),
        "the reason, by its form: {}",
        page.body
    );
    assert!(
        page.body.contains("value=\"bob, nobody\""),
        "the names are kept"
    );
    assert_eq!(ada.post("/dms/", &[("users", " , ")]).await.status, 400);
    // Only oneself: a direct room is with someone else.
    assert_eq!(ada.post("/dms/", &[("users", "ada")]).await.status, 403);
    app.stop().await;
}

#[tokio::test]
async fn a_moderator_adds_a_member_through_the_panel_and_an_owner_manages_the_room() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = person(app.addr, "ada").await;
    let mut bob = person(app.addr, "bob").await;
    let mut carol = person(app.addr, "carol").await;
    let room = json!({"name": "club", "kind": "private"});
    assert_eq!(
        api(app.addr, &mut ada, "POST", "/api/rooms/", Some(room))
            .await
            .0,
        201
    );
    let add = [("user", "bob"), ("role", "moderator")];
    let page = ada.post("/chat/club/members/", &add).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/chat/club/?done=added"));
    assert!(
        ada.get("/chat/club/?done=added")
            .await
            .body
            .contains("Member added.")
    );

    // Bob, a moderator: the panel without roles, with the topic (issue 19); he adds carol as a member.
    let panel = bob.get("/chat/club/").await.body;
    assert!(panel.contains("id=\"add-member-form\""), "{panel}");
    assert!(!panel.contains("id=\"add-member-role\"") && panel.contains("id=\"topic-form\""));
    assert!(panel.contains("id=\"invite-form\""));
    let page = bob.post("/chat/club/members/", &[("user", "carol")]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(carol.get("/chat/club/").await.status, 200, "carol is in");
    assert!(
        !carol
            .get("/chat/club/")
            .await
            .body
            .contains("members-panel")
    );
    let page = bob.post("/chat/club/members/", &[("user", "carol")]).await;
    assert_eq!(page.status, 409, "already a member");
    assert!(page.body.contains("Already a member."), "{}", page.body);
    let page = bob
        .post(
            "/chat/club/members/",
            &[("user", "dave"), ("role", "owner")],
        )
        .await;
    assert_eq!(page.status, 403, "moderators give no roles");
    assert_eq!(
        bob.post("/chat/club/members/ada/remove/", &[]).await.status,
        403
    );

    // An invite link is shown once on the page.
    let page = bob
        .post(
            "/chat/club/invites/",
            &[("max_uses", "3"), ("expires", "week")],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("id=\"invite-link\" href=\"&#x2f;invite&#x2f;"),
        "{}",
        page.body
    );

    // Ada, the owner: roles and the topic; bob removes carol; carol leaves no more.
    let page = ada
        .post("/chat/club/members/carol/role/", &[("role", "moderator")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = ada
        .post("/chat/club/topic/", &[("topic", "Members & friends")])
        .await;
    assert_eq!(page.location.as_deref(), Some("/chat/club/?done=topic"));
    assert!(
        ada.get("/chat/club/")
            .await
            .body
            .contains("Members &amp; friends")
    );
    let want = [
        ("ada", "owner"),
        ("bob", "moderator"),
        ("carol", "moderator"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(u, r)| (u.to_string(), r.to_string()))
        .collect();
    let mut got = members(app.addr, &mut ada, "club").await;
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        bob.post("/chat/club/members/carol/remove/", &[])
            .await
            .status,
        403,
        "a moderator"
    );
    let page = ada.post("/chat/club/members/carol/remove/", &[]).await;
    assert_eq!(page.status, 303);
    assert_eq!(carol.get("/chat/club/").await.status, 404, "removed");

    // Anyone but the only owner leaves.
    let page = bob.post("/chat/club/leave/", &[]).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/")));
    assert_eq!(bob.get("/chat/club/").await.status, 404);
    let page = ada.post("/chat/club/leave/", &[]).await;
    assert_eq!(page.status, 409, "the only owner stays: {}", page.body);
    app.stop().await;
}

#[tokio::test]
async fn a_non_member_posting_to_any_panel_route_gets_404_and_changes_nothing() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = person(app.addr, "ada").await;
    let mut mallory = person(app.addr, "mallory").await;
    let room = json!({"name": "vault", "kind": "private", "topic": "the secret plan"});
    assert_eq!(
        api(app.addr, &mut ada, "POST", "/api/rooms/", Some(room))
            .await
            .0,
        201
    );
    let before = members(app.addr, &mut ada, "vault").await;
    let routes: [(&str, &[(&str, &str)]); 6] = [
        (
            "/chat/vault/members/",
            &[("user", "mallory"), ("role", "owner")],
        ),
        ("/chat/vault/members/ada/remove/", &[]),
        ("/chat/vault/members/ada/role/", &[("role", "member")]),
        ("/chat/vault/topic/", &[("topic", "mine now")]),
        ("/chat/vault/invites/", &[("max_uses", "5")]),
        ("/chat/vault/leave/", &[]),
    ];
    let mut guest = Browser::new(app.addr);
    for (path, form) in routes {
        for who in [&mut mallory, &mut guest] {
            let page = who.post(path, form).await;
            assert_eq!(page.status, 404, "{path}: {}", page.body);
            assert!(
                !page.body.contains("secret") && !page.body.contains("ada"),
                "{path}"
            );
        }
    }
    assert_eq!(members(app.addr, &mut ada, "vault").await, before);
    assert!(
        ada.get("/chat/vault/")
            .await
            .body
            .contains("the secret plan")
    );
    let pool = sqlx::SqlitePool::connect(&dir.sqlite_url())
        .await
        .expect("db");
    let (invites,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM room_invites")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(invites, 0, "no invite link was made");
    app.stop().await;
}
