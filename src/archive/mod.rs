//! Backups, exports and imports of a database (docs/OPERATIONS.md): `chatweb backup` copies a live SQLite
//! database into a consistent file, `chatweb export` writes every stored row as a JSON line, and
//! `chatweb import` reads such lines back without storing anything twice. This module owns the line
//! format both sides share; the SQL is in storage/archive.rs.

pub mod backup;
pub mod export;
pub mod files;
pub mod import;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::storage::ArchiveRow;
use files::ArchiveFile;

/// One line of an export: one stored row of a room's sequence. Events (edits, deletions, reactions, pins,
/// topics, membership changes) carry their `kind` and (those about a message) its `target`, so that a
/// room's ids are complete in an export of the whole room; a reply carries `reply_to`, a message with
/// files their metadata (`files`; their bytes travel apart: `--with-files DIR`), a bot's `"bot": true`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveLine {
    /// The room's name.
    pub room: String,
    /// The row's id in the room.
    pub id: u64,
    /// When it was stored: RFC 3339, UTC, milliseconds.
    pub ts: String,
    /// Its author (for an event, who made the change).
    pub user: String,
    /// The author had no account.
    #[serde(default)]
    pub guest: bool,
    /// Its text: the newest one, "" once deleted (and for deletions).
    pub message: String,
    /// An edit replaced the text.
    #[serde(default)]
    pub edited: bool,
    /// The text was deleted.
    #[serde(default)]
    pub deleted: bool,
    /// For an event: what it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<EventKind>,
    /// For an event about a message: the id it names (for `clear`, the last id it covers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u64>,
    /// For a reply: its thread's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
    /// For a message: its files (none once deleted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ArchiveFile>,
    /// A bot account or an incoming webhook wrote it (left out when not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bot: bool,
}

/// What an event row did (the `kind` column, storage/amend.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Deleted message `target`.
    Delete,
    /// Deleted every message up to `target`.
    Clear,
    /// Replaced the text of message `target` with this row's text.
    Edit,
    /// Changed the room's membership (`<action> <role> <user>`; memberships themselves do not travel).
    Member,
    /// Added (`+<emoji>`) or removed (`-<emoji>`) its author's reaction to message `target`.
    Reaction,
    /// Pinned (`add`) or unpinned (`remove`) message `target`.
    Pin,
    /// Set the room's topic to this row's text.
    Topic,
}

impl EventKind {
    fn column(self) -> i64 {
        match self {
            Self::Delete => 1,
            Self::Clear => 2,
            Self::Edit => 3,
            Self::Member => 4,
            Self::Reaction => 5,
            Self::Pin => 6,
            Self::Topic => 7,
        }
    }

    /// Whether its `target` is a message of the room.
    fn names_a_message(self) -> bool {
        !matches!(self, Self::Member | Self::Topic)
    }

    fn of_column(kind: i64) -> Option<Self> {
        match kind {
            1 => Some(Self::Delete),
            2 => Some(Self::Clear),
            3 => Some(Self::Edit),
            4 => Some(Self::Member),
            5 => Some(Self::Reaction),
            6 => Some(Self::Pin),
            7 => Some(Self::Topic),
            _ => None,
        }
    }
}

