//! Retention (issue 12): a background task that keeps history from growing for ever. It runs once at
//! start and then every `--retention-interval-secs`, goes through every room whose rule may remove
//! something (the admin's per-room setting wins over `--retention-days`, [`Keep`]), and removes the rows
//! older than the room's cutoff in batches of `--retention-batch`.
//!
//! Each batch is one short transaction queued on the store writer behind the message batches already
//! waiting (`Store::remove_expired`), so SQLite's single writer is never contended and the message path
//! never stalls; the task waits for each batch and yields before the next. What is kept stays one unbroken
//! range of ids and ids are never reused (src/storage/retention.rs). Clients resuming from before the cut
//! hear where the kept history begins (`truncated`, src/ws/consumer/delivery.rs).

mod policy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use policy::Keep;

use crate::domain::RoomName;
use crate::stats::Stats;
use crate::storage::{RetentionRoom, Store, StoreError, now_ms};

/// Rooms read per listing query.
const ROOMS_PER_PAGE: u32 = 500;

/// How retention runs (from the config).
#[derive(Clone, Copy, Debug)]
pub struct RetentionSettings {
    /// The server's rule (`--retention-days`; unset keeps everything).
    pub keep: Keep,
    /// Time between two runs.
    pub interval: Duration,
    /// Most rows removed per transaction.
    pub batch: u32,
}

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Rooms that lost rows.
    pub rooms: u64,
    /// Rows removed (messages and events).
    pub rows: u64,
}

/// Runs retention now and then every `settings.interval`, until `stop` is cancelled. Each completed run
/// logs a summary line and counts in `stats` (`chatweb_retention_runs_total`,
/// `chatweb_retention_rows_removed_total`).
pub async fn run(
    store: Store,
    settings: RetentionSettings,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    loop {
        let started = Instant::now();
        match run_once(&store, &settings, &stop).await {
            _ if stop.is_cancelled() => break,
            Ok(summary) => {
                tracing::info!(
                    rooms = summary.rooms,
                    rows = summary.rows,
                    elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "retention run done"
                );
                Stats::add(&stats.retention_rows_removed, summary.rows);
                Stats::add(&stats.retention_runs, 1);
                stats.retention_ran.notify_waiters();
            }
            Err(error) => {
                tracing::warn!(%error, "retention run failed; the next run tries again");
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(settings.interval) => {}
        }
    }
    tracing::debug!("retention stopped");
}

/// One pass over every room whose rule may remove something. Stops early (with what it did so far) once
/// `stop` is cancelled.
pub async fn run_once(
    store: &Store,
    settings: &RetentionSettings,
    stop: &CancellationToken,
) -> Result<RunSummary, StoreError> {
    let now = now_ms();
    let db = store.db();
    let default_applies = settings.keep != Keep::Everything;
    let mut summary = RunSummary::default();
    let mut after = 0;
    loop {
        let rooms = db
            .retention_rooms(after, ROOMS_PER_PAGE, default_applies)
            .await?;
        let Some(last) = rooms.last() else {
            return Ok(summary);
        };
        after = last.id;
        for room in &rooms {
            if stop.is_cancelled() {
                return Ok(summary);
            }
            let Some(cutoff) = settings.keep.for_room(room.days).cutoff(now) else {
                continue;
            };
            if room.oldest_ms.is_none_or(|oldest| oldest >= cutoff) {
                continue;
            }
            let rows = prune_room(store, room, cutoff, settings.batch, stop).await?;
            if rows > 0 {
                summary.rooms += 1;
                summary.rows += rows;
            }
        }
        if rooms.len() < ROOMS_PER_PAGE as usize {
            return Ok(summary);
        }
    }
}

/// Removes the rows of `room` written before `cutoff`, a batch at a time; returns how many.
async fn prune_room(
    store: &Store,
    room: &RetentionRoom,
    cutoff: i64,
    batch: u32,
    stop: &CancellationToken,
) -> Result<u64, StoreError> {
    let name = RoomName::parse(&room.name);
    let mut rows = 0;
    loop {
        let removed = store
            .remove_expired(room.id, name.clone(), cutoff, batch)
            .await?;
        rows += removed.rows;
        tracing::debug!(room = %room.name, removed = removed.rows, first_kept = removed.first_kept, "retention batch");
        if removed.done || stop.is_cancelled() {
            return Ok(rows);
        }
        // Let the message path and the other tasks of this thread run between two batches.
        tokio::task::yield_now().await;
    }
}
