//! Export then import: into a fresh database the same lines come back, twice stores nothing twice, into an
//! existing room lines are appended after its own; `--room` and `--since` select; a malformed line is
//! skipped with its number.

use serde_json::json;

use super::{
    BASE_MS, DAY_MS, account, append, assert_seeded, export, import, keys, message, open, room,
    seed, seeded_keys, write_lines,
};
use crate::helpers::{TempDir, TestDatabase, connect, spawn_app};

/// Exports a seeded SQLite database and imports it into `target` (which has the account ada already):
/// the same lines come back; a second import stores nothing.
async fn round_trip(target: &str) {
    let dir = TempDir::new();
    let source = dir.sqlite_url();
    seed(&source).await;
    let exported = export(&source, &[]).await;
    assert_seeded(&exported);
    let file = dir.path().join("export.jsonl");
    write_lines(&file, &exported);

    let store = open(target).await;
    account(&store, "ada").await;
    store.close().await;
    let first = import(target, &file).await;
    assert!(
        first
            .stdout
            .contains("8 lines: 8 stored with their ids, 0 appended"),
        "{}",
        first.stdout
    );
    assert_eq!(
        export(target, &[]).await,
        exported,
        "the same rooms, ids, texts and flags"
    );
    let again = import(target, &file).await;
    assert!(
        again
            .stdout
            .contains("0 stored with their ids, 0 appended with new ids, 8 already stored"),
        "{}",
        again.stdout
    );
    assert_eq!(export(target, &[]).await, exported, "nothing doubled");
    // The room's counter follows its highest id: the next message gets the next one.
    let store = open(target).await;
    assert_eq!(store.last_seq(&room("den")).await.expect("last_seq"), 6);
    store.close().await;
}

#[tokio::test]
async fn an_export_imported_into_a_fresh_sqlite_database_gives_the_same_rooms_ids_and_texts() {
    let dir = TempDir::new();
    let target = dir.sqlite_url();
    round_trip(&target).await;
    // A server on the imported database serves it and numbers on from it.
    let app = spawn_app(&dir).await;
    let mut client = connect(app.addr, "/ws/chat/den/").await;
    client
        .send_json(json!({"message": "after", "client_id": "after"}))
        .await;
    assert_eq!(client.next_of_type("ack").await["id"], 7);
    app.stop().await;
}

#[tokio::test]
async fn an_export_imported_into_a_fresh_postgres_database_gives_the_same_rooms_ids_and_texts() {
    let test =
        "an_export_imported_into_a_fresh_postgres_database_gives_the_same_rooms_ids_and_texts";
    let Some(db) = TestDatabase::create(test).await else {
        return;
    };
    round_trip(&db.url).await;
    db.drop_database().await;
}

