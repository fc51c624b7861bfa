//! The indexer: a background task that brings the search index up to every room's last id, then waits
//! `--search-index-ms` and looks again. Each room is applied in batches from the index's own mark
//! (`search_marks`), each batch one transaction (on SQLite queued on the store writer behind the
//! messages, like retention), so a crash or a stop loses nothing: the next run starts from the mark.
//! Several nodes may run it at once: a batch applied twice changes nothing (storage/search.rs).
//!
//! It yields to the message path: while this node is taking a flood of messages (at least
//! [`BUSY_RATE`] a second since the last batch), each batch is followed by a pause [`BUSY_PAUSE`] times as long
//! as the batch took (at most [`MAX_PAUSE`]), so that indexing takes about a twentieth of the time (on
//! SQLite, of the store writer's time) and the acks do not wait behind it; on SQLite its batches are then
//! smaller ([`crate::storage::FLOOD_INDEX_BATCH`] rows), so that each holds the writer back for less long.
//! At a chat's usual rates it indexes without pause. Under a flood the index falls behind and catches up once the flood is over.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::stats::Stats;
use crate::storage::{Db, INDEX_BATCH, Store, StoreError};

/// Rooms looked at per pass over the rooms behind.
const ROOMS_PER_PASS: i64 = 200;
/// Under a flood, a batch that took `t` is followed by a pause of `BUSY_PAUSE * t`...
const BUSY_PAUSE: u32 = 19;
/// ... of at most this long (so the index still moves when batches are slow).
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// Messages a second this node receives that make a flood.
const BUSY_RATE: f64 = 2000.0;

/// Runs until `stop`: catches up, then again every `every`; `stats.search_indexed` wakes after each pass.
pub async fn run(store: Store, every: Duration, stats: Arc<Stats>, stop: CancellationToken) {
    loop {
        if let Err(error) = catch_up(&store, &stats, &stop).await {
            tracing::warn!(%error, "search indexing failed; it resumes from its mark");
        }
        stats.search_indexed.notify_waiters();
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
    tracing::debug!("search indexer stopped");
}

/// Brings the index up to every room's last id (as it was when each room was looked at), a batch at a
/// time through the store; returns the rooms it moved.
pub async fn catch_up(
    store: &Store,
    stats: &Stats,
    stop: &CancellationToken,
) -> Result<u64, StoreError> {
    let mut pace = Pace::new(stats);
    follow(&store.db(), Apply::Store(store), Some(&mut pace), stop).await
}

/// How the indexer yields to the message path: busy while messages keep arriving.
struct Pace<'a> {
    stats: &'a Stats,
    /// The node's received-messages count at the last batch, and when.
    received: u64,
    at: std::time::Instant,
    /// Messages came at a flood's rate when last looked at: batches are small.
    flood: bool,
}

impl<'a> Pace<'a> {
    fn new(stats: &'a Stats) -> Self {
        Self {
            stats,
            received: stats.messages_received.load(Ordering::Relaxed),
            at: std::time::Instant::now(),
            flood: false,
        }
    }

    /// After a batch that took `took`: pauses under a flood of messages (until `stop`).
    async fn after(&mut self, took: Duration, stop: &CancellationToken) {
        let (received, now) = (
            self.stats.messages_received.load(Ordering::Relaxed),
            std::time::Instant::now(),
        );
        let seconds = now.duration_since(self.at).as_secs_f64().max(1e-3);
        let busy = received.saturating_sub(self.received) as f64 / seconds >= BUSY_RATE;
        (self.received, self.at, self.flood) = (received, now, busy);
        if busy {
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep((took * BUSY_PAUSE).min(MAX_PAUSE)) => {}
            }
        }
    }
}

/// Builds the index again from the messages (`chatweb reindex`): forgets it, then follows every room from
/// its first id on `db`'s own connections. Returns the rooms indexed.
pub async fn reindex(db: &Db) -> Result<u64, StoreError> {
    db.clear_search().await?;
    let rooms = follow(db, Apply::Direct(db), None, &CancellationToken::new()).await?;
    db.analyze().await?;
    Ok(rooms)
}

/// How a batch is applied: through the store (the writer's queue on SQLite), or on a database's own
/// connections (no server running, or one that is only searched meanwhile).
enum Apply<'a> {
    Store(&'a Store),
    Direct(&'a Db),
}

impl Apply<'_> {
    /// Applies one batch (a small one under a `flood` of messages, on SQLite's writer).
    async fn batch(&self, room_id: i64, mark: u64, flood: bool) -> Result<u64, StoreError> {
        match self {
            Self::Store(store) => store.index_room(room_id, mark, flood).await,
            Self::Direct(db) => db.index_room(room_id, mark, INDEX_BATCH).await,
        }
    }
}

/// Applies every room that is behind, batch by batch.
async fn follow(
    db: &Db,
    apply: Apply<'_>,
    mut pace: Option<&mut Pace<'_>>,
    stop: &CancellationToken,
) -> Result<u64, StoreError> {
    let mut moved = 0;
    loop {
        let behind = db.search_behind(ROOMS_PER_PASS).await?;
        if behind.is_empty() || stop.is_cancelled() {
            return Ok(moved);
        }
        for room in behind {
            let mut mark = room.indexed;
            while mark < room.last_seq && !stop.is_cancelled() {
                let started = std::time::Instant::now();
                let flood = pace.as_deref().is_some_and(|p| p.flood);
                mark = apply.batch(room.room_id, mark, flood).await?;
                if let Some(pace) = pace.as_deref_mut() {
                    pace.after(started.elapsed(), stop).await;
                }
            }
            moved += 1;
        }
    }
}
