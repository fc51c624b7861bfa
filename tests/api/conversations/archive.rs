//! A clear takes the room's reactions and pins with its messages, live; and an export imported into a
//! fresh database (SQLite or PostgreSQL) gives the same replies, reactions, pins and topic through the API
//! (docs/ARCHITECTURE.md: "export and import carry every event kind and `reply_to`, and import replays
//! reactions, pins and topics").

use chatweb::storage::{NewUser, Store};
use serde_json::{Value, json};

use super::{PATH, ROOM, acked, said, town_with, v2};
use crate::engines::{Database, on_both_engines};
use crate::helpers::{TempDir, TestApp, spawn_app_with, test_config};
use crate::manage::run_chatweb;
use crate::people::Browser;
use crate::rooms::api;

on_both_engines!(
    an_export_imported_elsewhere_gives_the_same_conversations,
    an_export_imported_elsewhere_gives_the_same_conversations_on_sqlite,
    an_export_imported_elsewhere_gives_the_same_conversations_on_postgres
);

/// What a guest reads of the public rooms `town` and `hall` through the API: history, pins, the thread
/// of `root`, and each room's topic. `mentions` are left out (an export does not carry them).
async fn views(app: &TestApp, root: u64) -> Vec<(String, Value)> {
    let mut guest = Browser::new(app.addr);
    let mut out = Vec::new();
    for path in [
        format!("/api/rooms/{ROOM}/messages"),
        format!("/api/rooms/{ROOM}/pins"),
        format!("/api/rooms/{ROOM}/messages/{root}/thread"),
        "/api/rooms/hall/messages".to_owned(),
        "/api/rooms/hall/pins".to_owned(),
    ] {
        let (status, mut body) = api(app.addr, &mut guest, "GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        strip_mentions(&mut body);
        out.push((path, body));
    }
    let (_, list) = api(app.addr, &mut guest, "GET", "/api/rooms/", None).await;
    let mut topics: Vec<(String, Value)> = list["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|room| (format!("topic of {}", room["name"]), room["topic"].clone()))
        .collect();
    topics.sort_by(|a, b| a.0.cmp(&b.0));
    out.extend(topics);
    out
}

fn strip_mentions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("mentions");
            map.values_mut().for_each(strip_mentions);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_mentions),
        _ => {}
    }
}

/// Pins of a views' answer, by message id.
fn pinned(views: &[(String, Value)], path: &str) -> Vec<u64> {
    let (_, body) = views.iter().find(|(p, _)| p == path).expect("a view");
    body["pins"]
        .as_array()
        .expect("pins")
        .iter()
        .filter_map(|p| p["message"]["id"].as_u64())
        .collect()
}

async fn an_export_imported_elsewhere_gives_the_same_conversations(target: &Database) {
    let source = Database::sqlite();
    let town = town_with(&source, test_config(source.url())).await;
    let mut ada = v2(&town.ada, PATH).await;
    let mut bob = v2(&town.bob, PATH).await;
    let mut carol = v2(&town.carol, PATH).await;
    let react = |id: u64, emoji: &str, add: bool, cid: &str| json!({"type": if add { "react" } else { "unreact" }, "id": id, "emoji": emoji, "client_id": cid});
    let root = said(&mut ada, "the plan", "a1").await;
    let reply = acked(
        &mut bob,
        json!({"message": "agreed", "reply_to": root, "client_id": "b1"}),
    )
    .await;
    acked(
        &mut carol,
        json!({"message": "@bob and me", "reply_to": reply, "client_id": "c1"}),
    )
    .await;
    acked(&mut bob, react(root, "👍", true, "b2")).await;
    acked(&mut carol, react(root, "🎉", true, "c2")).await;
    acked(&mut carol, react(root, "👍", true, "c3")).await;
    acked(&mut carol, react(root, "🎉", false, "c4")).await;
    acked(&mut ada, react(reply, "👀", true, "a2")).await;
    acked(
        &mut ada,
        json!({"type": "pin", "id": root, "client_id": "a3"}),
    )
    .await;
    let doomed = said(&mut ada, "doomed", "a4").await;
    acked(&mut bob, react(doomed, "😢", true, "b3")).await;
    acked(
        &mut ada,
        json!({"type": "pin", "id": doomed, "client_id": "a5"}),
    )
    .await;
    acked(
        &mut ada,
        json!({"type": "delete", "id": doomed, "client_id": "a6"}),
    )
    .await;
    acked(
        &mut ada,
        json!({"type": "topic", "topic": "Release 2.0", "client_id": "a7"}),
    )
    .await;

    // In the hall (no owner), staff pin and people react; then staff clear the room.
    let mut boss = v2(&town.boss, "/ws/chat/hall/").await;
    let mut ada_in_hall = v2(&town.ada, "/ws/chat/hall/").await;
    let first = said(&mut ada_in_hall, "hall news", "h1").await;
    acked(&mut ada_in_hall, react(first, "🔥", true, "h2")).await;
    acked(
        &mut boss,
        json!({"type": "pin", "id": first, "client_id": "h3"}),
    )
    .await;
    let mut staff = town.boss;
    let page = staff.post("/admin/rooms/hall/clear", &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    loop {
        let frame = boss.next_event().await;
        if frame["type"] == "clear" {
            break;
        }
    }

    let before = views(&town.app, root).await;
    // Live, the clear took the hall's reactions and pin with its messages.
    assert_eq!(
        pinned(&before, "/api/rooms/hall/pins"),
        Vec::<u64>::new(),
        "{before:?}"
    );
    let (_, hall) = &before[3];
    assert_eq!(hall["messages"][0]["deleted"], true, "{hall}");
    assert_eq!(hall["messages"][0].get("reactions"), None, "{hall}");
    assert_eq!(pinned(&before, &format!("/api/rooms/{ROOM}/pins")), [root]);
    for socket in [ada, bob, carol, boss, ada_in_hall] {
        socket.close().await;
    }
    town.app.stop().await;

    // Export, then import into a fresh database holding the same accounts.
    let dir = TempDir::new();
    let out = run_chatweb(&["export", "--database-url", &source.url()], &[], None).await;
    assert!(out.status.success(), "export: {}", out.stderr);
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, &out.stdout).expect("write the export");
    let store = Store::connect(&target.url()).await.expect("the target");
    for name in ["ada", "bob", "carol", "boss"] {
        let user = NewUser {
            is_bot: false,
            username: name,
            username_key: name,
            email: "",
            password_hash: "!",
            is_staff: name == "boss",
        };
        store
            .db()
            .create_user(&user, 1_767_225_600_000)
            .await
            .expect("an account")
            .expect("a new name");
    }
    store.close().await;
    let file = file.to_str().expect("a path");
    let out = run_chatweb(
        &["import", file, "--database-url", &target.url()],
        &[],
        None,
    )
    .await;
    assert!(out.status.success(), "import: {}", out.stderr);
    assert!(out.stdout.contains(" 0 malformed"), "{}", out.stdout);

    let app = spawn_app_with(test_config(target.url())).await;
    let after = views(&app, root).await;
    assert_eq!(after.len(), before.len());
    let differ: Vec<String> = before
        .iter()
        .zip(&after)
        .filter(|((_, was), (_, is))| was != is)
        .map(|((path, was), (_, is))| format!("{path}: exported from {was}, imported as {is}"))
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    app.stop().await;
    source.done().await;
}
