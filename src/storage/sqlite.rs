//! SQLite backend: WAL mode with `synchronous=NORMAL` (a process crash loses nothing committed), one writer
//! connection owned by the writer task and a small pool of readers beside it.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlSafeStr, SqlitePool};

use super::{Appended, Backend, NewMessage, RoomSummary, StoreError, StoredMessage};
use crate::domain::RoomName;

/// Readers beside the writer; WAL lets them run while it commits.
const READERS: u32 = 4;

/// The SQLite schema, oldest first. Never edit a shipped migration: add a new one.
fn migrator() -> Migrator {
    let migrations = [(
        1,
        "rooms and messages",
        include_str!("../../migrations/sqlite/0001_rooms_and_messages.sql"),
    )];
    Migrator::with_migrations(
        migrations
            .into_iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// A SQLite database file.
pub struct SqliteBackend {
    writer: SqlitePool,
    readers: SqlitePool,
}

fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5)))
}

impl SqliteBackend {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = options(url)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        migrator().run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, readers })
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

type Row = (i64, i64, String, String);

fn to_message((seq, ts_ms, author, body): Row) -> StoredMessage {
    StoredMessage {
        seq: u64::try_from(seq).unwrap_or(0),
        ts_ms,
        author,
        body,
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    async fn append(&self, batch: &[NewMessage], now_ms: i64) -> Result<Vec<Appended>, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut results = Vec::with_capacity(batch.len());
        for m in batch {
            if let Some(client_id) = &m.client_id {
                let seen: Option<Row> = sqlx::query_as(
                    "SELECT m.seq, m.created_at, m.author, m.body FROM messages m \
                     JOIN rooms r ON r.id = m.room_id WHERE r.name = ? AND m.client_id = ?",
                )
                .bind(m.room.as_str())
                .bind(&**client_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = seen {
                    results.push(Appended {
                        message: to_message(row),
                        duplicate: true,
                    });
                    continue;
                }
            }
            let (room_id, seq): (i64, i64) = sqlx::query_as(
                "INSERT INTO rooms (name, last_seq, updated_at) VALUES (?, 1, ?) \
                 ON CONFLICT (name) DO UPDATE SET last_seq = last_seq + 1, updated_at = excluded.updated_at \
                 RETURNING id, last_seq",
            )
            .bind(m.room.as_str())
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO messages (room_id, seq, author, body, client_id, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(room_id)
            .bind(seq)
            .bind(m.author.as_str())
            .bind(m.body.as_str())
            .bind(m.client_id.as_deref())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            results.push(Appended {
                message: StoredMessage {
                    seq: u64::try_from(seq).unwrap_or(0),
                    ts_ms: now_ms,
                    author: m.author.as_str().to_owned(),
                    body: m.body.as_str().to_owned(),
                },
                duplicate: false,
            });
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn recent(&self, room: &RoomName, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT m.seq, m.created_at, m.author, m.body FROM messages m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = ? ORDER BY m.seq DESC LIMIT ?",
        )
        .bind(room.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().rev().map(to_message).collect())
    }

    async fn after(
        &self,
        room: &RoomName,
        since: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT m.seq, m.created_at, m.author, m.body FROM messages m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = ? AND m.seq > ? ORDER BY m.seq LIMIT ?",
        )
        .bind(room.as_str())
        .bind(to_i64(since))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(to_message).collect())
    }

    async fn last_seq(&self, room: &RoomName) -> Result<u64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE name = ?")
            .bind(room.as_str())
            .fetch_optional(&self.readers)
            .await?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
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
                messages: u64::try_from(last_seq).unwrap_or(0),
                updated_at_ms,
            })
            .collect())
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}
