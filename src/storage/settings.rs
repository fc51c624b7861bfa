//! How the store trades commit cost for durability, how the SQLite store keeps its write-ahead log
//! small without making any commit wait for it (`--durability`, `--checkpoint-ms`, `--wal-max-bytes`),
//! and how long a PostgreSQL store may make anything wait (`--store-timeout-ms`,
//! `--store-lock-timeout-ms`).

use std::time::Duration;

/// What an ack promises about a stored message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Acked = durable against a crash of the process (kill -9, a panic, OOM): SQLite's WAL with
    /// `synchronous=NORMAL`, whose commits do not wait for the disk. A power loss or kernel crash may
    /// lose the last commits before the next checkpoint.
    #[default]
    Process,
    /// Acked = durable against a power loss too: SQLite `synchronous=FULL`, one fsync of the WAL per
    /// commit (a group commit shares it between every message of the batch). PostgreSQL commits are
    /// flushed either way.
    Power,
}

/// The store's settings (durability and checkpoints for SQLite, timeouts for PostgreSQL).
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// What an ack promises.
    pub durability: Durability,
    /// How often a connection of its own moves committed pages from the WAL into the database file
    /// (a passive checkpoint: it never blocks a commit). Commits never checkpoint themselves.
    pub checkpoint_interval: Duration,
    /// The log's size at which the checkpointer starts it over: a RESTART checkpoint right after a passive
    /// one, which holds commits back for about a millisecond (without it the WAL of a busy store grows
    /// for ever).
    pub wal_max_bytes: u64,
    /// PostgreSQL: the longest a batch of sends may take to store, a statement may run and a transaction
    /// may sit idle on any of the node's connections (the server ends a session whose client vanished
    /// inside a transaction, so its room locks do not outlive it). A send whose batch took longer is
    /// answered `outcome_unknown`.
    pub timeout: Duration,
    /// PostgreSQL: the longest the writer waits for a room another connection holds before it stores
    /// the batch's other rooms without it (and answers that room's sends `store_unavailable`).
    pub lock_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            durability: Durability::Process,
            checkpoint_interval: Duration::from_millis(100),
            wal_max_bytes: 4 * 1024 * 1024,
            timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(1),
        }
    }
}
