//! Importing `chatapp_message`: rows arrive per room in timestamp order (then id), each checked against
//! chatweb's rules (a valid room name and author, a text `MessageBody` accepts, a readable timestamp) and
//! against the Django ids the room already holds; the rest are appended after the room's last id, keeping
//! their timestamps, in transactions of [`CHUNK`] messages. A malformed row is reported with its id and
//! skipped; the rest goes on.
//!
//! A message is credited to a chatweb account only when that account is its Django author's own
//! (`users.rs`, [`People::linked`]). When the author's name belongs to some other account (one registered
//! on chatweb before the move, or a Django user that collides with it in case), the message keeps the
//! Django name without an account (`author_id` NULL, shown as a guest's), so that account cannot edit or
//! delete it; the report counts these per name.

use std::collections::HashMap;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::domain::{MessageBody, RoomName, Username};
use crate::storage::{Db, ImportedMessage, ImportedRoomState};

use super::report::{Reporter, Table};
use super::source::{MessageRow, Source};
use super::users::People;

/// Messages per transaction: a few statements of a thousand rows each.
const CHUNK: usize = 10_000;
/// Rows read ahead of the writer.
const READ_AHEAD: usize = 4096;

/// A row fit to store.
#[derive(Debug)]
struct Checked {
    room: RoomName,
    message: ImportedMessage,
    /// Its author's name belongs to an account that is not theirs: stored without one.
    unlinked: bool,
}

/// How one row is stored, or why it cannot be.
fn check(row: &MessageRow, people: &People, max_bytes: usize) -> Result<Checked, String> {
    let room = row.room.as_deref().unwrap_or_default();
    let room =
        RoomName::parse(room).ok_or_else(|| format!("the room name {room:?} is not valid"))?;
    let text = row.text.as_deref().unwrap_or_default();
    let body = MessageBody::parse(text, max_bytes).map_err(|e| format!("the text: {e}"))?;
    let author = author(row.user.as_deref().unwrap_or_default(), people)?;
    let created_at = row
        .ts_ms
        .ok_or_else(|| "the timestamp is not a date".to_owned())?;
    let unlinked = matches!(author, Author::Unlinked(_));
    let (author, author_id) = match author {
        Author::Account { name, id } => (name, id),
        Author::Unlinked(name) | Author::Guest(name) => (name, None),
    };
    Ok(Checked {
        room,
        message: ImportedMessage {
            django_id: row.id,
            author,
            author_id,
            body: body.as_str().to_owned(),
            created_at,
        },
        unlinked,
    })
}

/// Whom a message is credited to.
#[derive(Debug, PartialEq, Eq)]
enum Author {
    /// The Django author's own chatweb account (`id` unknown in a dry run), under its registered name.
    Account { name: String, id: Option<i64> },
    /// A name some other chatweb account has: the Django name, without an account.
    Unlinked(String),
    /// A name no account has: a guest's.
    Guest(String),
}

/// The author of a message by `name` (a nickname, or a name Django's rule for accounts accepts).
fn author(name: &str, people: &People) -> Result<Author, String> {
    let parsed = Username::parse(name).or_else(|| Username::parse_account(name).ok());
    let Some(parsed) = parsed else {
        return Err(format!("the author {name:?} is not a name chatweb accepts"));
    };
    if let Some(own) = people.linked.get(parsed.as_str()) {
        return Ok(Author::Account {
            name: own.name.clone(),
            id: own.id,
        });
    }
    let name = parsed.as_str().to_owned();
    Ok(if people.accounts.contains_key(&parsed.key()) {
        Author::Unlinked(name)
    } else {
        Author::Guest(name)
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
/// database yet), linking authors to their own accounts in `people`.
pub async fn import(
    source: Source,
    db: Option<&Db>,
    people: &People,
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
        let Checked {
            room,
            message,
            unlinked,
        } = match check(&row, people, max_bytes) {
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
        if unlinked {
            report.unlinked(&message.author);
        }
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
    use crate::django::users::Account;

    fn row(room: &str, user: &str, text: &str) -> MessageRow {
        MessageRow {
            id: 9,
            room: Some(room.to_owned()),
            user: Some(user.to_owned()),
            text: Some(text.to_owned()),
            ts_ms: Some(1_600_000_000_123),
        }
    }

    fn account(id: i64, name: &str) -> Account {
        Account {
            id: Some(id),
            name: name.to_owned(),
        }
    }

    #[test]
    fn authors_are_linked_to_their_own_account_only_and_the_rest_are_guests() {
        let mut people = People::default();
        people.accounts.insert("ada".into(), account(4, "ada"));
        people.linked.insert("ada".into(), account(4, "ada"));
        people.accounts.insert("carol".into(), account(5, "Carol"));
        let linked = check(&row("lobby", "ada", "hi"), &people, 100).expect("valid");
        assert_eq!(linked.room.as_str(), "lobby");
        let message = &linked.message;
        assert_eq!(
            (message.author.as_str(), message.author_id),
            ("ada", Some(4))
        );
        assert_eq!(message.created_at, 1_600_000_000_123);
        assert!(!linked.unlinked);
        // Django's "ADA" is not Django's "ada", and chatweb's Carol is not Django's carol.
        for (name, stored) in [("ADA", "ADA"), ("carol", "carol"), ("ｃａｒｏｌ", "carol")] {
            let other = check(&row("lobby", name, "hi"), &people, 100).expect("valid");
            let message = &other.message;
            assert_eq!((message.author.as_str(), message.author_id), (stored, None));
            assert!(other.unlinked, "{name}");
        }
        let guest = check(&row("lobby", "bob", "hi"), &people, 100).expect("valid");
        assert_eq!(
            (guest.message.author.as_str(), guest.message.author_id),
            ("bob", None)
        );
        assert!(!guest.unlinked);
    }

    #[test]
    fn malformed_rows_say_what_is_wrong() {
        let none = People::default();
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
