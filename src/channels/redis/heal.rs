//! The heads check: every `--redis-heal-ms` (2 s) the node reads the stored head of every room it serves, in
//! one query per 500 rooms, and compares it with the newest event each room's live buffer carried. A room
//! whose buffer is still behind the head read one check earlier lost its tail on the way (a PUBLISH that
//! never came: an outbox that overflowed, a node that crashed between commit and PUBLISH, a reconnect):
//! the node injects the stored head into the room, its members see the gap and catch up from the store.
//! So a lost tail heals within two periods, and a busy room (whose events arrive long before the next
//! check) costs one query and no catch-up.
//!
//! After every Redis (re)connect the subscriber asks for a resync: the same check without waiting a
//! period, for everything that happened while this node was not subscribed. Both run on this task, never
//! on the subscriber's, so a slow store never holds up a join or the pub/sub stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::channels::{HeadSource, MemoryLayer};
use crate::domain::RoomName;

/// Checks the heads of the rooms this node serves.
pub(super) struct Healer {
    pub(super) local: Arc<MemoryLayer>,
    pub(super) heads: Arc<dyn HeadSource>,
    pub(super) every: Duration,
    /// Notified by the subscriber after every (re)connect.
    pub(super) resync: Arc<Notify>,
}

impl Healer {
    pub(super) async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick.reset();
        // Each served room's stored head at the previous check.
        let mut previous: HashMap<RoomName, u64> = HashMap::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    let (heads, healed) = self.check(Some(&previous)).await;
                    if healed > 0 {
                        tracing::info!(
                            rooms = healed,
                            "healed rooms whose newest messages never came through redis"
                        );
                    }
                    previous = heads;
                }
                () = self.resync.notified() => {
                    let (_, healed) = self.check(None).await;
                    if healed > 0 {
                        tracing::info!(rooms = healed, "resynced rooms after connecting to redis");
                    }
                }
            }
        }
    }

    /// Injects the stored head into every served room whose live buffer is behind `previous` (the heads of
    /// the last check), or behind the head now when there is no previous check to wait for. Returns the
    /// heads read now and how many rooms were healed.
    async fn check(
        &self,
        previous: Option<&HashMap<RoomName, u64>>,
    ) -> (HashMap<RoomName, u64>, usize) {
        let served: Vec<RoomName> = self
            .local
            .served()
            .into_iter()
            .map(|(room, _)| room)
            .collect();
        if served.is_empty() {
            return (HashMap::new(), 0);
        }
        let Some(heads) = self.heads.last_seqs(&served).await else {
            // The store cannot be read now: try again at the next period with what was known.
            return (previous.cloned().unwrap_or_default(), 0);
        };
        let mut healed = 0;
        for room in &served {
            let due = match previous {
                Some(previous) => previous.get(room).copied().unwrap_or(0),
                None => heads.get(room).copied().unwrap_or(0),
            };
            // Read now, after the query: whatever arrived meanwhile counts.
            if due > self.local.newest_seq(room)
                && let Some(event) = self.heads.head(room).await
            {
                tracing::debug!(%room, seq = event.seq, "injecting the stored head of a room behind it");
                self.local.send_local(room, event);
                healed += 1;
            }
        }
        (heads, healed)
    }
}
