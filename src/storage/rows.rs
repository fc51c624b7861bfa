//! The rows the backends read messages as: [`MessageRow`] (the columns of [`ROW_COLUMNS`], by name) and
//! [`KeyedRow`] (a message with the key a repeated send is recognised by), decoded by position from either
//! engine's rows, and turned into [`StoredMessage`]s.

use sqlx::{ColumnIndex, Decode, FromRow, Type};

use super::{MessageKind, StoredMessage, to_u64};

/// The columns of a [`MessageRow`], from `messages m`.
pub(super) const ROW_COLUMNS: &str = "m.seq, m.created_at, m.author, m.body, (m.author_id IS NULL AND NOT m.bot), m.kind, m.target, m.deleted, m.edited, m.reply_to, m.mentions, m.files, m.bot";

/// A message row as the backends select it ([`ROW_COLUMNS`]).
pub(super) struct MessageRow {
    pub seq: i64,
    pub created_at: i64,
    pub author: String,
    pub body: String,
    /// `author_id IS NULL` and not a bot's (an incoming hook has no account and is no guest).
    pub guest: bool,
    pub kind: i64,
    pub target: Option<i64>,
    pub deleted: bool,
    pub edited: bool,
    pub reply_to: Option<i64>,
    pub mentions: Option<String>,
    pub files: Option<String>,
    pub bot: bool,
}

/// A [`MessageRow`] with the key a repeated send is recognised by, as the writers look repeats up
/// (`SELECT m.room_id, m.sender_key, m.client_id, ROW_COLUMNS ...`).
pub(super) struct KeyedRow {
    pub room_id: i64,
    pub sender_key: String,
    pub client_id: String,
    pub message: MessageRow,
}

impl MessageRow {
    /// The row's [`ROW_COLUMNS`], from column `first` on.
    fn at<'r, R: sqlx::Row>(row: &'r R, first: usize) -> sqlx::Result<Self>
    where
        usize: ColumnIndex<R>,
        i64: Decode<'r, R::Database> + Type<R::Database>,
        String: Decode<'r, R::Database> + Type<R::Database>,
        bool: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            seq: row.try_get(first)?,
            created_at: row.try_get(first + 1)?,
            author: row.try_get(first + 2)?,
            body: row.try_get(first + 3)?,
            guest: row.try_get(first + 4)?,
            kind: row.try_get(first + 5)?,
            target: row.try_get(first + 6)?,
            deleted: row.try_get(first + 7)?,
            edited: row.try_get(first + 8)?,
            reply_to: row.try_get(first + 9)?,
            mentions: row.try_get(first + 10)?,
            files: row.try_get(first + 11)?,
            bot: row.try_get(first + 12)?,
        })
    }
}

impl<'r, R: sqlx::Row> FromRow<'r, R> for MessageRow
where
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn from_row(row: &'r R) -> sqlx::Result<Self> {
        Self::at(row, 0)
    }
}

impl<'r, R: sqlx::Row> FromRow<'r, R> for KeyedRow
where
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn from_row(row: &'r R) -> sqlx::Result<Self> {
        Ok(Self {
            room_id: row.try_get(0)?,
            sender_key: row.try_get(1)?,
            client_id: row.try_get(2)?,
            message: MessageRow::at(row, 3)?,
        })
    }
}

impl From<MessageRow> for StoredMessage {
    fn from(row: MessageRow) -> Self {
        Self {
            seq: to_u64(row.seq),
            ts_ms: row.created_at,
            author: row.author,
            body: row.body,
            guest: row.guest,
            kind: MessageKind::from_columns(row.kind, row.target, row.deleted),
            edited: row.edited,
            reply_to: row.reply_to.map(to_u64),
            mentions: row.mentions.unwrap_or_default(),
            files: row.files.unwrap_or_default(),
            bot: row.bot,
        }
    }
}
