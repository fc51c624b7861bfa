//! The SQLite checkpointer: a task with a connection of its own that moves committed pages from the WAL
//! into the database file, so that no commit on the message path ever runs a checkpoint (and its fsyncs)
//! itself. Every connection of the store opens with `wal_autocheckpoint=0`.
//!
//! Each tick runs a PASSIVE checkpoint, which copies what it can without waiting for any lock: commits and
//! reads carry on beside it. But SQLite only starts the log over when a checkpoint has copied all of it and
//! no commit came in between, which under a steady stream of commits never happens: the WAL would grow for
//! ever. So once the log holds more than `wal_max_bytes`, the pass is followed at once by a RESTART
//! checkpoint, which holds commits back while it copies the few frames the passive pass could not (those
//! committed while it ran) and syncs, and makes the next commit start the log over. Measured on the
//! development machine, that pause is about a millisecond where the commit-time checkpoints it replaces
//! stalled sends for about ten (docs/PERFORMANCE.md).
//!
use std::time::{Duration, Instant};

use sqlx::SqlitePool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Copies what it can; waits for nobody.
const PASSIVE: &str = "PRAGMA wal_checkpoint(PASSIVE)";
/// Holds writers back, copies everything, waits for readers to leave the log: the next commit starts it
/// over.
const RESTART: &str = "PRAGMA wal_checkpoint(RESTART)";
/// Bytes one WAL frame takes (a 4 KiB page and its 24-byte header).
const FRAME_BYTES: u64 = 4096 + 24;

/// The running checkpointer; [`Checkpointer::stop`] ends it.
pub struct Checkpointer {
    stop: CancellationToken,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts checkpointing the database of `pool` (whose file is `database`) every `interval`.
    pub fn spawn(pool: SqlitePool, interval: Duration, wal_max_bytes: u64) -> Self {
        let stop = CancellationToken::new();
        let run = Run {
            pool,
            max_frames: (wal_max_bytes / FRAME_BYTES).max(1),
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
    /// Frames the log may hold before it is started over.
    max_frames: u64,
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
            let log = match self.checkpoint(PASSIVE).await {
                Ok((log, _copied)) => log,
                Err(error) => {
                    tracing::warn!(%error, "WAL checkpoint failed; retrying at the next tick");
                    continue;
                }
            };
            if u64::try_from(log).unwrap_or(0) > self.max_frames {
                let started = Instant::now();
                match self.checkpoint(RESTART).await {
                    Ok(_) => tracing::debug!(
                        frames = log,
                        micros = started.elapsed().as_micros(),
                        "WAL started over"
                    ),
                    // Busy: a long read kept it from finishing; the next tick tries again.
                    Err(error) => tracing::debug!(%error, "WAL restart postponed"),
                }
            }
        }
        self.pool.close().await;
    }

    /// Runs one checkpoint (`sql` is [`PASSIVE`] or [`RESTART`]); returns the frames in the log and
    /// those copied.
    async fn checkpoint(&self, sql: &'static str) -> Result<(i64, i64), sqlx::Error> {
        let (_busy, log, copied): (i64, i64, i64) =
            sqlx::query_as(sql).fetch_one(&self.pool).await?;
        Ok((log, copied))
    }
}
