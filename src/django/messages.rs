//! Importing `chatapp_message`: rows arrive per room in timestamp order (then id), each checked against
//! chatweb's rules (a valid room name and author, a text `MessageBody` accepts, a readable timestamp) and
//! against the Django ids the room already holds; the rest are appended after the room's last id, keeping
//! their timestamps, in transactions of [`CHUNK`] messages. A malformed row is reported with its id and
//! skipped; the rest goes on.

use std::collections::HashMap;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::domain::{MessageBody, RoomName, Username};
use crate::storage::{Db, ImportedMessage, ImportedRoomState};

use super::report::{Reporter, Table};
use super::source::{MessageRow, Source};
use super::users::Accounts;

/// Messages per transaction: a few statements of a thousand rows each.
const CHUNK: usize = 10_000;
/// Rows read ahead of the writer.
const READ_AHEAD: usize = 4096;

/// How one row is stored, or why it cannot be.
fn check(
    row: &MessageRow,
    accounts: &Accounts,
    max_bytes: usize,
) -> Result<(RoomName, ImportedMessage), String> {
    let room = row.room.as_deref().unwrap_or_default();
    let room =
        RoomName::parse(room).ok_or_else(|| format!("the room name {room:?} is not valid"))?;
    let text = row.text.as_deref().unwrap_or_default();
    let body = MessageBody::parse(text, max_bytes).map_err(|e| format!("the text: {e}"))?;
    let (author, author_id) = author(row.user.as_deref().unwrap_or_default(), accounts)?;
    let created_at = row
        .ts_ms
        .ok_or_else(|| "the timestamp is not a date".to_owned())?;
    Ok((
        room,
        ImportedMessage {
            django_id: row.id,
            author,
            author_id,
            body: body.as_str().to_owned(),
            created_at,
        },
    ))
}

/// The author of a message by `name`: the chatweb account of that name (in any case) if there is one,
/// else a guest of that name (a nickname, or a name Django's rule for accounts accepts).
fn author(name: &str, accounts: &Accounts) -> Result<(String, Option<i64>), String> {
    let parsed = Username::parse(name).or_else(|| Username::parse_account(name).ok());
    let Some(parsed) = parsed else {
        return Err(format!("the author {name:?} is not a name chatweb accepts"));
    };
    Ok(match accounts.get(&parsed.key()) {
        Some((id, registered)) => (registered.clone(), *id),
        None => (parsed.as_str().to_owned(), None),
    })
}

/// Messages checked but not written yet, per room in arrival order.
#[derive(Default)]
struct Pending {
    rooms: Vec<(String, Vec<ImportedMessage>)>,
    len: usize,
}

impl Pending {
    fn push(&mut self, room: &RoomName, message: ImportedMessage) {
        match self.rooms.last_mut() {
            Some((name, messages)) if name == room.as_str() => messages.push(message),
            _ => self.rooms.push((room.as_str().to_owned(), vec![message])),
        }
        self.len += 1;
    }

    /// Writes what is pending (nothing in a dry run) and empties it.
    async fn flush(&mut self, db: Option<&Db>, dry_run: bool) -> anyhow::Result<()> {
        if let (Some(db), false) = (db, dry_run)
            && self.len > 0
        {
            db.import_messages(&self.rooms)
                .await
                .context("storing imported messages")?;
        }
        self.rooms.clear();
        self.len = 0;
        Ok(())
    }
}

/// Imports every message of `source` into `db` (read only in a dry run; `None`: a dry run without a
/// database yet), linking authors to `accounts`.
pub async fn import(
    source: Source,
    db: Option<&Db>,
    accounts: &Accounts,
    max_bytes: usize,
    report: &mut Reporter,
) -> anyhow::Result<()> {
    let dry_run = report.summary.dry_run;
    report.start_messages(source.message_count().await?);
    let (sender, mut rows) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(source.messages(sender));
    let mut rooms: HashMap<RoomName, ImportedRoomState> = HashMap::new();
    let mut imported_into: HashMap<RoomName, bool> = HashMap::new();
    let mut pending = Pending::default();
    while let Some(row) = rows.recv().await {
        report.tick();
        let (room, message) = match check(&row, accounts, max_bytes) {
            Ok(checked) => checked,
            Err(why) => {
                report.skipped(Table::Messages, row.id, &why);
                continue;
            }
        };
        if !rooms.contains_key(&room) {
            let state = match db {
                Some(db) => db
                    .import_room_state(room.as_str())
                    .await
                    .with_context(|| format!("reading the room {room}"))?,
                None => ImportedRoomState::default(),
            };
            rooms.insert(room.clone(), state);
        }
        let Some(state) = rooms.get_mut(&room) else {
            continue; // inserted just above
        };
        if !state.imported.insert(message.django_id) {
            report.summary.messages_conflicts += 1;
            continue;
        }
        imported_into.entry(room.clone()).or_insert(!state.exists);
        report.summary.messages_imported += 1;
        pending.push(&room, message);
        if pending.len >= CHUNK {
            pending.flush(db, dry_run).await?;
        }
    }
    pending.flush(db, dry_run).await?;
    reader
        .await
        .context("the Django reader stopped")?
        .context("reading the Django database")?;
    report.finish();
    report.summary.rooms_imported = imported_into.len() as u64;
    report.summary.rooms_new = imported_into.values().filter(|&&new| new).count() as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(room: &str, user: &str, text: &str) -> MessageRow {
        MessageRow {
            id: 9,
            room: Some(room.to_owned()),
            user: Some(user.to_owned()),
            text: Some(text.to_owned()),
            ts_ms: Some(1_600_000_000_123),
        }
    }

    #[test]
    fn authors_with_an_account_are_linked_and_the_rest_are_guests() {
        let accounts = Accounts::from([("ada".to_owned(), (Some(4), "Ada".to_owned()))]);
        let (room, linked) = check(&row("lobby", "ADA", "hi"), &accounts, 100).expect("valid");
        assert_eq!(room.as_str(), "lobby");
        assert_eq!((linked.author.as_str(), linked.author_id), ("Ada", Some(4)));
        assert_eq!(linked.created_at, 1_600_000_000_123);
        let (_, guest) = check(&row("lobby", "bob", "hi"), &accounts, 100).expect("valid");
        assert_eq!((guest.author.as_str(), guest.author_id), ("bob", None));
    }

    #[test]
    fn malformed_rows_say_what_is_wrong() {
        let none = Accounts::new();
        for (bad, says) in [
            (row("bad room", "bob", "hi"), "room name"),
            (row("lobby", "bob", "a\0b"), "NUL"),
            (row("lobby", "bob", &"x".repeat(101)), "limit"),
            (row("lobby", "bob", "  "), "empty"),
            (row("lobby", "", "hi"), "author"),
            (
                MessageRow {
                    ts_ms: None,
                    ..row("lobby", "bob", "hi")
                },
                "timestamp",
            ),
        ] {
            let why = check(&bad, &none, 100).expect_err(says);
            assert!(why.contains(says), "{why}");
        }
    }
}
