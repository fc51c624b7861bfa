//! The indexer: a background task that brings the search index up to every room's last id, then waits
//! `--search-index-ms` and looks again. Each room is applied in batches from the index's own mark
//! (`search_marks`), each batch one transaction (on SQLite queued on the store writer behind the
//! messages, like retention), so a crash or a stop loses nothing: the next run starts from the mark.
//! Several nodes may run it at once: a batch applied twice changes nothing (storage/search.rs).
//!
//! It yields to the message path: while this node is taking messages, each batch is followed by a pause
//! [`BUSY_PAUSE`] times as long as the batch took, so that indexing takes at most a twentieth of the time
//! (on SQLite, of the store writer's time) and the acks do not wait behind it. When the node is quiet it
//! indexes without pause. Under a flood the index falls behind and catches up once the flood is over.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::stats::Stats;
use crate::storage::{Db, INDEX_BATCH, Store, StoreError};

/// Rooms looked at per pass over the rooms behind.
const ROOMS_PER_PASS: i64 = 200;
/// While messages arrive, a batch that took `t` is followed by a pause of `BUSY_PAUSE * t`.
const BUSY_PAUSE: u32 = 19;

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
    received: u64,
}

impl<'a> Pace<'a> {
    fn new(stats: &'a Stats) -> Self {
        Self {
            stats,
            received: stats.messages_received.load(Ordering::Relaxed),
        }
    }

    /// After a batch that took `took`: pauses while messages arrive (until `stop`).
    async fn after(&mut self, took: Duration, stop: &CancellationToken) {
        let received = self.stats.messages_received.load(Ordering::Relaxed);
        let busy = received != self.received;
        self.received = received;
        if busy {
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(took * BUSY_PAUSE) => {}
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
    async fn batch(&self, room_id: i64, mark: u64) -> Result<u64, StoreError> {
        match self {
            Self::Store(store) => store.index_room(room_id, mark).await,
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
                mark = apply.batch(room.room_id, mark).await?;
                if let Some(pace) = pace.as_deref_mut() {
                    pace.after(started.elapsed(), stop).await;
                }
            }
            moved += 1;
        }
    }
}
