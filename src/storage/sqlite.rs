//! SQLite backend: WAL mode with `synchronous=NORMAL` (a process crash loses nothing committed), one writer
//! connection owned by the writer task and a small pool of readers beside it.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::{
    Appended, Backend, NewMessage, RoomSummary, Row, StoreError, StoredMessage, batch, to_i64,
    to_message, to_u64,
};
use crate::domain::RoomName;

/// Readers beside the writer; WAL lets them run while it commits.
const READERS: u32 = 4;

/// The SQLite schema, oldest first. Never edit a shipped migration: add a new one.
fn migrator() -> Migrator {
    super::migrator(&[(
        1,
        "rooms and messages",
        include_str!("../../migrations/sqlite/0001_rooms_and_messages.sql"),
    )])
}

/// Rows per multi-row statement: 6 parameters each stays far below SQLite's 32,766-parameter limit.
const ROWS_PER_STATEMENT: usize = 500;

/// The stored messages of `room_id` whose `client_id` is among `client_ids`, by client id.
async fn stored_by_client_id(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    room_id: i64,
    client_ids: &[&str],
) -> Result<HashMap<String, StoredMessage>, StoreError> {
    let mut stored = HashMap::new();
    for chunk in client_ids.chunks(ROWS_PER_STATEMENT) {
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT client_id, seq, created_at, author, body FROM messages WHERE room_id = ",
        );
        select.push_bind(room_id).push(" AND client_id IN (");
        let mut list = select.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        select.push(")");
        let rows: Vec<(String, i64, i64, String, String)> =
            select.build_query_as().fetch_all(&mut **tx).await?;
        for (client_id, seq, ts, author, body) in rows {
            stored.insert(client_id, to_message((seq, ts, author, body)));
        }
    }
    Ok(stored)
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

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    async fn append(&self, batch: &[NewMessage], now_ms: i64) -> Result<Vec<Appended>, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (room, indexes) in batch::by_room(batch) {
            // The upsert returns the room's row whether it existed or not.
            let (room_id, last_seq): (i64, i64) = sqlx::query_as(
                "INSERT INTO rooms (name, last_seq, updated_at) VALUES (?, 0, ?) \
                 ON CONFLICT (name) DO UPDATE SET updated_at = rooms.updated_at RETURNING id, last_seq",
            )
            .bind(room)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
            let client_ids = batch::client_ids(batch, &indexes);
            let stored = stored_by_client_id(&mut tx, room_id, &client_ids).await?;
            let plan = batch::plan_room(batch, &indexes, to_u64(last_seq), stored, now_ms);
            // Multi-row inserts: one statement per few hundred messages, not one per message.
            for chunk in plan.inserts.chunks(ROWS_PER_STATEMENT) {
                let mut insert = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO messages (room_id, seq, author, body, client_id, created_at) ",
                );
                insert.push_values(chunk, |mut row, &(i, seq)| {
                    let m = &batch[i];
                    row.push_bind(room_id)
                        .push_bind(to_i64(seq))
                        .push_bind(m.author.as_str())
                        .push_bind(m.body.as_str())
                        .push_bind(m.client_id.as_deref())
                        .push_bind(now_ms);
                });
                insert.build().execute(&mut *tx).await?;
            }
            if !plan.inserts.is_empty() {
                sqlx::query("UPDATE rooms SET last_seq = ?, updated_at = ? WHERE id = ?")
                    .bind(to_i64(plan.last_seq))
                    .bind(now_ms)
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
            }
            outcomes.extend(plan.outcomes);
        }
        tx.commit().await?;
        Ok(batch::in_batch_order(batch.len(), outcomes))
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
        self.readers.close().await;
        self.writer.close().await;
    }
}
