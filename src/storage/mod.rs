//! The store: the only place that speaks SQL. A [`Store`] handle reads through a backend's read pool (or,
//! on a single node, the [`RecentCache`] in front of it), sharing each read among everyone asking the same
//! at once (`reads.rs`), and writes through one group-commit writer task
//! ([`writer`]), so every message gets its room sequence number inside the transaction that stores it
//! (docs/ARCHITECTURE.md, invariants 1 and 2).

mod access;
mod accounts;
mod admin;
mod amend;
mod archive;
mod batch;
mod checkpoint;
mod db;
mod heads;
mod history;
mod imports;
mod marks;
mod membership;
mod moderation;
mod postgres;
mod reads;
mod recent;
mod retention;
mod settings;
mod sqlite;
mod sqlite_writer;
mod writer;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::{ClientIdOwner, MessageBody, Role, RoomKind, RoomName, Username};

pub use access::{InviteRow, MemberRoom, MemberRow, NewInvite, RoomAccessRow};
pub use accounts::{AuthEvent, NewUser, TokenRow, UserRow};
pub use admin::{AdminMessage, AdminRoom, AuditEntry, MessageFilter};
pub use archive::{ArchiveRoom, ArchiveRow, Authors, ImportCounts, ImportRoom};
pub use db::Db;
pub(crate) use db::on_db;
pub use history::{HistoryPage, RoomActivity};
pub use imports::{
    DJANGO_CLIENT_ID_PREFIX, ExistingAccount, ImportedMessage, ImportedRoomState, ImportedUser,
    open_existing,
};
pub use marks::{ReadMark, ReadMarks};
pub use moderation::{ModerationChange, ModerationEvent, SanctionRow, SanctionWrite};
pub use postgres::PostgresBackend;
pub use recent::{Load, ROOM_OVERHEAD, RecentCache};
pub use retention::{Removed, RetentionRoom, RoomRetention};
pub use settings::{Durability, StoreSettings};
pub use sqlite::SqliteBackend;
pub use writer::{CommitListener, StoreWriter, WriterOptions};

/// A message accepted from a client, not yet stored.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The room it goes to.
    pub room: RoomName,
    /// Who sent it.
    pub author: Username,
    /// What it says.
    pub body: MessageBody,
    /// The sender's idempotency key: a repeat by the same owner in the same room stores nothing new.
    pub client_id: Option<Arc<str>>,
    /// Whose `client_id`s these are (stored as `messages.sender_key` beside a `client_id`): another
    /// sender's same `client_id` is a message of its own.
    pub owner: ClientIdOwner,
    /// The author's account; `None` for a guest.
    pub author_id: Option<i64>,
}

/// A stored message as read back or just committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Room sequence number: 1, 2, 3, ... with no gaps.
    pub seq: u64,
    /// Commit time, milliseconds since the Unix epoch (UTC).
    pub ts_ms: i64,
    /// Who sent it.
    pub author: String,
    /// What it says ("" once deleted, and for events).
    pub body: String,
    /// The author had no account.
    pub guest: bool,
    /// A message, a tombstone, or an event that changed earlier messages.
    pub kind: MessageKind,
    /// An edit replaced the text (the text is the newest one).
    pub edited: bool,
}

/// What a stored row of a room's sequence is. Every row has its own room id (docs/ARCHITECTURE.md,
/// invariant 5): a deletion is an event after the message it removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A chat message.
    Message,
    /// A message whose text was deleted: its id stays, its text is gone.
    Deleted,
    /// The deletion of message `target`.
    Delete {
        /// The deleted message's id.
        target: u64,
    },
    /// The deletion of every message up to `through`.
    Clear {
        /// The last id the deletion covers.
        through: u64,
    },
    /// The edit of message `target`; the row's body is the new text.
    Edit {
        /// The edited message's id.
        target: u64,
    },
    /// A change of the room's membership; the row's body is [`MemberEvent`]'s stored form, its author
    /// who made the change.
    Member,
}

impl MessageKind {
    /// From the `kind`, `target` and `deleted` columns.
    fn from_columns(kind: i64, target: Option<i64>, deleted: bool) -> Self {
        let target = to_u64(target.unwrap_or(0));
        match kind {
            1 => Self::Delete { target },
            2 => Self::Clear { through: target },
            3 => Self::Edit { target },
            4 => Self::Member,
            _ if deleted => Self::Deleted,
            _ => Self::Message,
        }
    }