/// Imports the export of the seeded `den` into `target`, whose `den` already holds two other messages:
/// the six rows are appended as ids 3 to 8, the edit and the deletion follow their messages, and a second
/// import appends nothing.
async fn append_into_existing(target: &str) {
    let dir = TempDir::new();
    let source = dir.sqlite_url();
    seed(&source).await;
    let exported = export(&source, &["--room", "den"]).await;
    assert_eq!(keys(&exported), seeded_keys()[..6]);
    let file = dir.path().join("den.jsonl");
    write_lines(&file, &exported);

    let store = open(target).await;
    let mine = [
        message("den", "carol", None, "mine-1"),
        message("den", "carol", None, "mine-2"),
    ];
    append(&store, &mine, BASE_MS - DAY_MS).await;
    store.close().await;

    let first = import(target, &file).await;
    assert!(
        first.stdout.contains("0 stored with their ids, 6 appended"),
        "{}",
        first.stdout
    );
    let lines = export(target, &[]).await;
    let ids: Vec<u64> = lines
        .iter()
        .map(|l| l["id"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(
        ids,
        (1..=8).collect::<Vec<_>>(),
        "gap-free, after the room's own"
    );
    let texts: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        texts,
        [
            "mine-1",
            "mine-2",
            "one, fixed",
            "",
            "three",
            "four",
            "one, fixed",
            ""
        ]
    );
    assert_eq!(
        (lines[6]["kind"].as_str(), lines[6]["target"].as_u64()),
        (Some("edit"), Some(3))
    );
    assert_eq!(
        (lines[7]["kind"].as_str(), lines[7]["target"].as_u64()),
        (Some("delete"), Some(4))
    );
    assert_eq!(
        (lines[2]["ts"].as_str(), lines[2]["edited"].as_bool()),
        (Some("2026-01-01T00:00:00.000Z"), Some(true))
    );
    // ada has no account here: her lines are a guest's.
    assert_eq!(
        (lines[2]["user"].as_str(), lines[2]["guest"].as_bool()),
        (Some("ada"), Some(true))
    );

    let again = import(target, &file).await;
    assert!(
        again
            .stdout
            .contains("0 appended with new ids, 6 already stored"),
        "{}",
        again.stdout
    );
    assert_eq!(export(target, &[]).await, lines, "nothing doubled");
}

#[tokio::test]
async fn an_import_into_an_existing_sqlite_room_appends_without_duplicates() {
    let dir = TempDir::new();
    append_into_existing(&dir.sqlite_url()).await;
}

#[tokio::test]
async fn an_import_into_an_existing_postgres_room_appends_without_duplicates() {
    let test = "an_import_into_an_existing_postgres_room_appends_without_duplicates";
    let Some(db) = TestDatabase::create(test).await else {
        return;
    };
    append_into_existing(&db.url).await;
    db.drop_database().await;
}

/// `--room` and `--since` on the seeded database at `url`.
async fn filters(url: &str) {
    seed(url).await;
    assert_seeded(&export(url, &[]).await);
    let lobby = export(url, &["--room", "lobby"]).await;
    assert_eq!(
        keys(&lobby),
        [("lobby".to_owned(), 1), ("lobby".to_owned(), 2)]
    );
    let since = export(url, &["--since", "2026-01-02"]).await;
    let expected: Vec<(String, u64)> = [("den", 4), ("den", 5), ("den", 6), ("lobby", 2)]
        .map(|(r, i)| (r.to_owned(), i))
        .into();
    assert_eq!(keys(&since), expected);
    let both = export(
        url,
        &["--room", "den", "--since", "2026-01-03T00:00:00.001Z"],
    )
    .await;
    assert_eq!(keys(&both), [("den".to_owned(), 6)]);
    assert!(export(url, &["--room", "nowhere"]).await.is_empty());
}

#[tokio::test]
async fn export_filters_by_room_and_since_on_sqlite() {
    let dir = TempDir::new();
    filters(&dir.sqlite_url()).await;
}

#[tokio::test]
async fn export_filters_by_room_and_since_on_postgres() {
    let Some(db) = TestDatabase::create("export_filters_by_room_and_since_on_postgres").await
    else {
        return;
    };
    filters(&db.url).await;
    db.drop_database().await;
}

#[tokio::test]
async fn a_malformed_line_is_skipped_with_its_line_number_and_the_rest_imported() {
    let dir = TempDir::new();
    let file = dir.path().join("broken.jsonl");
    let good = |id: u64, text: &str| {
        json!({"room": "den", "id": id, "ts": "2026-01-01T00:00:00.000Z", "user": "bob", "guest": true,
               "message": text})
        .to_string()
    };
    let bad_time =
        json!({"room": "den", "id": 9, "ts": "yesterday", "user": "bob", "message": "x"});
    let text = [
        good(1, "first"),
        "{not json".to_owned(),
        bad_time.to_string(),
        good(2, "second"),
    ];
    std::fs::write(&file, text.join("\n")).expect("write");
    let url = dir.sqlite_url();
    let out = import(&url, &file).await;
    assert!(
        out.stderr.contains("line 2: not an export line"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("line 3: ts \"yesterday\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("4 lines: 2 stored with their ids"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("2 malformed"), "{}", out.stdout);
    let lines = export(&url, &[]).await;
    let texts: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(texts, ["first", "second"]);
}
