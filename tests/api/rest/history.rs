//! The room list and pages of a room's history on SQLite and PostgreSQL: the rooms' order, last ids and live
//! member counts, a signed-in user's unread counts after their read mark, `before`/`limit` pages, tombstones,
//! the edited flag, and no events.

use chatweb::config::Config;
use serde_json::{Value, json};

use super::{acked, bearer, ok, page_ids, read_up_to, room_rows, say, session, time_of};
use crate::accounts::member;
use crate::helpers::{TempDir, TestDatabase, spawn_app_with, test_config};
use crate::tokens::accounts_on;

/// The whole history scenario on a node with `config` (SQLite or PostgreSQL): ada and bob (members) and
/// a guest talk in `history`, ada edits, bob deletes, ada reads up to 2; bob talks in `annex` last. The
/// node is then restarted (which writes the read marks) to check the unread counts.
async fn history_scenario(config: Config) {
    let app = spawn_app_with(config.clone()).await;
    let ada = member(&app, "ada").await;
    let bob = member(&app, "bob").await;
    let mut ada_socket = ada.join_v2("/ws/chat/history/").await.expect("ada joins");
    let mut bob_socket = bob.join_v2("/ws/chat/history/").await.expect("bob joins");
    let mut guest = app.join("history").await;

    assert_eq!(say(&mut ada_socket, "a1").await, 1);
    assert_eq!(say(&mut bob_socket, "b2").await, 2);
    assert_eq!(say(&mut bob_socket, "b3").await, 3);
    assert_eq!(say(&mut guest, "g4").await, 4);
    let edit = json!({"type": "edit", "id": 1, "message": "a1 edited", "client_id": "e1"});
    assert_eq!(acked(&mut ada_socket, edit).await, 5, "the edit is event 5");
    let delete = json!({"type": "delete", "id": 3, "client_id": "d3"});
    assert_eq!(
        acked(&mut bob_socket, delete).await,
        6,
        "the delete is event 6"
    );
    assert_eq!(say(&mut ada_socket, "a7").await, 7);
    read_up_to(&mut ada_socket, 2).await;
    // `annex` sorts before `history`, so a tie of the two rooms' times still lists it first.
    let mut bob_annex = bob.join("/ws/chat/annex/").await.expect("bob joins annex");
    assert_eq!(say(&mut bob_annex, "n1").await, 1);

    // The rooms, live: the latest first, three people in `history`, no unread counts for a guest.
    let list = ok(app.addr, "/api/rooms/", &[]).await;
    assert_eq!(
        room_rows(&list),
        [
            ("annex".into(), 1, 1, Value::Null),
            ("history".into(), 7, 3, Value::Null)
        ],
        "{list}"
    );
    assert!(
        time_of(&list["rooms"][0]["last_activity"]) >= time_of(&list["rooms"][1]["last_activity"])
    );

    // The messages: edits applied, the deletion a tombstone, no events, oldest first.
    let page = ok(app.addr, "/api/rooms/history/messages", &[]).await;
    assert_eq!(page["room"], "history");
    assert_eq!(page["before"], Value::Null, "no older page: {page}");
    let mut messages = page["messages"].as_array().expect("messages").clone();
    for message in &mut messages {
        let ts = message
            .as_object_mut()
            .expect("object")
            .remove("ts")
            .expect("ts");
        time_of(&ts);
    }
    assert_eq!(
        messages,
        [
            json!({"id": 1, "room": "history", "user": "ada", "message": "a1 edited", "edited": true}),
            json!({"id": 2, "room": "history", "user": "bob", "message": "b2"}),
            json!({"id": 3, "room": "history", "user": "bob", "message": "", "deleted": true}),
            json!({"id": 4, "room": "history", "user": "anonymous", "message": "g4", "guest": true}),
            json!({"id": 7, "room": "history", "user": "ada", "message": "a7"}),
        ]
    );

    // Paging back from the newest, two at a time; `before` counts messages only.
    let newest = ok(app.addr, "/api/rooms/history/messages?limit=2", &[]).await;
    assert_eq!(
        (page_ids(&newest), newest["before"].as_u64()),
        (vec![4, 7], Some(4))
    );
    let older = ok(
        app.addr,
        "/api/rooms/history/messages?before=4&limit=2",
        &[],
    )
    .await;
    assert_eq!(
        (page_ids(&older), older["before"].as_u64()),
        (vec![2, 3], Some(2))
    );
    let oldest = ok(
        app.addr,
        "/api/rooms/history/messages?before=2&limit=2",
        &[],
    )
    .await;
    assert_eq!(
        (page_ids(&oldest), oldest["before"].clone()),
        (vec![1], Value::Null)
    );
    let below_events = ok(app.addr, "/api/rooms/history/messages?before=7", &[]).await;
    assert_eq!(page_ids(&below_events), [1, 2, 3, 4]);
    let first = ok(app.addr, "/api/rooms/history/messages?before=1", &[]).await;
    assert_eq!(
        (page_ids(&first), first["before"].clone()),
        (vec![], Value::Null)
    );
    let signed_in = ok(app.addr, "/api/rooms/history/messages", &session(&bob)).await;
    assert_eq!(signed_in, page, "members read the same history");

    // Stopping writes the read marks; a node on the same database counts ada's unread messages: after
    // 2, not hers (1, 7), not deleted (3): only the guest's 4. Bob has no mark anywhere: null.
    drop((ada_socket, bob_socket, guest, bob_annex));
    app.stop().await;
    let app = spawn_app_with(config.clone()).await;
    let (ada, bob) = (ada.on(app.addr), bob.on(app.addr));
    let for_ada = ok(app.addr, "/api/rooms/", &session(&ada)).await;
    assert_eq!(
        room_rows(&for_ada),
        [
            ("annex".into(), 1, 0, Value::Null),
            ("history".into(), 7, 0, json!(1))
        ],
        "{for_ada}"
    );
    let for_bob = ok(app.addr, "/api/rooms/", &session(&bob)).await;
    assert!(
        room_rows(&for_bob).iter().all(|r| r.3.is_null()),
        "{for_bob}"
    );
    let for_guest = ok(app.addr, "/api/rooms/", &[]).await;
    assert!(
        room_rows(&for_guest).iter().all(|r| r.3.is_null()),
        "{for_guest}"
    );

    // The same with ada's API token instead of her session.
    let accounts = accounts_on(&config.database_url).await;
    let ada_row = accounts.user_named("ada").await.expect("ada");
    let (_, token) = accounts
        .create_token(ada_row.id, "api")
        .await
        .expect("token");
    assert_eq!(ok(app.addr, "/api/rooms/", &bearer(&token)).await, for_ada);

    // A mark from the last second counts at once, before the writer has stored it.
    let mut ada_socket = ada.join_v2("/ws/chat/history/").await.expect("ada");
    read_up_to(&mut ada_socket, 7).await;
    let now = ok(app.addr, "/api/rooms/", &session(&ada)).await;
    assert_eq!(room_rows(&now)[1].3, json!(0), "{now}");
    drop(ada_socket);
    app.stop().await;
}

#[tokio::test]
async fn rooms_and_pages_of_history_on_sqlite() {
    let dir = TempDir::new();
    history_scenario(test_config(dir.sqlite_url())).await;
}

#[tokio::test]
async fn rooms_and_pages_of_history_on_postgres() {
    let Some(db) = TestDatabase::create("rooms_and_pages_of_history_on_postgres").await else {
        return;
    };
    history_scenario(test_config(db.url.clone())).await;
    db.drop_database().await;
}