    /// Whether a client of the Channels protocol (which prints `user: message` for every frame) gets it.
    pub fn plain(&self) -> bool {
        matches!(self, Self::Message)
    }
}

/// A change to a room's history, stored as an event with the room's next id.
#[derive(Clone, Debug)]
pub struct Amendment {
    /// The room.
    pub room: RoomName,
    /// Who made it.
    pub actor: Username,
    /// The actor's account.
    pub actor_id: Option<i64>,
    /// What changes.
    pub action: Amend,
    /// Whose messages the actor may change.
    pub authority: Authority,
    /// The idempotency key: a repeat by the same owner in the same room stores nothing new and returns
    /// the first event.
    pub client_id: Option<Arc<str>>,
    /// Whose `client_id`s these are (as [`NewMessage::owner`]).
    pub owner: ClientIdOwner,
}

/// Whose messages an [`Amendment`]'s actor may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    /// Only their own: a member's edit or delete, refused in a locked room.
    Author,
    /// Any message: staff and the admin.
    Moderator,
}

/// The kinds of change to history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Amend {
    /// Delete one message (its text is replaced by a tombstone).
    Delete {
        /// The message's id.
        target: u64,
    },
    /// Delete every message of the room.
    Clear,
    /// Replace one message's text.
    Edit {
        /// The message's id.
        target: u64,
        /// The new text.
        body: MessageBody,
    },
    /// Change one person's membership (refused in a direct room, whose members never change).
    Member {
        /// The account.
        user_id: i64,
        /// Its name.
        user: String,
        /// What changes.
        change: MemberChange,
    },
    /// Create the room, with its kind, topic and first members (refused when the name is taken).
    Create(Box<NewRoom>),
}

/// A change of one person's membership of a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Added with a role (refused when already a member).
    Added(Role),
    /// Removed by someone else.
    Removed,
    /// Left by themselves.
    Left,
    /// Given another role.
    Role(Role),
}

impl MemberChange {
    /// The `action` of its event.
    pub fn action(self) -> &'static str {
        match self {
            Self::Added(_) => "added",
            Self::Removed => "removed",
            Self::Left => "left",
            Self::Role(_) => "role",
        }
    }
}

/// A room to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRoom {
    /// Its kind.
    pub kind: RoomKind,
    /// Its topic.
    pub topic: String,
    /// For a direct room: the key of its member set, which finds it again.
    pub dm_key: Option<String>,
    /// Its members and their roles; the first is its creator.
    pub members: Vec<(i64, Username, Role)>,
}

/// A membership event as stored in its row's body: `<action> <role> <user>` (an account name holds no
/// space). Its author is who made the change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberEvent {
    /// `added`, `removed`, `left` or `role`.
    pub action: String,
    /// The role the person has after it (`member` for one who is gone).
    pub role: String,
    /// The person.
    pub user: String,
}

impl MemberEvent {
    /// The stored form.
    pub fn encode(action: &str, role: Role, user: &str) -> String {
        format!("{action} {} {user}", role.as_str())
    }

    /// From the stored form.
    pub fn decode(body: &str) -> Option<Self> {
        let mut parts = body.splitn(3, ' ');
        let (action, role, user) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Self {
            action: action.to_owned(),
            role: role.to_owned(),
            user: user.to_owned(),
        })
    }
}

/// The outcome of one append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The message as stored (for a repeated `client_id`, the original).
    pub message: StoredMessage,
    /// True when the `client_id` was seen before and nothing new was stored.
    pub duplicate: bool,
}

/// A room that has messages, for the lobby.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RoomSummary {
    /// The room's name.
    pub name: String,
    /// How many messages it holds (its last sequence number).
    pub messages: u64,
    /// Time of the last message, milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
}

