//! The SQLite message writer: one OS thread that owns the store's write connection (rusqlite, with cached
//! prepared statements) and writes each batch of messages in one transaction, start to commit, with one
//! hand-off from the writer task and one back. Through sqlx every statement was a round trip to its
//! SQLite worker thread, six or more per batch, and those hand-offs and wake-ups, not SQLite, set the pace
//! of the whole message path (issue 11: the server sat under one core while every message waited).
//!
//! It writes exactly what the sqlx path wrote (same tables, same planning in [`super::batch`]); errors come
//! back as `sqlx::Error::Database` carrying SQLite's extended result code, so refusals are told apart from
//! outages the same way on every path. Everything else of the SQLite store stays on sqlx.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::settings::{Durability, StoreSettings};
use super::{MessageRow, NewMessage, Outcome, StoreError, StoredMessage, batch, to_i64, to_u64};

/// How far behind a room's `updated_at` (its last activity, as the lobby shows it) may be.
const ACTIVITY_RESOLUTION_MS: i64 = 1000;

/// A batch to write and where its outcomes go.
struct Job {
    batch: Vec<NewMessage>,
    now_ms: i64,
    reply: oneshot::Sender<Result<Vec<Outcome>, StoreError>>,
}

/// The writer thread's handle; the thread ends when this is dropped (or [`SqliteWriter::close`]d).
pub struct SqliteWriter {
    jobs: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl SqliteWriter {
    /// Opens the write connection to the database file `path` (which must exist and be migrated) and
    /// starts the thread.
    pub fn open(path: &std::path::Path, settings: &StoreSettings) -> Result<Self, StoreError> {
        let connection = open(path, settings).map_err(engine)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("chatweb-sqlite-writer".into())
            .spawn(move || run(connection, queue))
            .map_err(|error| StoreError::from(sqlx::Error::Io(error)))?;
        Ok(Self {
            jobs: std::sync::Mutex::new(Some(jobs)),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Writes `batch` in one transaction; the outcomes come in batch order.
    pub async fn append(
        &self,
        batch: &[NewMessage],
        now_ms: i64,
    ) -> Result<Vec<Outcome>, StoreError> {
        let (reply, outcome) = oneshot::channel();
        // Cloning a message clones four shared strings: no allocation but the vector.
        let job = Job {
            batch: batch.to_vec(),
            now_ms,
            reply,
        };
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok()),
            Err(_) => false,
        };
        if !sent {
            return Err(StoreError::Closed);
        }
        outcome.await.map_err(|_| StoreError::Closed)?
    }

    /// Ends the thread once it has written what it was given, and closes its connection.
    pub async fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut thread| thread.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The write connection, set up like sqlx's (see `sqlite::store_options`).
fn open(path: &std::path::Path, settings: &StoreSettings) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_handler(Some(wait_for_lock))?;
    let synchronous = match settings.durability {
        Durability::Process => "NORMAL",
        Durability::Power => "FULL",
    };
    // The file is in WAL mode already (sqlx set it when it created and migrated it; it persists).
    connection.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {};",
        super::sqlite::JOURNAL_SIZE_LIMIT
    ))?;
    connection.set_prepared_statement_cache_capacity(16);
    Ok(connection)
}

/// How long the writer waits between two tries at a write lock another connection holds (a hook's
/// record, a moderation change: short transactions), and how many tries it makes (at least 5 s in all).
const LOCK_RETRY: Duration = Duration::from_micros(100);
const LOCK_TRIES: i32 = 50_000;

/// The writer's busy handler: SQLite's own (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25 ms... between
/// tries, so a writer that met another connection's short transaction slept for milliseconds after it
/// ended, and every send behind it waited (issue 21 measured fan-out with an outgoing hook swinging by 20%
/// from this). Here it tries again every [`LOCK_RETRY`].
fn wait_for_lock(tries: i32) -> bool {
    if tries >= LOCK_TRIES {
        return false;
    }
    std::thread::sleep(LOCK_RETRY);
    true
}

fn run(mut connection: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        let result = append(&mut connection, &job.batch, job.now_ms).map_err(engine);
        // The writer task may have gone (stopping): the batch is written either way.
        let _ = job.reply.send(result);
    }
    if let Err((_, error)) = connection.close() {
        tracing::warn!(%error, "closing the SQLite write connection");
    }
}

