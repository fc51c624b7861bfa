//! Point reads on SQLite, run on the asking thread: a handful of read-only connections (`rusqlite`) for
//! the indexed lookups every handshake makes (the one access check, issue 18), which touch a few pages
//! the OS holds in memory and take microseconds. Through sqlx the same lookup is a round trip to its
//! worker thread (a channel and a futex wake each way, and the pool's own messages): issue 22 measured it
//! at a fifth of the node's CPU on connection churn.
//!
//! A point read never waits: its connections have no busy timeout, so when SQLite cannot start the read at
//! once (the WAL being reset, a recovery) [`PointReads::read`] answers `None` and the caller asks the usual
//! pool instead. The answer is the same either way: every read sees the last commit, as before.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::StoreError;

/// Connections kept for reuse; a read that finds none free opens another (and keeps it when there is
/// room). Each tokio worker thread holds at most one at a time.
const KEPT: usize = 8;

/// Statements cached per connection.
const STATEMENTS: usize = 16;

/// Read-only connections to one SQLite file, for reads on the caller's thread.
pub struct PointReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl PointReads {
    /// Reads of the database file at `path` (opened lazily, read-only).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on a connection of its own; `None` when SQLite could not start it without waiting (the
    /// caller then reads through the pool).
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<Result<T, StoreError>> {
        let connection = match self.take() {
            Ok(connection) => connection,
            Err(error) => return busy_or(error),
        };
        let answer = read(&connection);
        self.give_back(connection);
        match answer {
            Ok(value) => Some(Ok(value)),
            Err(error) => busy_or(error),
        }
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        if let Some(connection) = self.lock().pop() {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        // Never wait: a busy database sends the read to the pool instead.
        connection.busy_timeout(std::time::Duration::ZERO)?;
        connection.set_prepared_statement_cache_capacity(STATEMENTS);
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.lock();
        if idle.len() < KEPT {
            idle.push(connection);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // The list is valid whatever a panicking holder was doing.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `None` for "SQLite is busy, ask the pool", else the error.
fn busy_or<T>(error: rusqlite::Error) -> Option<Result<T, StoreError>> {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => None,
        _ => Some(Err(super::sqlite_writer::engine(error))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database file of the test's own, removed with it.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("chatweb-point-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a temp dir");
            Self(dir)
        }

        fn path(&self) -> PathBuf {
            self.0.join("db.sqlite3")
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_see_what_another_connection_committed_and_reuse_their_connection() {
        let dir = TempDb::new("commit");
        let path = dir.path();
        let writer = Connection::open(&path).expect("open");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER); \
                 INSERT INTO t VALUES ('a', 1);",
            )
            .expect("schema");
        let reads = PointReads::new(&path);
        let get = |reads: &PointReads| {
            reads
                .read(|c| {
                    c.prepare_cached("SELECT v FROM t WHERE k = ?1")?
                        .query_row(["a"], |row| row.get::<_, i64>(0))
                })
                .expect("not busy")
                .expect("a row")
        };
        assert_eq!(get(&reads), 1);
        writer.execute("UPDATE t SET v = 2", []).expect("update");
        assert_eq!(get(&reads), 2, "the next read sees the commit");
        assert_eq!(reads.lock().len(), 1, "one connection, reused");
    }

    #[test]
    fn a_failed_read_is_an_error_not_a_fallback() {
        let dir = TempDb::new("error");
        let path = dir.path();
        Connection::open(&path)
            .expect("open")
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT);")
            .expect("schema");
        let reads = PointReads::new(&path);
        let answer =
            reads.read(|c| c.query_row("SELECT nope FROM t", [], |row| row.get::<_, i64>(0)));
        assert!(
            matches!(answer, Some(Err(StoreError::Database(_)))),
            "{answer:?}"
        );
    }
}
