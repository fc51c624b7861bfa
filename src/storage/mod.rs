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
mod error;
mod files;
mod heads;
mod held;
mod history;
mod hook_deliveries;
mod hooks;
mod imports;
mod incoming_hooks;
mod marks;
mod membership;
mod message;
mod moderation;
mod occupancy;
mod point_reads;
mod postgres;
mod push;
mod reads;
mod recent;
mod relations;
mod retention;
mod rows;
mod search;
mod search_query;
mod settings;
mod sqlite;
mod sqlite_writer;
mod writer;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::domain::RoomName;

pub use access::{InviteRow, MemberRoom, MemberRow, NewInvite, RoomAccessRow};
pub use accounts::{AuthEvent, NewUser, TokenRow, UserRow};
pub use admin::{AdminMessage, AdminRoom, AuditEntry, MessageFilter};
pub use amend::{MAX_PINS, MAX_REACTIONS};
pub use archive::{ArchiveRoom, ArchiveRow, Author, Authors, ImportCounts, ImportRoom};
pub use db::Db;
pub(crate) use db::on_db;
pub use error::{Outcome, StoreError};
pub use files::{FileRow, ImportedFile, NewFile, Thumb};
pub use history::RoomActivity;
pub use hook_deliveries::{DeliveryRow, KEPT_DELIVERIES};
pub use hooks::{HookRoom, HookRow, Moved, NewHook, Track};
pub use imports::{
    DJANGO_CLIENT_ID_PREFIX, ExistingAccount, ImportedMessage, ImportedRoomState, ImportedUser,
    open_existing,
};
pub use incoming_hooks::IncomingHookRow;
pub use marks::{ReadMark, ReadMarks};
pub use message::{
    Amend, Amendment, Appended, Attached, Authority, MemberChange, MemberEvent, Mentions,
    MessageKind, NewMessage, NewRoom, RoomSummary, StoredMessage,
};
pub use moderation::{ModerationChange, ModerationEvent, SanctionRow, SanctionWrite};
pub use occupancy::{Claim, OccupancyEvent, Transition};
pub use postgres::PostgresBackend;
pub use push::{NewPushSubscription, PushSubscriptionRow, PushTarget};
pub use recent::{Load, ROOM_OVERHEAD, RecentCache};
pub use relations::{
    Aggregated, Aggregates, MAX_REACTION_USERS, PinRow, ReactionSummary, Selection,
};
pub use retention::{Removed, RetentionRoom, RoomRetention};
use rows::{KeyedRow, MessageRow, ROW_COLUMNS};
pub use search::{Behind, FLOOD_INDEX_BATCH, INDEX_BATCH, SearchHit, SearchRequest};
pub use settings::{Durability, StoreSettings};
pub use sqlite::SqliteBackend;
pub(crate) use writer::WriteRequest;
pub use writer::{CommitListener, StoreWriter, WriterOptions};

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
    /// `room`'s kind and topic and `user_id`'s role in it, for the one access check (see
    /// [`Db::room_access`]); SQLite reads it on the asking thread.
    async fn room_access(
        &self,
        room: &str,
        user_id: Option<i64>,
    ) -> Result<Option<RoomAccessRow>, StoreError> {
        self.db().room_access(room, user_id).await
    }
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
            Engine::Postgres => Ok(Arc::new(
                PostgresBackend::connect(database_url, settings).await?,
            )),
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
            .send(WriteRequest::Append {
                message,
                reply,
                queued_ms: now_ms(),
            })
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
            .send(WriteRequest::Amend {
                amendment,
                reply,
                queued_ms: now_ms(),
            })
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

    /// `room`'s kind and topic and `user_id`'s role in it: the read of the one access check
    /// (src/access/), made afresh every time.
    pub async fn room_access(
        &self,
        room: &str,
        user_id: Option<i64>,
    ) -> Result<Option<RoomAccessRow>, StoreError> {
        self.backend.room_access(room, user_id).await
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
        let mut messages = self.load(cache, room).await?;
        let skip = messages.len().saturating_sub(limit as usize);
        messages.drain(..skip);
        Ok(messages)
    }

    /// The history frames a join writes: the last `limit` messages of `room` that `shows` keeps, rendered
    /// by `render`, oldest first, and the id of the newest of those `limit` (`None`: the room is empty).
    /// When the room is cached each message is rendered once and its frame shared by every join
    /// ([`RecentCache::recent_frames`]).
    pub async fn recent_frames(
        &self,
        room: &RoomName,
        limit: u32,
        shows: impl Fn(&StoredMessage) -> bool,
        render: impl Fn(&StoredMessage) -> Utf8Bytes,
    ) -> Result<(Vec<Utf8Bytes>, Option<u64>), StoreError> {
        let cached = self.cache.as_ref().filter(|c| limit as usize <= c.depth());
        let messages = match cached {
            Some(cache) => {
                if let Some(found) = cache.recent_frames(room, limit as usize, &shows, &render) {
                    return Ok(found);
                }
                let read = self.load(cache, room).await?;
                // Installed, unless it cannot be known exactly or does not fit (an empty room never is):
                // then what the load read is rendered here.
                if let Some(found) = cache.recent_frames(room, limit as usize, &shows, &render) {
                    return Ok(found);
                }
                read
            }
            None => self.reads.recent(room, limit).await?,
        };
        let newest = messages.last().map(|m| m.seq);
        let skip = messages.len().saturating_sub(limit as usize);
        let frames = messages[skip..]
            .iter()
            .filter(|m| shows(m))
            .map(render)
            .collect();
        Ok((frames, newest))
    }

    /// A cache miss: reads the newest messages of `room` (as many as the cache keeps) from the read pool
    /// and caches them. The load, opened first, installs the read only if the writer committed nothing to
    /// the room meanwhile (recent.rs), so the cache never lacks a commit; an empty room is answered
    /// without an entry. Returns what was read.
    async fn load(
        &self,
        cache: &RecentCache,
        room: &RoomName,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let load = cache.load(room);
        let depth = u32::try_from(cache.depth()).unwrap_or(u32::MAX);
        let messages = self.reads.recent(room, depth).await?;
        load.install(&messages);
        Ok(messages)
    }

    /// Up to `limit` messages of `room` after `since`, oldest first. Members asking the same at once share
    /// one database read (reads.rs).
    ///
    /// A room the recent cache lacks is loaded into it first (the read of a join, shared the same way),
    /// which answers when it holds everything after `since`, and so does the cache from then on. After a
    /// restart every client of a room resumes asking for the same newest ids, but over its backoff's
    /// jitter: seconds apart, too far apart to share a read in flight. Without the load each of them read
    /// the database on its own.
    pub async fn after(
        &self,
        room: &RoomName,
        since: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let Some(cache) = self.cache.as_ref() else {
            return self.reads.after(room, since, limit).await;
        };
        if let Some(messages) = cache.after(room, since, limit as usize) {
            return Ok(messages);
        }
        if !cache.contains(room) {
            let newest = self.load(cache, room).await?;
            // Everything the room keeps (fewer than the cache's depth), or reaching back to `since`.
            let whole = newest.len() < cache.depth();
            if whole
                || newest
                    .first()
                    .is_some_and(|first| first.seq <= since.saturating_add(1))
            {
                let after = newest.into_iter().filter(|m| m.seq > since);
                return Ok(after.take(limit as usize).collect());
            }
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

    /// Applies a batch of room `room_id`'s rows after `indexed` to the search index; returns the new mark.
    /// On SQLite through the writer (its one write lock is the message path's), after the messages queued
    /// before it, in smaller batches while messages `flood` in; on PostgreSQL on a connection of its own.
    pub async fn index_room(
        &self,
        room_id: i64,
        indexed: u64,
        flood: bool,
    ) -> Result<u64, StoreError> {
        let db = self.backend.db();
        if matches!(db, Db::Postgres(_)) {
            return db.index_room(room_id, indexed, INDEX_BATCH).await;
        }
        let (reply, done) = oneshot::channel();
        let request = WriteRequest::Index {
            room_id,
            indexed,
            rows: if flood {
                search::FLOOD_INDEX_BATCH
            } else {
                search::WRITER_INDEX_BATCH
            },
            reply,
        };
        self.writer
            .send(request)
            .await
            .map_err(|_| StoreError::Closed)?;
        done.await.map_err(|_| StoreError::Closed)?
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