/// One batch in one transaction: the rooms' rows, the stored `client_id`s, the planned inserts, the rooms'
/// new last ids.
fn append(
    connection: &mut Connection,
    batch: &[NewMessage],
    now_ms: i64,
) -> rusqlite::Result<Vec<Outcome>> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let by_room = batch::by_room(batch);
    let mut outcomes = Vec::with_capacity(batch.len());
    {
        let mut room = tx
            .prepare_cached("SELECT id, last_seq, locked, updated_at FROM rooms WHERE name = ?1")?;
        let mut create = tx.prepare_cached(
            "INSERT INTO rooms (name, last_seq, updated_at) VALUES (?1, 0, ?2) RETURNING id",
        )?;
        let mut stored_one = tx.prepare_cached(&format!(
            "SELECT {} FROM messages AS m INDEXED BY messages_sender_client_id \
             WHERE m.room_id = ?1 AND m.sender_key = ?2 AND m.client_id = ?3",
            super::ROW_COLUMNS
        ))?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO messages (room_id, seq, author, body, client_id, sender_key, created_at, \
             author_id, reply_to, mentions, files, bot) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        let mut attach = tx.prepare_cached(
            "UPDATE files SET seq = ?1 WHERE id = ?2 AND room = ?3 AND seq IS NULL AND NOT gone",
        )?;
        let mut mention =
            tx.prepare_cached("INSERT INTO mentions (user_id, room_id, seq) VALUES (?1, ?2, ?3)")?;
        let mut head = tx.prepare_cached("UPDATE rooms SET last_seq = ?1 WHERE id = ?2")?;
        let mut active =
            tx.prepare_cached("UPDATE rooms SET last_seq = ?1, updated_at = ?2 WHERE id = ?3")?;
        for (&name, indexes) in &by_room {
            let found = room
                .query_row(params![name], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()?;
            let (room_id, last_seq, locked, updated_at): (i64, i64, bool, i64) = match found {
                Some(row) => row,
                None => (
                    create.query_row(params![name, now_ms], |row| row.get(0))?,
                    0,
                    false,
                    now_ms,
                ),
            };
            let mut stored: HashMap<batch::ClientKey, StoredMessage> = HashMap::new();
            for key @ (owner, client_id) in batch::client_keys(batch, indexes) {
                let mut rows = stored_one.query(params![room_id, owner, client_id])?;
                if let Some(row) = rows.next()? {
                    let found = MessageRow {
                        seq: row.get(0)?,
                        created_at: row.get(1)?,
                        author: row.get(2)?,
                        body: row.get(3)?,
                        guest: row.get(4)?,
                        kind: row.get(5)?,
                        target: row.get(6)?,
                        deleted: row.get(7)?,
                        edited: row.get(8)?,
                        reply_to: row.get(9)?,
                        mentions: row.get(10)?,
                        files: row.get(11)?,
                        bot: row.get(12)?,
                    };
                    stored.insert(key, StoredMessage::from(found));
                }
            }
            let plan = batch::plan_room(batch, indexes, (to_u64(last_seq), locked), stored, now_ms);
            for &(i, seq) in &plan.inserts {
                let m = &batch[i];
                let (owner, client_id) = batch::client_key(m).unzip();
                insert.execute(params![
                    room_id,
                    to_i64(seq),
                    m.author.as_str(),
                    m.body.as_str(),
                    client_id,
                    owner,
                    now_ms,
                    m.author_id,
                    m.reply_to.map(to_i64),
                    (!m.mentions.names.is_empty()).then_some(m.mentions.names.as_str()),
                    (!m.files.json.is_empty()).then_some(m.files.json.as_str()),
                    m.bot,
                ])?;
                for id in &m.files.ids {
                    attach.execute(params![to_i64(seq), id, name])?;
                }
                for &user_id in &m.mentions.ids {
                    mention.execute(params![user_id, room_id, to_i64(seq)])?;
                }
            }
            if !plan.inserts.is_empty() {
                // The room's last activity moves on at most once a second: rewriting its entry in
                // `rooms_updated_at` on every commit would add a page to the WAL per commit.
                if now_ms - updated_at >= ACTIVITY_RESOLUTION_MS {
                    active.execute(params![to_i64(plan.last_seq), now_ms, room_id])?;
                } else {
                    head.execute(params![to_i64(plan.last_seq), room_id])?;
                }
            }
            outcomes.extend(plan.outcomes);
        }
    }
    tx.commit()?;
    Ok(batch::in_batch_order(batch.len(), outcomes))
}

/// A rusqlite error as the store reports database errors: `sqlx::Error::Database` with SQLite's extended
/// result code, so [`batch::refuses_data`] reads it as it reads sqlx's own.
pub(super) fn engine(error: rusqlite::Error) -> StoreError {
    let (code, message) = match &error {
        rusqlite::Error::SqliteFailure(failure, message) => (
            failure.extended_code,
            message.clone().unwrap_or_else(|| failure.to_string()),
        ),
        rusqlite::Error::ToSqlConversionFailure(_) => (20, error.to_string()), // SQLITE_MISMATCH
        other => (1, other.to_string()),                                       // SQLITE_ERROR
    };
    StoreError::from(sqlx::Error::Database(Box::new(WriterError {
        code,
        message,
    })))
}

/// An error of the SQLite message writer, as sqlx reports database errors.
#[derive(Debug, thiserror::Error)]
#[error("{message} (SQLite code {code})")]
pub struct WriterError {
    /// SQLite's extended result code.
    pub code: i32,
    message: String,
}

impl sqlx::error::DatabaseError for WriterError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use sqlx::error::ErrorKind;
        // SQLite's extended codes: SQLITE_CONSTRAINT_UNIQUE / PRIMARYKEY, _FOREIGNKEY, _NOTNULL, _CHECK.
        match self.code {
            2067 | 1555 => ErrorKind::UniqueViolation,
            787 => ErrorKind::ForeignKeyViolation,
            1299 => ErrorKind::NotNullViolation,
            275 => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}
