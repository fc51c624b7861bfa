//! SQLite backend: WAL mode with `synchronous=NORMAL` (a process crash loses nothing committed; `FULL` with
//! `--durability power`, so a power loss loses nothing acked either), one writer connection owned by the
//! writer task, a small pool of readers beside it, and a checkpointer of its own so that no commit runs a
//! checkpoint ([`super::checkpoint`]).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::checkpoint::Checkpointer;
use super::settings::{Durability, StoreSettings};
use super::sqlite_writer::SqliteWriter;
use super::{
    Amendment, Backend, NewMessage, Outcome, ROW_COLUMNS, RoomSummary, Row, StoreError,
    StoredMessage, batch, to_i64, to_message, to_u64,
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
    ])
}

/// Rows per multi-row statement: 6 parameters each stays far below SQLite's 32,766-parameter limit.
const ROWS_PER_STATEMENT: usize = 500;

/// A room's row: id, last sequence number, locked.
type RoomRow = (i64, u64, bool);

/// Creates the batch's rooms that do not exist yet and reads every room's id and `last_seq`.
async fn room_rows<'b>(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    rooms: impl ExactSizeIterator<Item = &'b str>,
    now_ms: i64,
) -> Result<HashMap<String, RoomRow>, StoreError> {
    let names: Vec<&str> = rooms.collect();
    let mut rows = HashMap::with_capacity(names.len());
    for chunk in names.chunks(ROWS_PER_STATEMENT) {
        let mut upsert =
            QueryBuilder::<Sqlite>::new("INSERT INTO rooms (name, last_seq, updated_at) ");
        upsert.push_values(chunk, |mut row, name| {
            row.push_bind(*name).push_bind(0_i64).push_bind(now_ms);
        });
        // The no-op update makes RETURNING report rooms that already existed too.
        upsert.push(
            " ON CONFLICT (name) DO UPDATE SET updated_at = rooms.updated_at \
             RETURNING name, id, last_seq, locked",
        );
        let returned: Vec<(String, i64, i64, bool)> =
            upsert.build_query_as().fetch_all(&mut **tx).await?;
        for (name, id, last_seq, locked) in returned {
            rows.insert(name, (id, to_u64(last_seq), locked));
        }
    }
    Ok(rows)
}

/// The stored messages among `keys` (room id, client id), by key.
async fn stored_by_client_id(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    keys: &[(i64, &str)],
) -> Result<HashMap<(i64, String), StoredMessage>, StoreError> {
    let mut stored = HashMap::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut select = QueryBuilder::<Sqlite>::new(format!(
            "SELECT m.room_id, m.client_id, {ROW_COLUMNS} FROM ("
        ));
        select.push_values(chunk, |mut key, &(room_id, client_id)| {
            key.push_bind(room_id).push_bind(client_id);
        });
        // Without statistics the planner would rather walk the room's primary key.
        select.push(
            ") AS k JOIN messages AS m INDEXED BY messages_client_id \
             ON m.room_id = k.column1 AND m.client_id = k.column2",
        );
        let rows: Vec<super::KeyedRow> = select.build_query_as().fetch_all(&mut **tx).await?;
        stored.extend(rows.into_iter().map(super::keyed));
    }
    Ok(stored)
}

