//! Moderation on every node: each node polls the moderation log once a second and applies what any node
//! wrote (reloading the rooms named, closing the sockets of a ban or a kick), as `accounts::revocation`
//! does for credentials. It needs nothing but the shared database, with or without Redis.
//!
//! A PostgreSQL sequence hands out ids before their transactions commit, so an entry can become visible
//! after a later one was read: each poll also re-reads the last [`WINDOW`] of entries by time and applies
//! the ones it has not seen.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Moderation;
use crate::domain::RoomName;
use crate::storage::now_ms;

/// How often each node reads the log.
const POLL: Duration = Duration::from_secs(1);
/// Entries this recent are read again on every poll (commit order and clock skew between nodes).
const WINDOW: Duration = Duration::from_secs(10);
/// How often ended mutes and bans and old log entries are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long log entries are kept.
const LOG_KEEP_MS: i64 = 24 * 3600 * 1000;

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Applies every moderation change logged by any node after position `last`, polling until `stop`; now
/// and then deletes what ended.
pub async fn watch_log(moderation: Moderation, mut last: i64, stop: CancellationToken) {
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Entries applied within the window, by id (with their time, to forget them after).
    let mut seen: HashMap<i64, i64> = HashMap::new();
    // Rooms whose reload failed: tried again on the next poll.
    let mut retry: HashSet<RoomName> = HashSet::new();
    let mut purged = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = poll.tick() => {}
        }
        let now = now_ms();
        let window_start = now - ms(WINDOW);
        match moderation.db().moderation_events(last, window_start).await {
            Ok(events) => {
                let fresh: Vec<_> = events
                    .into_iter()
                    .filter(|e| seen.insert(e.id, e.at).is_none())
                    .collect();
                last = fresh.iter().map(|e| e.id).fold(last, i64::max);
                for room in std::mem::take(&mut retry) {
                    if let Err(error) = moderation.refresh(&room).await {
                        tracing::warn!(%error, %room, "cannot reload the room's moderation");
                        retry.insert(room);
                    }
                }
                retry.extend(moderation.apply(&fresh).await);
                seen.retain(|_, &mut at| at >= window_start - ms(WINDOW));
            }
            Err(error) => tracing::warn!(%error, "cannot read the moderation log"),
        }
        if purged.elapsed() >= PURGE_EVERY {
            purged = tokio::time::Instant::now();
            moderation.prune(now);
            if let Err(error) = moderation
                .db()
                .purge_moderation(now, now - LOG_KEEP_MS)
                .await
            {
                tracing::warn!(%error, "cannot delete ended mutes and bans");
            }
        }
    }
}
