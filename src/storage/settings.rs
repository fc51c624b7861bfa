//! How the store trades commit cost for durability, and how the SQLite store keeps its write-ahead log
//! small without making any commit wait for it (`--durability`, `--checkpoint-ms`, `--wal-max-bytes`).

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

/// The store's settings (SQLite only; PostgreSQL ignores them).
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// What an ack promises.
    pub durability: Durability,
    /// How often a connection of its own moves committed pages from the WAL into the database file
    /// (a passive checkpoint: it never blocks a commit). Commits never checkpoint themselves.
    pub checkpoint_interval: Duration,
    /// The WAL file's size at which the checkpointer stops being polite: it waits for readers and writers
    /// and truncates the log (a stall, counted and logged; it bounds the disk a busy store uses).
    pub wal_max_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            durability: Durability::Process,
            checkpoint_interval: Duration::from_millis(200),
            wal_max_bytes: 256 * 1024 * 1024,
        }
    }
}
