//! The SQLite checkpointer: a task with a connection of its own that moves committed pages from the WAL
//! into the database file, so that no commit on the message path ever runs a checkpoint (and its fsync)
//! itself. Every connection of the store opens with `wal_autocheckpoint=0`.
//!
//! Each tick runs a PASSIVE checkpoint, which copies what it can without waiting for any lock: commits and
//! reads carry on beside it, and SQLite starts the log over at the next commit once everything in it has
//! been copied. Only when the WAL file outgrows `wal_max_bytes` (readers kept it from starting over for a
//! long time) does it run a TRUNCATE checkpoint, which waits for readers and holds writers back while it
//! finishes: a stall, logged, in exchange for a bounded disk.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::SqlitePool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Copies what it can; waits for nobody.
const PASSIVE: &str = "PRAGMA wal_checkpoint(PASSIVE)";
/// Waits for readers and writers, copies everything and empties the WAL file.
const TRUNCATE: &str = "PRAGMA wal_checkpoint(TRUNCATE)";

/// The running checkpointer; [`Checkpointer::stop`] ends it.
pub struct Checkpointer {
    stop: CancellationToken,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts checkpointing the database of `pool` (whose file is `database`) every `interval`.
    pub fn spawn(pool: SqlitePool, database: PathBuf, interval: Duration, wal_max_bytes: u64) -> Self {
        let stop = CancellationToken::new();
        let mut wal = database.into_os_string();
        wal.push("-wal");
        let run = Run {
            pool,
            wal: PathBuf::from(wal),
            wal_max_bytes,
        };
        let task = tokio::spawn(run.run(interval.max(Duration::from_millis(1)), stop.clone()));
        Self {
            stop,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Ends the task and closes its connection (the last connection to close checkpoints what is left).
    pub async fn stop(&self) {
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Run {
    pool: SqlitePool,
    wal: PathBuf,
    wal_max_bytes: u64,
}

impl Run {
    async fn run(self, interval: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.checkpoint(PASSIVE).await {
                tracing::warn!(%error, "WAL checkpoint failed; retrying at the next tick");
                continue;
            }
            let size = std::fs::metadata(&self.wal).map_or(0, |m| m.len());
            if size > self.wal_max_bytes {
                let started = Instant::now();
                let outcome = self.checkpoint(TRUNCATE).await;
                tracing::warn!(
                    wal_bytes = size,
                    max = self.wal_max_bytes,
                    millis = started.elapsed().as_millis(),
                    ok = outcome.is_ok(),
                    "the WAL outgrew --wal-max-bytes: truncated it, holding writers back meanwhile"
                );
            }
        }
        self.pool.close().await;
    }

    /// Runs one checkpoint (`sql` is [`PASSIVE`] or [`TRUNCATE`]); returns the frames in the log and
    /// those copied.
    async fn checkpoint(&self, sql: &'static str) -> Result<(i64, i64), sqlx::Error> {
        let (_busy, log, copied): (i64, i64, i64) =
            sqlx::query_as(sql).fetch_one(&self.pool).await?;
        Ok((log, copied))
    }
}
