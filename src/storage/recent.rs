//! `RecentCache`: the newest messages of each room, kept in memory so that a join (the most frequent read)
//! costs no database round trip. Only a node whose writer is the database's only writer may use it (one
//! node, no Redis): then every commit passes through this node's writer, which keeps each cached room
//! exact. Entries are created by the writer itself (a `Load` between batches), so no commit can slip
//! between reading a room from the database and caching it. Evicting is always safe: a miss reloads.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::StoredMessage;
use crate::domain::RoomName;

/// Bookkeeping bytes counted per cached message beside its text.
const MESSAGE_OVERHEAD: usize = 64;

/// The newest messages of rooms, exact for every room it holds.
pub struct RecentCache {
    inner: Mutex<Inner>,
    /// Messages kept per room.
    depth: usize,
    /// Bytes the cache may hold before it evicts rooms.
    budget: usize,
}

struct Inner {
    rooms: HashMap<RoomName, VecDeque<StoredMessage>>,
    bytes: usize,
}

fn size(message: &StoredMessage) -> usize {
    message.author.len() + message.body.len() + MESSAGE_OVERHEAD
}

impl RecentCache {
    /// A cache of the newest `depth` messages per room, within about `budget` bytes.
    pub fn new(depth: usize, budget: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                rooms: HashMap::new(),
                bytes: 0,
            }),
            depth: depth.max(1),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves the map consistent; a panic elsewhere cannot break it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Messages kept per room.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The last `limit` messages of `room`, oldest first, if the room is cached.
    pub fn recent(&self, room: &RoomName, limit: usize) -> Option<Vec<StoredMessage>> {
        let inner = self.lock();
        let messages = inner.rooms.get(room)?;
        let skip = messages.len().saturating_sub(limit);
        Some(messages.iter().skip(skip).cloned().collect())
    }

    /// Up to `limit` messages of `room` after `since`, if the cache holds all of them.
    pub fn after(&self, room: &RoomName, since: u64, limit: usize) -> Option<Vec<StoredMessage>> {
        let inner = self.lock();
        let messages = inner.rooms.get(room)?;
        let covers = match messages.front() {
            Some(first) => first.seq <= since + 1,
            // A cached empty room: nothing after anything.
            None => true,
        };
        covers.then(|| {
            messages
                .iter()
                .filter(|m| m.seq > since)
                .take(limit)
                .cloned()
                .collect()
        })
    }

    /// Whether `room` is cached.
    pub fn contains(&self, room: &RoomName) -> bool {
        self.lock().rooms.contains_key(room)
    }

    /// Caches `room` as read from the database: its newest messages, oldest first. Called by the writer
    /// between batches, so nothing committed since the read is missing.
    pub fn install(&self, room: &RoomName, newest: &[StoredMessage]) {
        let mut inner = self.lock();
        let skip = newest.len().saturating_sub(self.depth);
        let messages: VecDeque<_> = newest.iter().skip(skip).cloned().collect();
        let added: usize = messages.iter().map(size).sum();
        if let Some(old) = inner.rooms.insert(room.clone(), messages) {
            inner.bytes -= old.iter().map(size).sum::<usize>();
        }
        inner.bytes += added;
        self.evict(&mut inner, room);
    }

    /// Appends messages just committed to `room` (in order), if the room is cached.
    pub fn committed(&self, room: &RoomName, message: &StoredMessage) {
        let mut inner = self.lock();
        let Some(messages) = inner.rooms.get_mut(room) else {
            return;
        };
        if messages
            .back()
            .is_some_and(|last| last.seq + 1 != message.seq)
        {
            // Not contiguous: this node is not the only writer after all. Forget the room.
            let removed: usize = messages.iter().map(size).sum();
            inner.rooms.remove(room);
            inner.bytes -= removed;
            return;
        }
        messages.push_back(message.clone());
        let mut change = size(message) as isize;
        while messages.len() > self.depth {
            if let Some(old) = messages.pop_front() {
                change -= size(&old) as isize;
            }
        }
        inner.bytes = inner.bytes.saturating_add_signed(change);
        self.evict(&mut inner, room);
    }

    /// Forgets `room` (its history changed in a way appending cannot follow); the next read reloads it.
    pub fn forget(&self, room: &RoomName) {
        let mut inner = self.lock();
        if let Some(old) = inner.rooms.remove(room) {
            inner.bytes -= old.iter().map(size).sum::<usize>();
        }
    }

    /// Drops rooms other than `keep` until the cache is within its budget.
    fn evict(&self, inner: &mut Inner, keep: &RoomName) {
        while inner.bytes > self.budget {
            let Some(victim) = inner.rooms.keys().find(|r| *r != keep).cloned() else {
                return;
            };
            let removed = inner
                .rooms
                .remove(&victim)
                .map_or(0, |m| m.iter().map(size).sum());
            inner.bytes -= removed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64) -> StoredMessage {
        StoredMessage {
            seq,
            ts_ms: 0,
            author: "a".into(),
            body: format!("m{seq}"),
            guest: true,
            kind: crate::storage::MessageKind::Message,
            edited: false,
        }
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).expect("room")
    }

    #[test]
    fn a_cached_room_follows_commits_and_keeps_its_depth() {
        let cache = RecentCache::new(3, 1 << 20);
        assert!(cache.recent(&room("r"), 3).is_none(), "unknown rooms miss");
        cache.install(&room("r"), &[message(1), message(2)]);
        for seq in 3..=5 {
            cache.committed(&room("r"), &message(seq));
        }
        let seqs = |v: Vec<StoredMessage>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs(cache.recent(&room("r"), 10).expect("hit")), [3, 4, 5]);
        assert_eq!(seqs(cache.recent(&room("r"), 2).expect("hit")), [4, 5]);
        assert_eq!(
            seqs(cache.after(&room("r"), 3, 10).expect("covered")),
            [4, 5]
        );
        assert!(
            cache.after(&room("r"), 1, 10).is_none(),
            "older than the cache: ask the store"
        );
        // Commits to rooms that are not cached are ignored; a gap forgets the room.
        cache.committed(&room("other"), &message(9));
        assert!(!cache.contains(&room("other")));
        cache.committed(&room("r"), &message(7));
        assert!(!cache.contains(&room("r")));
    }

    #[test]
    fn the_cache_stays_within_its_budget() {
        let cache = RecentCache::new(50, 10 * (MESSAGE_OVERHEAD + 3));
        for i in 0..20 {
            cache.install(&room(&format!("r{i}")), &[message(1)]);
        }
        let inner = cache.lock();
        assert!(inner.bytes <= 10 * (MESSAGE_OVERHEAD + 3));
        assert_eq!(
            inner.bytes,
            inner.rooms.values().flatten().map(size).sum::<usize>()
        );
    }
}
