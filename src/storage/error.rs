//! `StoreError`: why a store operation failed, in terms a caller can act on (retry, refuse this one
//! message, tell the person), and `Outcome`, what one message of a batch came to.

use std::sync::Arc;

use super::Appended;

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
    /// Another database connection holds the room (past the writer's lock timeout): the message was not
    /// stored; the rest of its batch was.
    #[error("the room is held by another database connection")]
    RoomBusy,
    /// The store did not finish in time: the message may or may not be stored.
    #[error("the store did not answer within {0:?}")]
    TimedOut(std::time::Duration),
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
    /// The message already has reactions of as many distinct emoji as it may.
    #[error("a message takes reactions of at most {0} distinct emoji")]
    TooManyReactions(usize),
    /// The room already has as many pins as it may.
    #[error("a room holds at most {0} pins")]
    TooManyPins(usize),
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