/// Why a store operation failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(Arc<sqlx::Error>),
    /// The database refused this one message for what it holds (a constraint, a value it cannot store);
    /// the rest of its batch was stored. Sending it again unchanged fails again.
    #[error("the database refused the message: {0}")]
    Refused(Arc<sqlx::Error>),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migrate(Arc<sqlx::migrate::MigrateError>),
    /// The URL names a database we do not support.
    #[error("unsupported database URL {0:?}: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    /// An in-memory SQLite database: each of the store's connections would see one of its own.
    #[error("an in-memory SQLite database cannot be the store: give it a file (sqlite://path)")]
    InMemory,
    /// The writer has stopped (the node is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The room is read-only (locked in the admin).
    #[error("the room is locked")]
    RoomLocked,
    /// The room or message named does not exist (or is already deleted).
    #[error("{0}")]
    NotFound(&'static str),
    /// The actor may not change this message (it is someone else's).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The change contradicts what is stored (a name taken, a member added twice, the last owner).
    #[error("{0}")]
    Conflict(&'static str),
}

/// What one message of a batch came to.
pub type Outcome = Result<Appended, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(Arc::new(e))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(Arc::new(e))
    }
}

/// What a database engine must do. Each backend holds its own SQL and migrations; the writer task is shared.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Stores `batch` in one transaction, allocating room sequence numbers inside it; results in order.
    /// A message to a locked room fails alone, with [`StoreError::RoomLocked`].
    async fn append(&self, batch: &[NewMessage], now_ms: i64) -> Result<Vec<Outcome>, StoreError>;
    /// Stores `amendment` as the room's next event and changes the messages it names, in one transaction.
    async fn amend(&self, amendment: &Amendment, now_ms: i64) -> Result<Appended, StoreError>;
    /// The last `limit` messages of `room`, oldest first.
    async fn recent(&self, room: &RoomName, limit: u32) -> Result<Vec<StoredMessage>, StoreError>;
    /// Up to `limit` messages of `room` with a sequence number above `since`, oldest first.
    async fn after(
        &self,
        room: &RoomName,
        since: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError>;
    /// The room's last sequence number (0 for a room without messages).
    async fn last_seq(&self, room: &RoomName) -> Result<u64, StoreError>;
    /// The room's first id still kept (retention removed the ids below it; 1 when it removed none) and
    /// its last sequence number, in one read: what a resume needs.
    async fn kept(&self, room: &RoomName) -> Result<(u64, u64), StoreError>;
    /// Rooms with messages, most recently active first.
    async fn rooms(&self, limit: u32) -> Result<Vec<RoomSummary>, StoreError>;
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes the connections cleanly (SQLite checkpoints its WAL).
    async fn close(&self);
    /// A pool for the queries beside the message path (accounts, sessions, the admin).
    fn db(&self) -> Db;
}

/// A migrator over migrations compiled into the binary: (version, description, SQL), oldest first.
fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    std::borrow::Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// A message row as the backends select it ([`ROW_COLUMNS`]).
type Row = (i64, i64, String, String, bool, i64, Option<i64>, bool, bool);

/// A [`Row`] with its room id, `sender_key` and `client_id` first, as the writers look up repeated sends
/// (`SELECT m.room_id, m.sender_key, m.client_id, ROW_COLUMNS ...`).
type KeyedRow = (
    i64,
    String,
    String,
    i64,
    i64,
    String,
    String,
    bool,
    i64,
    Option<i64>,
    bool,
    bool,
);

/// A [`KeyedRow`] as its key (room id, sender key, client id) and its message.
fn keyed(
    (room_id, owner, client_id, seq, ts, author, body, guest, kind, target, deleted, edited): KeyedRow,
) -> ((i64, String, String), StoredMessage) {
    let row = (seq, ts, author, body, guest, kind, target, deleted, edited);
    ((room_id, owner, client_id), to_message(row))
}

/// The columns of a [`Row`], from `messages m`.
const ROW_COLUMNS: &str = "m.seq, m.created_at, m.author, m.body, m.author_id IS NULL, m.kind, m.target, m.deleted, m.edited";

fn to_message(
    (seq, ts_ms, author, body, guest, kind, target, deleted, edited): Row,
) -> StoredMessage {
    StoredMessage {
        seq: to_u64(seq),
        ts_ms,
        author,
        body,
        guest,
        kind: MessageKind::from_columns(kind, target, deleted),
        edited,
    }
}