/// Why a line cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Not JSON, or not the fields of a line.
    #[error("not an export line: {0}")]
    Json(#[from] serde_json::Error),
    /// The `ts` field is not an RFC 3339 time.
    #[error("ts {0:?} is not an RFC 3339 time")]
    Time(String),
    /// A field holds a value chatweb cannot store.
    #[error("{0}")]
    Invalid(&'static str),
}

impl ArchiveLine {
    /// The line of `row`, stored in `room`.
    pub fn of_row(room: &str, row: ArchiveRow) -> Self {
        let kind = EventKind::of_column(row.kind);
        Self {
            room: room.to_owned(),
            id: row.seq,
            ts: crate::domain::rfc3339_ms(row.ts_ms),
            user: row.author,
            guest: row.guest,
            message: row.body,
            edited: row.edited,
            deleted: row.deleted,
            kind,
            target: kind.filter(|k| k.names_a_message()).and(row.target),
            reply_to: row.reply_to,
            files: ArchiveFile::list(&row.files),
            bot: row.bot,
        }
    }

    /// Parses and checks one line of an export.
    pub fn parse(text: &str) -> Result<Self, LineError> {
        let mut line: Self = serde_json::from_str(text)?;
        let Some(room) = crate::domain::RoomName::parse(&line.room) else {
            return Err(LineError::Invalid("room is not a valid room name"));
        };
        line.room = room.as_str().to_owned();
        if line.id == 0 || i64::try_from(line.id).is_err() {
            return Err(LineError::Invalid("id must be between 1 and 2^63-1"));
        }
        if line.user.trim().is_empty() || line.user.chars().count() > 150 {
            return Err(LineError::Invalid("user must have 1 to 150 characters"));
        }
        // PostgreSQL cannot store U+0000 in text.
        if line.user.contains('\0') || line.message.contains('\0') {
            return Err(LineError::Invalid("text holds U+0000"));
        }
        if line.kind.is_some_and(EventKind::names_a_message) != line.target.is_some() {
            return Err(LineError::Invalid(
                "target goes with the kinds about a message (delete, clear, edit, reaction, pin), and only with them",
            ));
        }
        if line
            .reply_to
            .is_some_and(|r| r == 0 || i64::try_from(r).is_err())
        {
            return Err(LineError::Invalid("reply_to out of range"));
        }
        if line.target.is_some_and(|t| i64::try_from(t).is_err()) {
            return Err(LineError::Invalid("target out of range"));
        }
        if !line.files.is_empty() && line.kind.is_some() {
            return Err(LineError::Invalid("only a message has files"));
        }
        ArchiveFile::check(&mut line.files)?;
        line.ts_ms()?;
        Ok(line)
    }

    /// `ts` in milliseconds since the epoch.
    pub fn ts_ms(&self) -> Result<i64, LineError> {
        let t = OffsetDateTime::parse(&self.ts, &Rfc3339)
            .map_err(|_| LineError::Time(self.ts.clone()))?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| LineError::Time(self.ts.clone()))
    }

    /// The row to store (its author's account is looked up apart).
    pub fn to_row(&self) -> Result<ArchiveRow, LineError> {
        Ok(ArchiveRow {
            seq: self.id,
            ts_ms: self.ts_ms()?,
            author: self.user.clone(),
            guest: self.guest,
            body: self.message.clone(),
            edited: self.edited,
            deleted: self.deleted,
            kind: self.kind.map_or(0, EventKind::column),
            target: self.target,
            reply_to: self.reply_to.filter(|_| self.kind.is_none()),
            // A deleted message's files went with it.
            files: if self.deleted {
                String::new()
            } else {
                ArchiveFile::store(&self.files)
            },
            // Only a message (or its tombstone) is a bot's; an event's row never is.
            bot: self.bot && self.kind.is_none(),
        })
    }
}

/// Parses `--since`: an RFC 3339 time, or a date (`2026-01-31`, midnight UTC); ms since the epoch.
pub fn parse_since(text: &str) -> Result<i64, String> {
    let t = match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(t) => t,
        Err(_) => {
            let date = parse_date(text).ok_or_else(|| {
                format!("{text:?} is neither a date (2026-01-31) nor an RFC 3339 time")
            })?;
            date.midnight().assume_utc()
        }
    };
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{text:?} is out of range"))
}

