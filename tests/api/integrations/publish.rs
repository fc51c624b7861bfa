//! `POST /api/rooms/{room}/messages`: stored and delivered like a socket's send, once per `client_id`
//! (201, then 200 with the same id), replying and attaching files as a send does (refused with the
//! socket's codes), and refused where a socket's send would be.

use serde_json::json;

use super::{next_message, publish, token_of};
use crate::conversations::{PATH, ROOM, act, town, town_with, v2};
use crate::engines::{Database, on_both_engines};
use crate::helpers::test_config;

on_both_engines!(
    a_published_message_is_stored_and_delivered_once_whatever_the_repeats,
    a_published_message_is_stored_and_delivered_once_whatever_the_repeats_on_sqlite,
    a_published_message_is_stored_and_delivered_once_whatever_the_repeats_on_postgres
);

async fn a_published_message_is_stored_and_delivered_once_whatever_the_repeats(db: &Database) {
    let town = town(db).await;
    let addr = town.app.addr;
    let token = token_of(&db.url(), "carol").await;
    let mut listener = v2(&town.bob, PATH).await;

    let sent = json!({"message": "deploy finished", "client_id": "deploy-1"});
    let first = publish(addr, &token, ROOM, sent.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let id = first.body["id"].as_u64().expect("an id");
    for _ in 0..2 {
        let again = publish(addr, &token, ROOM, sent.clone()).await;
        assert_eq!((again.status, again.body["id"].as_u64()), (200, Some(id)));
    }
    let after = publish(addr, &token, ROOM, json!({"message": "after"})).await;
    assert_eq!(after.status, 201, "{}", after.body);

    // Delivered once: the next message after it is the one published after the repeats.
    let frame = next_message(&mut listener).await;
    assert_eq!(
        (
            frame["id"].as_u64(),
            frame["user"].as_str(),
            frame["message"].as_str()
        ),
        (Some(id), Some("carol"), Some("deploy finished"))
    );
    assert!(
        frame.get("bot").is_none() && frame.get("guest").is_none(),
        "{frame}"
    );
    let next = next_message(&mut listener).await;
    assert_eq!(
        (next["message"].as_str(), next["id"].as_u64()),
        (Some("after"), Some(id + 1))
    );

    // And stored: history has it once.
    let page = town
        .app
        .get(&format!("/api/rooms/{ROOM}/messages"), None)
        .await;
    let page: serde_json::Value =
        serde_json::from_str(&page.text().await.expect("body")).expect("json");
    let texts: Vec<_> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["message"].as_str())
        .collect();
    assert_eq!(texts, ["deploy finished", "after"]);
    town.app.stop().await;
}

on_both_engines!(
    publishing_is_refused_where_a_socket_send_would_be,
    publishing_is_refused_where_a_socket_send_would_be_on_sqlite,
    publishing_is_refused_where_a_socket_send_would_be_on_postgres
);