/// Now, in milliseconds since the Unix epoch (how every timestamp is stored).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Database integers are signed; sequence numbers never are.
fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The database engines, chosen by the URL's scheme.
enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    fn of(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(crate::redaction::redacted(url)))
        }
    }
}

/// Work for the writer task.
pub(crate) enum WriteRequest {
    /// Store a message; the outcome goes to `reply`.
    Append {
        message: NewMessage,
        reply: oneshot::Sender<Result<Appended, StoreError>>,
    },
    /// Store a change to history; the event goes to `reply`.
    Amend {
        amendment: Amendment,
        reply: oneshot::Sender<Result<Appended, StoreError>>,
    },
    /// Write read marks (one small transaction, answered when done).
    Marks {
        marks: Vec<ReadMark>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Remove one batch of a room's rows older than `cutoff_ms` (retention: one small transaction, after
    /// the message batch it was queued behind).
    Retention {
        room_id: i64,
        cutoff_ms: i64,
        batch: u32,
        reply: oneshot::Sender<Result<Removed, StoreError>>,
    },
}

/// The store handle: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    writer: mpsc::Sender<WriteRequest>,
    /// The newest messages per room, when this node is the database's only writer.
    cache: Option<Arc<RecentCache>>,
    /// History and catch-up reads, shared per room and read, capped in number.
    reads: Arc<reads::Reads>,
    /// Read marks not written yet.
    marks: Arc<ReadMarks>,
}

impl Store {
    /// Connects to `database_url` and applies pending migrations. Returns the backend; start writing with
    /// [`StoreWriter::new`].
    pub async fn connect(database_url: &str) -> Result<Arc<dyn Backend>, StoreError> {
        Self::connect_with(database_url, &StoreSettings::default()).await
    }

    /// [`Store::connect`] with `settings` (durability and WAL checkpoints).
    pub async fn connect_with(
        database_url: &str,
        settings: &StoreSettings,
    ) -> Result<Arc<dyn Backend>, StoreError> {
        match Engine::of(database_url)? {
            Engine::Sqlite => Ok(Arc::new(
                SqliteBackend::connect_with(database_url, settings).await?,
            )),
            Engine::Postgres => Ok(Arc::new(PostgresBackend::connect(database_url).await?)),
        }
    }

    /// Brings the schema of `database_url` up to date; returns how many migrations were applied.
    pub async fn migrate(database_url: &str) -> Result<usize, StoreError> {
        match Engine::of(database_url)? {
            Engine::Sqlite => SqliteBackend::migrate_only(database_url).await,
            Engine::Postgres => PostgresBackend::migrate_only(database_url).await,
        }
    }

