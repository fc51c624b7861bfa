//! SQLite backend: WAL mode with `synchronous=NORMAL` (a process crash loses nothing committed; `FULL` with
//! `--durability power`, so a power loss loses nothing acked either). Message batches are written by a
//! thread of their own ([`super::sqlite_writer`]); edits and deletions by a sqlx connection the writer
//! task owns; reads by a small pool beside them; and a checkpointer of its own keeps every checkpoint out
//! of the commits ([`super::checkpoint`]). A database file only: an in-memory one would be a different
//! database on each connection.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::access::{ROOM_ACCESS_SQL, room_access_row};
use super::checkpoint::Checkpointer;
use super::point_reads::PointReads;
use super::settings::{Durability, StoreSettings};
use super::sqlite_writer::SqliteWriter;
use super::{
    Amendment, Backend, MessageRow, NewMessage, Outcome, ROW_COLUMNS, RoomSummary, StoreError,
    StoredMessage, to_i64, to_u64,
};
use crate::domain::RoomName;

/// Readers beside the writer; WAL lets them run while it commits.
const READERS: u32 = 4;
/// Connections for accounts, sessions and the admin.
const GENERAL: u32 = 2;

/// The SQLite schema, oldest first. Never edit a shipped migration: add a new one.
fn migrator() -> Migrator {
    super::migrator(&[
        (
            1,
            "rooms and messages",
            include_str!("../../migrations/sqlite/0001_rooms_and_messages.sql"),
        ),
        (
            2,
            "accounts",
            include_str!("../../migrations/sqlite/0002_accounts.sql"),
        ),
        (
            3,
            "live room",
            include_str!("../../migrations/sqlite/0003_live_room.sql"),
        ),
        (
            4,
            "moderation",
            include_str!("../../migrations/sqlite/0004_moderation.sql"),
        ),
        (
            6,
            "retention",
            include_str!("../../migrations/sqlite/0006_retention.sql"),
        ),
        (
            7,
            "client id sender",
            include_str!("../../migrations/sqlite/0007_client_id_sender.sql"),
        ),
        (
            8,
            "room access",
            include_str!("../../migrations/sqlite/0008_room_access.sql"),
        ),
        (
            9,
            "conversations",
            include_str!("../../migrations/sqlite/0009_conversations.sql"),
        ),
        (
            10,
            "search",
            include_str!("../../migrations/sqlite/0010_search.sql"),
        ),
        (
            11,
            "files",
            include_str!("../../migrations/sqlite/0011_files.sql"),
        ),
        (
            12,
            "search narrowing",
            include_str!("../../migrations/sqlite/0012_search_narrowing.sql"),
        ),
        (
            13,
            "search walks",
            include_str!("../../migrations/sqlite/0013_search_walks.sql"),
        ),
        (
            14,
            "bots and incoming hooks",
            include_str!("../../migrations/sqlite/0014_bots_and_incoming_hooks.sql"),
        ),
        (
            15,
            "outgoing hooks",
            include_str!("../../migrations/sqlite/0015_outgoing_hooks.sql"),
        ),
        (
            16,
            "push",
            include_str!("../../migrations/sqlite/0016_push.sql"),
        ),
        (
            17,
            "room occupancy",
            include_str!("../../migrations/sqlite/0017_room_occupancy.sql"),
        ),
    ])
}

/// A SQLite database file.
pub struct SqliteBackend {
    writer: SqlitePool,
    readers: SqlitePool,
    /// Read-write connections for accounts, sessions and the admin. Their rare writes wait on SQLite's
    /// lock (busy timeout) while the message writer commits.
    general: SqlitePool,
    /// Moves the WAL into the database file beside the commits.
    checkpointer: Checkpointer,
    /// Writes message batches on a thread of its own.
    appender: SqliteWriter,
    /// The access check's read, on the asking thread.
    points: PointReads,
}

fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5)))
}

/// Bytes a WAL file the checkpointer emptied shrinks back to when SQLite starts it over.
pub(super) const JOURNAL_SIZE_LIMIT: u64 = 16 * 1024 * 1024;

/// The options of the store's own connections: `settings`' durability, and no commit checkpoints.
fn store_options(url: &str, settings: &StoreSettings) -> Result<SqliteConnectOptions, StoreError> {
    let synchronous = match settings.durability {
        Durability::Process => SqliteSynchronous::Normal,
        Durability::Power => SqliteSynchronous::Full,
    };
    Ok(options(url)?
        .synchronous(synchronous)
        .pragma("wal_autocheckpoint", "0")
        .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string()))
}