/// A SQLite database file.
pub struct SqliteBackend {
    writer: SqlitePool,
    readers: SqlitePool,
    /// Read-write connections for accounts, sessions and the admin. Their rare writes wait on SQLite's
    /// lock (busy timeout) while the message writer commits.
    general: SqlitePool,
    /// Moves the WAL into the database file beside the commits (none for an in-memory database).
    checkpointer: Option<Checkpointer>,
    /// Writes message batches on a thread of its own (none for an in-memory database, which only the
    /// `writer` pool's connection sees).
    appender: Option<SqliteWriter>,
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
        let file = options.get_filename().to_owned();
        let in_memory = file.as_os_str().is_empty() || file.as_os_str() == ":memory:";
        let appender = if in_memory {
            None
        } else {
            Some(SqliteWriter::open(&file, settings)?)
        };
        let checkpointer = if in_memory {
            None
        } else {
            // A RESTART that cannot get the writer's lock or the readers out soon gives up until the
            // next tick rather than hold commits back.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(options.busy_timeout(Duration::from_millis(200)))
                .await?;
            Some(Checkpointer::spawn(
                pool,
                settings.checkpoint_interval,
                settings.wal_max_bytes,
            ))
        };
        Ok(Self {
            writer,
            readers,
            general,
            checkpointer,
            appender,
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
        if let Some(appender) = &self.appender {
            return appender.append(batch, now_ms).await;
        }
        // An in-memory database: through sqlx's connection, which alone sees it.
        // A handful of statements per batch, however many rooms and messages it holds: each statement
        // is a round trip to sqlx's SQLite thread.
        let mut tx = self.writer.begin().await?;
        let by_room = batch::by_room(batch);
        let rooms = room_rows(&mut tx, by_room.keys().copied(), now_ms).await?;
        let room_of = |name: &str| {
            let row = rooms.get(name).copied();
            row.ok_or_else(|| StoreError::from(sqlx::Error::RowNotFound))
        };
        let mut keys = Vec::new();
        for (&name, indexes) in &by_room {
            let (room_id, _, _) = room_of(name)?;
            keys.extend(
                batch::client_ids(batch, indexes)
                    .into_iter()
                    .map(|id| (room_id, id)),
            );
        }
        let mut stored = stored_by_client_id(&mut tx, &keys).await?;

        let mut outcomes = Vec::with_capacity(batch.len());
        let mut inserts: Vec<(i64, usize, u64)> = Vec::with_capacity(batch.len());
        let mut heads: Vec<(i64, i64)> = Vec::with_capacity(by_room.len());
        for (&name, indexes) in &by_room {
            let (room_id, last_seq, locked) = room_of(name)?;
            let room_stored = batch::client_ids(batch, indexes)
                .into_iter()
                .filter_map(|id| Some((id.to_owned(), stored.remove(&(room_id, id.to_owned()))?)))
                .collect();
            let plan = batch::plan_room(batch, indexes, (last_seq, locked), room_stored, now_ms);
            if !plan.inserts.is_empty() {
                heads.push((room_id, to_i64(plan.last_seq)));
            }
            inserts.extend(plan.inserts.into_iter().map(|(i, seq)| (room_id, i, seq)));
            outcomes.extend(plan.outcomes);
        }

        for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO messages (room_id, seq, author, body, client_id, created_at, author_id) ",
            );
            insert.push_values(chunk, |mut row, &(room_id, i, seq)| {
                let m = &batch[i];
                row.push_bind(room_id)
                    .push_bind(to_i64(seq))
                    .push_bind(m.author.as_str())
                    .push_bind(m.body.as_str())
                    .push_bind(m.client_id.as_deref())
                    .push_bind(now_ms)
                    .push_bind(m.author_id);
            });
            insert.build().execute(&mut *tx).await?;
        }
        for chunk in heads.chunks(ROWS_PER_STATEMENT) {
            let mut update =
                QueryBuilder::<Sqlite>::new("UPDATE rooms SET last_seq = h.column2, updated_at = ");
            update.push_bind(now_ms).push(" FROM (");
            update.push_values(chunk, |mut row, &(room_id, last_seq)| {
                row.push_bind(room_id).push_bind(last_seq);
            });
            update.push(") AS h WHERE rooms.id = h.column1");
            update.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(batch::in_batch_order(batch.len(), outcomes))
    }

    async fn amend(
        &self,
        amendment: &Amendment,
        now_ms: i64,
    ) -> Result<super::Appended, StoreError> {
        super::amend::amend(&super::Db::Sqlite(self.writer.clone()), amendment, now_ms).await
    }

    async fn recent(&self, room: &RoomName, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLUMNS} FROM messages m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = ? ORDER BY m.seq DESC LIMIT ?"
        )))
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
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ROW_COLUMNS} FROM messages m \
             JOIN rooms r ON r.id = m.room_id WHERE r.name = ? AND m.seq > ? ORDER BY m.seq LIMIT ?"
        )))
        .bind(room.as_str())
        .bind(to_i64(since))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(to_message).collect())
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
        if let Some(appender) = &self.appender {
            appender.close().await;
        }
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop().await;
        }
        self.general.close().await;
        self.readers.close().await;
        self.writer.close().await;
    }

    fn db(&self) -> super::Db {
        super::Db::Sqlite(self.general.clone())
    }
}