async fn publishing_is_refused_where_a_socket_send_would_be(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let carol = token_of(&db.url(), "carol").await;
    let say = |text: &str| json!({"message": text});

    // No credential, a bad one, bad bodies.
    let anonymous = super::post(
        addr,
        &format!("/api/rooms/{ROOM}/messages"),
        None,
        "application/json",
        say("hi").to_string(),
    )
    .await;
    assert_eq!(
        (anonymous.status, anonymous.body["error"].as_str()),
        (401, Some("login_required"))
    );
    let forged = publish(addr, "cwt_nope", ROOM, say("hi")).await;
    assert_eq!(forged.status, 401);
    let blank = publish(addr, &carol, ROOM, say("   ")).await;
    assert_eq!(
        (blank.status, blank.body["error"].as_str()),
        (400, Some("invalid_message"))
    );
    let unknown = publish(addr, &carol, ROOM, json!({"text": "hi"})).await;
    assert_eq!(
        (unknown.status, unknown.body["error"].as_str()),
        (400, Some("invalid_parameter"))
    );
    let missing = publish(addr, &carol, ROOM, json!({})).await;
    assert_eq!(
        (missing.status, missing.body["error"].as_str()),
        (400, Some("invalid_message"))
    );
    let long = publish(addr, &carol, ROOM, say(&"x".repeat(5000))).await;
    assert_eq!(
        (long.status, long.body["error"].as_str()),
        (422, Some("message_too_long"))
    );
    let bad_id = publish(addr, &carol, ROOM, json!({"message": "hi", "client_id": 7})).await;
    assert_eq!(
        (bad_id.status, bad_id.body["error"].as_str()),
        (400, Some("invalid_message"))
    );
    let bad_room = publish(addr, &carol, "no%20room", say("hi")).await;
    assert_eq!(bad_room.status, 404);

    // A private room carol is no member of: it does not exist for her.
    let (status, body) = crate::rooms::api(
        addr,
        &mut town.ada,
        "POST",
        "/api/rooms/",
        Some(json!({"name": "vault", "kind": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let hidden = publish(addr, &carol, "vault", say("let me in")).await;
    assert_eq!(
        (hidden.status, hidden.body["error"].as_str()),
        (404, Some("not_found"))
    );

    // Locked: refused, and nothing stored.
    let lock = |locked: bool| Some(json!({"locked": locked}));
    let room_path = format!("/api/rooms/{ROOM}");
    let (status, _) = crate::rooms::api(addr, &mut town.bob, "PATCH", &room_path, lock(true)).await;
    assert_eq!(status, 200);
    let locked = publish(addr, &carol, ROOM, say("locked?")).await;
    assert_eq!(
        (locked.status, locked.body["error"].as_str()),
        (403, Some("room_locked"))
    );
    let (status, _) =
        crate::rooms::api(addr, &mut town.bob, "PATCH", &room_path, lock(false)).await;
    assert_eq!(status, 200);

    // Muted, then banned, by the room's moderator.
    let mut bob = v2(&town.bob, PATH).await;
    let mute = json!({"type": "mute", "user": "carol", "seconds": 60, "client_id": "m"});
    assert_eq!(act(&mut bob, mute).await["type"], "moderated");
    let muted = publish(addr, &carol, ROOM, say("muted?")).await;
    assert_eq!(
        (muted.status, muted.body["error"].as_str()),
        (403, Some("muted"))
    );
    let ban = json!({"type": "ban", "user": "carol", "client_id": "b"});
    assert_eq!(act(&mut bob, ban).await["type"], "moderated");
    let banned = publish(addr, &carol, ROOM, say("banned?")).await;
    assert_eq!(
        (banned.status, banned.body["error"].as_str()),
        (403, Some("banned"))
    );

    // None of it was stored.
    let ada = token_of(&db.url(), "ada").await;
    let stored = publish(addr, &ada, ROOM, say("first")).await;
    assert_eq!(stored.status, 201, "{}", stored.body);
    let page = town
        .app
        .get(&format!("/api/rooms/{ROOM}/messages"), None)
        .await;
    let page: serde_json::Value =
        serde_json::from_str(&page.text().await.expect("body")).expect("json");
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["messages"][0]["message"], "first");
    town.app.stop().await;
}

#[tokio::test]
async fn publishing_faster_than_the_send_limit_is_refused_with_retry_after() {
    let db = Database::sqlite();
    let mut config = test_config(db.url());
    config.limits = chatweb::limits::LimitSettings {
        send_rate: 1,
        send_burst: 2,
        ..chatweb::limits::LimitSettings::default()
    };
    let town = town_with(&db, config).await;
    let carol = token_of(&db.url(), "carol").await;
    let addr = town.app.addr;
    let mut statuses = Vec::new();
    let mut refused = None;
    for i in 0..4 {
        let answer = publish(addr, &carol, ROOM, json!({"message": format!("m{i}")})).await;
        statuses.push(answer.status);
        if answer.status == 429 {
            refused = Some(answer);
        }
    }
    assert_eq!(&statuses[..2], [201, 201], "{statuses:?}");
    let refused = refused.expect("a refusal");
    assert_eq!(refused.body["error"], "rate_limited");
    assert!(
        refused
            .retry_after
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1))
    );
    town.app.stop().await;
}

on_both_engines!(
    a_published_message_replies_and_attaches_files_as_a_socket_send_does,
    a_published_message_replies_and_attaches_files_as_a_socket_send_does_on_sqlite,
    a_published_message_replies_and_attaches_files_as_a_socket_send_does_on_postgres
);

async fn a_published_message_replies_and_attaches_files_as_a_socket_send_does(db: &Database) {
    let mut town = town(db).await;
    let addr = town.app.addr;
    let token = token_of(&db.url(), "carol").await;
    let mut listener = v2(&town.bob, PATH).await;

    // A reply: the frame and history say what it answers; a repeat is the original.
    let root = publish(addr, &token, ROOM, json!({"message": "shall we ship?"})).await;
    assert_eq!(root.status, 201, "{}", root.body);
    let root = root.body["id"].as_u64().expect("an id");
    let reply = json!({"message": "yes", "reply_to": root, "client_id": "re-1"});
    let first = publish(addr, &token, ROOM, reply.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let id = first.body["id"].as_u64().expect("an id");
    let again = publish(addr, &token, ROOM, reply).await;
    assert_eq!((again.status, again.body["id"].as_u64()), (200, Some(id)));
    assert_eq!(next_message(&mut listener).await["id"].as_u64(), Some(root));
    let frame = next_message(&mut listener).await;
    assert_eq!(
        (frame["id"].as_u64(), frame["reply_to"].as_u64()),
        (Some(id), Some(root)),
        "{frame}"
    );

    // Files uploaded by the same user (with their session; the token is theirs too), no text needed.
    let file = crate::files::uploaded(addr, &mut town.carol, ROOM, "notes.txt", b"v1.4").await;
    let file_id = file["id"].as_str().expect("an upload id").to_owned();
    let with_file = json!({"files": [file_id], "client_id": "f-1"});
    let posted = publish(addr, &token, ROOM, with_file.clone()).await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let with_files = posted.body["id"].as_u64().expect("an id");
    let again = publish(addr, &token, ROOM, with_file).await;
    assert_eq!(
        (again.status, again.body["id"].as_u64()),
        (200, Some(with_files)),
        "{}",
        again.body
    );
    let frame = next_message(&mut listener).await;
    assert_eq!(frame["files"][0]["id"], file_id, "{frame}");

    // Another's upload, an unknown one, or what is not a list of ids: the socket's codes.
    let other = crate::files::uploaded(addr, &mut town.ada, ROOM, "ada.txt", b"mine").await;
    let unknown = "0123456789abcdef0123456789abcdef";
    for (body, status, code) in [
        (
            json!({"message": "x", "files": [other["id"]]}),
            404,
            "file_not_found",
        ),
        (
            json!({"message": "x", "files": [unknown]}),
            404,
            "file_not_found",
        ),
        (
            json!({"message": "x", "files": ["../etc"]}),
            400,
            "invalid_files",
        ),
        (
            json!({"message": "x", "files": "nope"}),
            400,
            "invalid_files",
        ),
        (json!({"message": "x", "reply_to": 0}), 400, "invalid_id"),
        (json!({"message": "x", "reply_to": "1"}), 400, "invalid_id"),
        (json!({"message": "x", "reply_to": 999}), 404, "not_found"),
        (json!({"files": []}), 400, "invalid_message"),
    ] {
        let refused = publish(addr, &token, ROOM, body.clone()).await;
        assert_eq!(
            (refused.status, refused.body["error"].as_str()),
            (status, Some(code)),
            "{body}: {}",
            refused.body
        );
    }

    // History carries both.
    let page = town
        .app
        .get(&format!("/api/rooms/{ROOM}/messages"), None)
        .await;
    let page: serde_json::Value =
        serde_json::from_str(&page.text().await.expect("body")).expect("json");
    let messages = page["messages"].as_array().expect("messages");
    let stored = |id: u64| {
        messages
            .iter()
            .find(|m| m["id"].as_u64() == Some(id))
            .unwrap_or_else(|| panic!("message {id} in {page}"))
    };
    assert_eq!(stored(id)["reply_to"].as_u64(), Some(root));
    assert_eq!(stored(with_files)["files"][0]["id"], file_id);
    assert_eq!(
        messages.len(),
        3,
        "nothing refused was stored, nothing twice: {page}"
    );
    town.app.stop().await;
}