    /// Succeeds when the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping().await
    }

    /// Queues `message` for the writer. The returned receiver yields the outcome once the batch holding it
    /// has committed (or failed). Waits while the writer's queue is full.
    pub async fn submit(
        &self,
        message: NewMessage,
    ) -> Result<oneshot::Receiver<Result<Appended, StoreError>>, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.writer
            .send(WriteRequest::Append { message, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(outcome)
    }

    /// Stores one message and waits for the commit.
    pub async fn append(&self, message: NewMessage) -> Result<Appended, StoreError> {
        self.submit(message)
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Queues a change to history for the writer, like [`Store::submit`]: the receiver yields the stored
    /// event once committed; subscribers get it like any message.
    pub async fn submit_amend(
        &self,
        amendment: Amendment,
    ) -> Result<oneshot::Receiver<Result<Appended, StoreError>>, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.writer
            .send(WriteRequest::Amend { amendment, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(outcome)
    }

    /// Stores a change to history as the room's next event and waits for the commit.
    pub async fn amend(&self, amendment: Amendment) -> Result<StoredMessage, StoreError> {
        let outcome = self.submit_amend(amendment).await?;
        Ok(outcome.await.map_err(|_| StoreError::Closed)??.message)
    }

    /// Records that `user_id` has read `room` up to `id`; the writer stores it within about a second
    /// (see [`Store::flush_marks`]).
    pub fn mark_read(&self, user_id: i64, room: &RoomName, id: u64) {
        if self.marks.record(user_id, room, id) {
            // Full: hand them to the writer now rather than grow.
            let store = self.clone();
            tokio::spawn(async move { store.flush_marks().await });
        }
    }

    /// Writes every recorded read mark through the writer; returns once they are stored.
    pub async fn flush_marks(&self) {
        let marks = self.marks.take();
        if marks.is_empty() {
            return;
        }
        let (reply, done) = oneshot::channel();
        let count = marks.len();
        let written = match self.writer.send(WriteRequest::Marks { marks, reply }).await {
            Ok(()) => done.await.unwrap_or(Err(StoreError::Closed)),
            Err(_) => Err(StoreError::Closed),
        };
        if let Err(error) = written {
            tracing::warn!(%error, marks = count, "read marks were not stored");
        }
    }

    /// The mark of `user_id` in `room` not written yet, if any.
    pub fn pending_mark(&self, user_id: i64, room: &RoomName) -> Option<u64> {
        self.marks.pending(user_id, room)
    }

    /// The last id `user_id` has read in `room` (0 when none), counting marks not written yet.
    pub async fn last_read(&self, user_id: i64, room: &RoomName) -> Result<u64, StoreError> {
        let stored = marks::last_read(&self.db(), user_id, room).await?;
        Ok(stored.max(self.marks.pending(user_id, room).unwrap_or(0)))
    }

    /// The pool for accounts, sessions and the admin.
    pub fn db(&self) -> Db {
        self.backend.db()
    }

    /// The last `limit` messages of `room`, oldest first.
    pub async fn recent(
        &self,
        room: &RoomName,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let Some(cache) = self.cache.as_ref().filter(|c| limit as usize <= c.depth()) else {
            return self.reads.recent(room, limit).await;
        };
        if let Some(messages) = cache.recent(room, limit as usize) {
            return Ok(messages);
        }
        // A miss: read the room from the read pool. The load, opened first, installs the read only if
        // the writer committed nothing to the room meanwhile (recent.rs), so the cache never lacks a
        // commit; an empty room is answered without an entry.
        let load = cache.load(room);
        let depth = u32::try_from(cache.depth()).unwrap_or(u32::MAX);
        let mut messages = self.reads.recent(room, depth).await?;
        load.install(&messages);
        let skip = messages.len().saturating_sub(limit as usize);
        messages.drain(..skip);
        Ok(messages)
    }

    /// Up to `limit` messages of `room` after `since`, oldest first. Members asking the same at once share
    /// one database read (reads.rs).
    pub async fn after(
        &self,
        room: &RoomName,
        since: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        if let Some(messages) = self
            .cache
            .as_ref()
            .and_then(|cache| cache.after(room, since, limit as usize))
        {
            return Ok(messages);
        }
        self.reads.after(room, since, limit).await
    }

    /// Removes one batch (at most `batch` rows) of the oldest rows of room `room_id` written before
    /// `cutoff_ms`, through the writer, so the database's single writer is never contended; the recent
    /// cache forgets the room once they are gone.
    pub async fn remove_expired(
        &self,
        room_id: i64,
        room: Option<RoomName>,
        cutoff_ms: i64,
        batch: u32,
    ) -> Result<Removed, StoreError> {
        let (reply, done) = oneshot::channel();
        let request = WriteRequest::Retention {
            room_id,
            cutoff_ms,
            batch,
            reply,
        };
        self.writer
            .send(request)
            .await
            .map_err(|_| StoreError::Closed)?;
        let removed = done.await.map_err(|_| StoreError::Closed)??;
        if let (Some(cache), Some(room), true) = (&self.cache, &room, removed.rows > 0) {
            // After the commit: a load opened before this forget installs nothing, one opened after it
            // reads the room without the removed rows (recent.rs).
            cache.forget(room);
        }
        Ok(removed)
    }

    /// The room's first id still kept and its last sequence number ([`Backend::kept`]).
    pub async fn kept(&self, room: &RoomName) -> Result<(u64, u64), StoreError> {
        self.backend.kept(room).await
    }

    /// The room's last sequence number.
    pub async fn last_seq(&self, room: &RoomName) -> Result<u64, StoreError> {
        self.backend.last_seq(room).await
    }

    /// Rooms with messages, most recently active first.
    pub async fn rooms(&self, limit: u32) -> Result<Vec<RoomSummary>, StoreError> {
        self.backend.rooms(limit).await
    }
}
