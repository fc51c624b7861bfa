//! Backups, exports and imports through the binary, as an operator runs them (docs/OPERATIONS.md): a backup
//! taken during a burst of sends starts a server holding every message acked before it began; an export
//! imported into a fresh database (SQLite or PostgreSQL) gives the same rooms, ids, texts and flags, and
//! importing it again or into a room that exists stores nothing twice; the filters and a malformed line
//! behave as documented. This file seeds the history both halves use.

mod backup;
mod bots;
mod files;
mod transfer;

use std::sync::Arc;

use chatweb::domain::{ClientIdOwner, MessageBody, RoomName, Username};
use chatweb::storage::{Amend, Amendment, Authority, Backend, NewMessage, NewUser, Store};
use serde_json::Value;

use crate::manage::{Output, run_chatweb};

/// 2026-01-01T00:00:00Z, when the seeded history starts.
const BASE_MS: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;

fn room(name: &str) -> RoomName {
    RoomName::parse(name).expect("room")
}

fn message(room_name: &str, author: &str, author_id: Option<i64>, text: &str) -> NewMessage {
    NewMessage {
        bot: false,
        room: room(room_name),
        author: Username::from_stored(author),
        body: MessageBody::parse(text, 4096).expect("body"),
        client_id: None,
        owner: ClientIdOwner::import(),
        author_id,
        reply_to: None,
        mentions: Default::default(),
        files: Default::default(),
    }
}

async fn open(url: &str) -> Arc<dyn Backend> {
    Store::connect(url).await.expect("database opens")
}

/// Creates the account `name` (its password unusable: only its name matters here); returns its id.
async fn account(store: &Arc<dyn Backend>, name: &str) -> i64 {
    let user = NewUser {
        is_bot: false,
        username: name,
        username_key: name,
        email: "",
        password_hash: "!",
        is_staff: false,
    };
    let id = store.db().create_user(&user, BASE_MS).await.expect("user");
    id.expect("a new name")
}

async fn append(store: &Arc<dyn Backend>, batch: &[NewMessage], ts_ms: i64) {
    for outcome in store.append(batch, ts_ms).await.expect("append") {
        outcome.expect("stored");
    }
}

/// Seeds `url`: room `den` (ids 1 to 6: messages by the account ada and the guest bob, an edit and a
/// deletion, over three days) and room `lobby` (ids 1 and 2, a day apart).
async fn seed(url: &str) {
    let store = open(url).await;
    let ada = account(&store, "ada").await;
    let first = [
        message("den", "ada", Some(ada), "one"),
        message("den", "bob", None, "two"),
        message("den", "ada", Some(ada), "three"),
        message("lobby", "bob", None, "hello"),
    ];
    append(&store, &first, BASE_MS).await;
    append(
        &store,
        &[message("den", "ada", Some(ada), "four")],
        BASE_MS + DAY_MS,
    )
    .await;
    for (action, ts) in [
        (
            Amend::Edit {
                target: 1,
                body: MessageBody::parse("one, fixed", 4096).expect("body"),
            },
            BASE_MS + 2 * DAY_MS,
        ),
        (Amend::Delete { target: 2 }, BASE_MS + 2 * DAY_MS + 1),
    ] {
        let amendment = Amendment {
            room: room("den"),
            actor: Username::from_stored("ada"),
            actor_id: Some(ada),
            action,
            authority: Authority::Moderator,
            client_id: None,
            owner: ClientIdOwner::user(ada),
        };
        store.amend(&amendment, ts).await.expect("amend");
    }
    append(
        &store,
        &[message("lobby", "bob", None, "later")],
        BASE_MS + DAY_MS,
    )
    .await;
    store.close().await;
}

/// `chatweb export` of `url` with `args`, parsed.
pub async fn export(url: &str, args: &[&str]) -> Vec<Value> {
    let out = run_chatweb(
        &[&["export", "--database-url", url], args].concat(),
        &[],
        None,
    )
    .await;
    assert!(out.status.success(), "export failed: {}", out.stderr);
    out.stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// `chatweb import file` into `url`.
async fn import(url: &str, file: &std::path::Path) -> Output {
    let file = file.to_str().expect("path");
    let out = run_chatweb(&["import", file, "--database-url", url], &[], None).await;
    assert!(out.status.success(), "import failed: {}", out.stderr);
    out
}

fn write_lines(path: &std::path::Path, lines: &[Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).expect("write the export");
}

/// (room, id) of every line.
fn keys(lines: &[Value]) -> Vec<(String, u64)> {
    lines
        .iter()
        .map(|l| {
            (
                l["room"].as_str().unwrap_or("").to_owned(),
                l["id"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn seeded_keys() -> Vec<(String, u64)> {
    let den = (1..=6).map(|id| ("den".to_owned(), id));
    den.chain((1..=2).map(|id| ("lobby".to_owned(), id)))
        .collect()
}

/// The export of the seeded database is what `seed` stored, events and flags included.
fn assert_seeded(lines: &[Value]) {
    assert_eq!(keys(lines), seeded_keys());
    assert_eq!(
        (lines[0]["message"].as_str(), lines[0]["edited"].as_bool()),
        (Some("one, fixed"), Some(true))
    );
    assert_eq!(
        (lines[0]["user"].as_str(), lines[0]["guest"].as_bool()),
        (Some("ada"), Some(false))
    );
    assert_eq!(
        (lines[1]["message"].as_str(), lines[1]["deleted"].as_bool()),
        (Some(""), Some(true))
    );
    assert_eq!(lines[1]["guest"], true);
    assert_eq!(
        (lines[4]["kind"].as_str(), lines[4]["target"].as_u64()),
        (Some("edit"), Some(1))
    );
    assert_eq!(
        (lines[5]["kind"].as_str(), lines[5]["target"].as_u64()),
        (Some("delete"), Some(2))
    );
    assert!(lines[0].get("kind").is_none(), "a message has no kind");
    assert_eq!(lines[3]["ts"], "2026-01-02T00:00:00.000Z");
}