fn parse_date(text: &str) -> Option<time::Date> {
    let mut parts = text.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_as_it_was_written() {
        let row = ArchiveRow {
            seq: 7,
            ts_ms: 1_767_225_600_123,
            author: "ada".into(),
            guest: false,
            body: "fixed".into(),
            edited: false,
            deleted: false,
            kind: 3,
            target: Some(2),
            reply_to: None,
            files: String::new(),
            bot: false,
        };
        let line = ArchiveLine::of_row("den", row.clone());
        let text = serde_json::to_string(&line).expect("json");
        assert!(
            text.contains(r#""ts":"2026-01-01T00:00:00.123Z""#),
            "{text}"
        );
        assert!(text.contains(r#""kind":"edit","target":2"#), "{text}");
        let back = ArchiveLine::parse(&text).expect("parses");
        assert_eq!(back.to_row().expect("row"), row);
    }

    #[test]
    fn a_plain_message_has_no_kind_and_bad_lines_say_why() {
        let row = ArchiveRow {
            seq: 1,
            ts_ms: 0,
            author: "bob".into(),
            guest: true,
            body: "hi".into(),
            edited: false,
            deleted: false,
            kind: 0,
            target: None,
            reply_to: Some(1),
            files: String::new(),
            bot: false,
        };
        let text = serde_json::to_string(&ArchiveLine::of_row("den", row)).expect("json");
        assert!(!text.contains("kind"), "{text}");
        assert!(text.contains(r#""reply_to":1"#), "{text}");
        // A reaction names its message; a topic names none.
        let reaction = ArchiveLine::parse(
            r#"{"room":"den","id":3,"ts":"2026-01-01T00:00:00Z","user":"a","message":"+👍","kind":"reaction","target":1}"#,
        )
        .expect("a reaction");
        assert_eq!(reaction.to_row().expect("row").kind, 5);
        assert!(
            ArchiveLine::parse(
                r#"{"room":"den","id":3,"ts":"2026-01-01T00:00:00Z","user":"a","message":"t","kind":"topic","target":1}"#
            )
            .is_err()
        );
        for bad in [
            "not json",
            r#"{"room":"den","id":0,"ts":"2026-01-01T00:00:00Z","user":"a","message":""}"#,
            r#"{"room":"den","id":1,"ts":"yesterday","user":"a","message":""}"#,
            r#"{"room":"den","id":1,"ts":"2026-01-01T00:00:00Z","user":"a","message":"","kind":"edit"}"#,
            r#"{"room":"d e n","id":1,"ts":"2026-01-01T00:00:00Z","user":"a","message":""}"#,
        ] {
            assert!(ArchiveLine::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bots_message_says_so_and_nothing_else_does() {
        let row = ArchiveRow {
            seq: 4,
            ts_ms: 0,
            author: "CI".into(),
            guest: true,
            body: "build 7 is green".into(),
            edited: false,
            deleted: false,
            kind: 0,
            target: None,
            reply_to: None,
            files: String::new(),
            bot: true,
        };
        let text = serde_json::to_string(&ArchiveLine::of_row("den", row.clone())).expect("json");
        assert!(text.ends_with(r#""bot":true}"#), "{text}");
        let back = ArchiveLine::parse(&text).expect("parses");
        assert_eq!(back.to_row().expect("row"), row);
        let person = ArchiveRow { bot: false, ..row };
        let text = serde_json::to_string(&ArchiveLine::of_row("den", person)).expect("json");
        assert!(!text.contains("bot"), "{text}");
        // An event is nobody's bot message, whatever its line says.
        let edit = ArchiveLine::parse(
            r#"{"room":"den","id":5,"ts":"2026-01-01T00:00:00Z","user":"CI","message":"x","kind":"edit","target":4,"bot":true}"#,
        )
        .expect("an edit");
        assert!(!edit.to_row().expect("row").bot);
    }

    #[test]
    fn since_takes_a_date_or_a_time() {
        assert_eq!(parse_since("1970-01-02"), Ok(86_400_000));
        assert_eq!(parse_since("1970-01-01T00:00:01.5Z"), Ok(1_500));
        assert!(parse_since("01/02/1970").is_err());
    }

    #[test]
    fn a_message_carries_its_files_and_a_deleted_one_none() {
        use crate::domain::FileRef;
        let id = "0123456789abcdef0123456789abcdef";
        let files = [
            FileRef {
                id: id.into(),
                name: "cat.png".into(),
                size: 48_213,
                media_type: "image/png".into(),
                width: Some(800),
                height: Some(600),
                thumb: true,
            },
            FileRef {
                id: id.replace('0', "f"),
                name: "notes.pdf".into(),
                size: 3,
                media_type: "application/pdf".into(),
                width: None,
                height: None,
                thumb: false,
            },
        ];
        let row = ArchiveRow {
            seq: 2,
            ts_ms: 0,
            author: "ada".into(),
            guest: false,
            body: "look".into(),
            edited: false,
            deleted: false,
            kind: 0,
            target: None,
            reply_to: None,
            files: FileRef::store(&files),
            bot: false,
        };
        let text = serde_json::to_string(&ArchiveLine::of_row("den", row.clone())).expect("json");
        assert!(
            text.contains(&format!(
                r#""files":[{{"id":"{id}","name":"cat.png","size":48213,"type":"image/png","width":800,"height":600}}"#
            )),
            "{text}"
        );
        assert!(!text.contains("thumb"), "{text}");
        let back = ArchiveLine::parse(&text).expect("parses");
        assert_eq!(
            back.to_row().expect("row"),
            row,
            "the thumbnail flag follows the size"
        );
        let deleted = text.replace(r#""deleted":false"#, r#""deleted":true"#);
        let gone = ArchiveLine::parse(&deleted).expect("parses");
        assert_eq!(gone.to_row().expect("row").files, "");
        for bad in [
            text.replace(id, "../../etc/passwd"),
            text.replace(r#""message":"look""#, r#""message":"t","kind":"topic""#),
        ] {
            assert!(ArchiveLine::parse(&bad).is_err(), "{bad}");
        }
    }
}
