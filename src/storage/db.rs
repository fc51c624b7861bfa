//! `Db`: the database for everything beside the message path (accounts, sessions, tokens, the admin). Those
//! queries are written once, with `$1` placeholders that SQLite and PostgreSQL both accept, and run on the
//! pool the URL chose through [`on_db!`], whose arms are each compiled for their own driver. The message
//! path keeps its tuned per-backend SQL in `sqlite.rs` and `postgres.rs`.

use sqlx::{PgPool, SqlitePool};

/// A pool on the configured database.
#[derive(Clone, Debug)]
pub enum Db {
    /// A SQLite file (read-write connections beside the message writer).
    Sqlite(SqlitePool),
    /// A PostgreSQL database.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$db`; the body is compiled once per driver, so
/// the same SQL text and binds serve both.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::storage::Db::Sqlite($pool) => $body,
            $crate::storage::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

impl Db {
    /// The statement that opens a transaction that will write. SQLite's is `BEGIN IMMEDIATE`: a deferred
    /// transaction that read first and then writes fails at once (`SQLITE_BUSY_SNAPSHOT`, which no busy
    /// timeout waits out) when another connection wrote in between, as the pages and the admin may.
    pub(crate) fn begin_write(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "BEGIN IMMEDIATE",
            Self::Postgres(_) => "BEGIN",
        }
    }
}