impl SqliteBackend {
    /// Opens (creating if needed) and migrates the database at `url` with the default settings.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &StoreSettings::default()).await
    }

    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn connect_with(url: &str, settings: &StoreSettings) -> Result<Self, StoreError> {
        let options = store_options(url, settings)?;
        let file = options.get_filename().to_owned();
        if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
            // Each of the store's connections would see a database of its own.
            return Err(StoreError::InMemory);
        }
        // A file on this machine does not go away between queries: skip the ping sqlx would otherwise
        // send before every acquire (a round trip to its SQLite thread per batch and per read).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        migrator().run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options.clone().read_only(true))
            .await?;
        let general = SqlitePoolOptions::new()
            .max_connections(GENERAL)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let appender = SqliteWriter::open(&file, settings)?;
        // A RESTART that cannot get the writer's lock or the readers out soon gives up until the next
        // tick rather than hold commits back.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.busy_timeout(Duration::from_millis(200)))
            .await?;
        let checkpointer =
            Checkpointer::spawn(pool, settings.checkpoint_interval, settings.wal_max_bytes);
        Ok(Self {
            writer,
            readers,
            general,
            checkpointer,
            appender,
            points: PointReads::new(&file),
        })
    }

    /// Applies pending migrations to `url` and closes it; returns how many were applied.
    pub async fn migrate_only(url: &str) -> Result<usize, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options(url)?)
            .await?;
        let before: i64 = applied_count(&pool).await;
        migrator().run(&pool).await?;
        let after: i64 = applied_count(&pool).await;
        pool.close().await;
        Ok(usize::try_from(after - before).unwrap_or(0))
    }
}

async fn applied_count(pool: &SqlitePool) -> i64 {
    // Before the first migration the bookkeeping table does not exist: that is zero applied.
    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    async fn append(&self, batch: &[NewMessage], now_ms: i64) -> Result<Vec<Outcome>, StoreError> {
        self.appender.append(batch, now_ms).await
    }

    async fn amend(
        &self,
        amendment: &Amendment,
        now_ms: i64,
    ) -> Result<super::Appended, StoreError> {
        super::amend::amend(&super::Db::Sqlite(self.writer.clone()), amendment, now_ms).await
    }

    async fn recent(&self, room: &RoomName, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLUMNS} FROM messages m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = ? ORDER BY m.seq DESC LIMIT ?"
        )))
        .bind(room.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().rev().map(StoredMessage::from).collect())
    }

    async fn after(
        &self,
        room: &RoomName,
        since: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLUMNS} FROM messages m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = ? AND m.seq > ? ORDER BY m.seq LIMIT ?"
        )))
        .bind(room.as_str())
        .bind(to_i64(since))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(StoredMessage::from).collect())
    }

    async fn kept(&self, room: &RoomName) -> Result<(u64, u64), StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT first_kept, last_seq FROM rooms WHERE name = ?")
                .bind(room.as_str())
                .fetch_optional(&self.readers)
                .await?;
        Ok(row.map_or((1, 0), |(first, last)| (to_u64(first).max(1), to_u64(last))))
    }

    async fn last_seq(&self, room: &RoomName) -> Result<u64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE name = ?")
            .bind(room.as_str())
            .fetch_optional(&self.readers)
            .await?;
        Ok(seq.map_or(0, to_u64))
    }

    async fn rooms(&self, limit: u32) -> Result<Vec<RoomSummary>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT name, last_seq, updated_at FROM rooms WHERE last_seq > 0 \
             ORDER BY updated_at DESC, name LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, last_seq, updated_at_ms)| RoomSummary {
                name,
                messages: to_u64(last_seq),
                updated_at_ms,
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        self.appender.close().await;
        self.checkpointer.stop().await;
        self.general.close().await;
        self.readers.close().await;
        self.writer.close().await;
    }

    fn db(&self) -> super::Db {
        super::Db::Sqlite(self.general.clone())
    }

    async fn room_access(
        &self,
        room: &str,
        user_id: Option<i64>,
    ) -> Result<Option<super::RoomAccessRow>, StoreError> {
        let read = self.points.read(|connection| {
            use rusqlite::OptionalExtension;
            connection
                .prepare_cached(ROOM_ACCESS_SQL)?
                // By name: SQLite numbers `$N` parameters in the order they first appear.
                .query_row(
                    rusqlite::named_params! { "$1": room, "$2": user_id.unwrap_or(-1) },
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ))
                    },
                )
                .optional()
        });
        match read {
            Some(row) => Ok(row?.map(room_access_row)),
            // SQLite could not start the read without waiting: the pool waits instead.
            None => self.db().room_access(room, user_id).await,
        }
    }
}
