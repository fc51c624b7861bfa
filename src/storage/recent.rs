//! `RecentCache`: the newest messages of each room, kept in memory so that a join (the most frequent read)
//! costs no database round trip. Only a node whose writer is the database's only writer may use it (one
//! node, no Redis): then every commit passes through this node's writer, which keeps each cached room
//! exact.
//!
//! Bounded in bytes: a room costs [`ROOM_OVERHEAD`] plus its name plus its messages, and the least recently
//! used rooms go first when the budget is exceeded. Rooms without messages are never cached (a miss
//! answers "empty" from the database), so room names typed at random leave nothing here.
//!
//! Misses are read by the caller from the read pool, never by the writer. A read opens a [`Load`] first;
//! the commits to the room while a load of it is open are kept with it and added to what it read when it
//! installs (a forget, or a gap in the ids, makes it install nothing). So no commit can be missing from an
//! installed room: it reached the cache before the load opened (then the read has it), while it was open
//! (then the load adds it) or after the install (then it is appended to the entry). Evicting is always
//! safe: a miss reloads.
//!
//! A join writes the same frames for a room's newest messages to every socket that joins it: each cached
//! message keeps its history frame once one join has rendered it ([`RecentCache::recent_frames`]), counted in
//! the budget like its text, and gone with the message (issue 22: rendering 50 frames per join was a tenth
//! of the node's CPU on connection churn). A cached message never changes (an edit or a deletion forgets
//! the room), so a rendered frame stays right for as long as it is kept.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::StoredMessage;
use crate::domain::RoomName;
use crate::stats::Stats;

/// What the allocator adds to each allocation (header and rounding), counted per string.
const ALLOC_OVERHEAD: usize = 16;
/// Bytes counted per cached room beside its name and messages: its map slot, its node in the use order,
/// the ring's header and allocation, the name's reference counts. What an entry costs with nothing in it.
pub const ROOM_OVERHEAD: usize = 256;
/// One slot of a room's ring, its message's and its rendered frame's (counted for every slot allocated,
/// used or not).
const SLOT: usize = std::mem::size_of::<StoredMessage>() + std::mem::size_of::<Option<Utf8Bytes>>();

/// What a rendered frame costs beside its slot.
fn frame_size(frame: &Utf8Bytes) -> usize {
    frame.len() + ALLOC_OVERHEAD
}

/// The heap a message holds beyond its slot: its author's, body's, mentions' and files' text.
fn text_size(message: &StoredMessage) -> usize {
    let optional = |text: &str| match text.len() {
        0 => 0,
        n => n + ALLOC_OVERHEAD,
    };
    let mentions = optional(&message.mentions) + optional(&message.files);
    message.author.len() + message.body.len() + 2 * ALLOC_OVERHEAD + mentions
}

fn room_size(room: &RoomName) -> usize {
    ROOM_OVERHEAD + room.as_str().len()
}

/// What a room's entry costs: the fixed part and its name, its ring's slots, its messages' text.
fn entry_size(room: &RoomName, messages: &VecDeque<StoredMessage>, text: usize) -> usize {
    room_size(room) + messages.capacity() * SLOT + text
}

/// The newest messages of rooms, exact for every room it holds, within a byte budget.
pub struct RecentCache {
    inner: Mutex<Inner>,
    /// Messages kept per room.
    depth: usize,
    /// Bytes the cache may hold; past it the least recently used rooms are dropped.
    budget: usize,
    /// Where the cache's size is shown (`cache_rooms`, `cache_bytes`).
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<RoomName, Entry>,
    /// The cached rooms by last use, least recent first.
    order: BTreeMap<u64, RoomName>,
    /// The last use stamp handed out.
    clock: u64,
    /// What every entry costs, counted by [`entry_size`].
    bytes: usize,
    /// Rooms being read from the database, by any number of open loads.
    loading: HashMap<RoomName, Loading>,
}

struct Entry {
    messages: VecDeque<StoredMessage>,
    /// Each message's history frame once rendered, beside it (same length as `messages`).
    frames: VecDeque<Option<Utf8Bytes>>,
    /// The [`text_size`] of its messages and the [`frame_size`] of its rendered frames.
    text: usize,
    /// This entry's share of [`Inner::bytes`].
    bytes: usize,
    /// Its stamp in [`Inner::order`].
    used: u64,
}

/// The open loads of one room.
struct Loading {
    open: usize,
    /// Changes (commits, forgets) to the room since the first of them opened; each change's number is
    /// the count before it.
    changes: u64,
    /// The newest of those changes that were commits (at most the cache's depth), by number.
    commits: VecDeque<(u64, StoredMessage)>,
    /// The number of the last change that was a forget.
    forgot: Option<u64>,
}

impl Inner {
    fn stamp(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Marks `room` as just used.
    fn touch(&mut self, room: &RoomName) {
        let now = self.stamp();
        if let Some(entry) = self.rooms.get_mut(room) {
            self.order.remove(&entry.used);
            entry.used = now;
            self.order.insert(now, room.clone());
        }
    }

    fn remove(&mut self, room: &RoomName) {
        if let Some(entry) = self.rooms.remove(room) {
            self.order.remove(&entry.used);
            self.bytes -= entry.bytes;
        }
    }

    /// `room` changed (a commit, or a forget when `commit` is `None`): its open loads must know.
    fn changed(&mut self, room: &RoomName, commit: Option<&StoredMessage>, depth: usize) {
        let Some(loading) = self.loading.get_mut(room) else {
            return;
        };
        let number = loading.changes;
        loading.changes += 1;
        match commit {
            Some(message) => {
                loading.commits.push_back((number, message.clone()));
                if loading.commits.len() > depth {
                    loading.commits.pop_front();
                }
            }
            None => loading.forgot = Some(number),
        }
    }

    /// Drops the least recently used rooms until the cache is within `budget`.
    fn evict(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some((_, victim)) = self.order.pop_first() else {
                return;
            };
            if let Some(entry) = self.rooms.remove(&victim) {
                self.bytes -= entry.bytes;
            }
        }
    }
}

impl RecentCache {
    /// A cache of the newest `depth` messages per room, within `budget` bytes, showing its size in `stats`.
    pub fn new(depth: usize, budget: usize, stats: Arc<Stats>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            depth: depth.max(1),
            budget,
            stats,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves the maps consistent; a panic elsewhere cannot break them.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Shows the cache's size in the node's counters.
    fn publish(&self, inner: &Inner) {
        let rooms = u64::try_from(inner.rooms.len()).unwrap_or(u64::MAX);
        let bytes = u64::try_from(inner.bytes).unwrap_or(u64::MAX);
        self.stats.cache_rooms.store(rooms, Ordering::Relaxed);
        self.stats.cache_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Messages kept per room.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Rooms cached and the bytes they are counted as.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.rooms.len(), inner.bytes)
    }

    /// The last `limit` messages of `room`, oldest first, if the room is cached.
    pub fn recent(&self, room: &RoomName, limit: usize) -> Option<Vec<StoredMessage>> {
        let mut inner = self.lock();
        let messages = &inner.rooms.get(room)?.messages;
        let skip = messages.len().saturating_sub(limit);
        let found = messages.iter().skip(skip).cloned().collect();
        inner.touch(room);
        Some(found)
    }

    /// Up to `limit` messages of `room` after `since`, if the cache holds all of them.
    pub fn after(&self, room: &RoomName, since: u64, limit: usize) -> Option<Vec<StoredMessage>> {
        let mut inner = self.lock();
        let messages = &inner.rooms.get(room)?.messages;
        let covers = messages.front().is_none_or(|first| first.seq <= since + 1);
        if !covers {
            return None;
        }
        let found = messages
            .iter()
            .filter(|m| m.seq > since)
            .take(limit)
            .cloned()
            .collect();
        inner.touch(room);
        Some(found)
    }

    /// The history frames of the newest `limit` messages of `room` that `shows` keeps, oldest first, and the
    /// id of the newest of those `limit` (shown or not); `None` if the room is not cached. A message's frame
    /// is rendered by `render` the first time it is asked for and kept with it: every later join of the room
    /// shares it.
    pub fn recent_frames(
        &self,
        room: &RoomName,
        limit: usize,
        shows: impl Fn(&StoredMessage) -> bool,
        render: impl Fn(&StoredMessage) -> Utf8Bytes,
    ) -> Option<(Vec<Utf8Bytes>, Option<u64>)> {
        let mut inner = self.lock();
        let entry = inner.rooms.get_mut(room)?;
        let skip = entry.messages.len().saturating_sub(limit);
        let newest = entry.messages.back().map(|m| m.seq);
        let mut frames = Vec::with_capacity(entry.messages.len() - skip);
        let mut added = 0;
        let pairs = entry
            .messages
            .iter()
            .zip(entry.frames.iter_mut())
            .skip(skip);
        for (message, frame) in pairs.filter(|(message, _)| shows(message)) {
            let frame = frame.get_or_insert_with(|| {
                let rendered = render(message);
                added += frame_size(&rendered);
                rendered
            });
            frames.push(frame.clone());
        }
        if added > 0 {
            entry.text += added;
            entry.bytes += added;
            inner.bytes += added;
        }
        inner.touch(room);
        if added > 0 {
            inner.evict(self.budget);
            self.publish(&inner);
        }
        Some((frames, newest))
    }

    /// Whether `room` is cached.
    pub fn contains(&self, room: &RoomName) -> bool {
        self.lock().rooms.contains_key(room)
    }

    /// Opens a load of `room`: call before reading the room from the database, then
    /// [`Load::install`] what the read returned.
    pub fn load(&self, room: &RoomName) -> Load<'_> {
        let mut inner = self.lock();
        let loading = inner.loading.entry(room.clone()).or_insert(Loading {
            open: 0,
            changes: 0,
            commits: VecDeque::new(),
            forgot: None,
        });
        loading.open += 1;
        Load {
            start: loading.changes,
            cache: self,
            room: room.clone(),
            open: true,
        }
    }

    /// Appends a message just committed to `room` (in commit order), if the room is cached.
    pub fn committed(&self, room: &RoomName, message: &StoredMessage) {
        let mut inner = self.lock();
        inner.changed(room, Some(message), self.depth);
        let Some(entry) = inner.rooms.get_mut(room) else {
            return;
        };
        let last = entry.messages.back().map_or(0, |m| m.seq);
        if message.seq <= last {
            // Committed before the read that installed the room, reported after it: already there.
            return;
        }
        if message.seq != last + 1 {
            // Not contiguous: this node is not the only writer after all. Forget the room.
            inner.remove(room);
            self.publish(&inner);
            return;
        }
        // Room first, so that a full ring never grows its allocation.
        while entry.messages.len() >= self.depth {
            if let Some(old) = entry.messages.pop_front() {
                entry.text -= text_size(&old);
            }
            if let Some(Some(frame)) = entry.frames.pop_front() {
                entry.text -= frame_size(&frame);
            }
        }
        entry.messages.push_back(message.clone());
        entry.frames.push_back(None);
        entry.text += text_size(message);
        let bytes = entry_size(room, &entry.messages, entry.text);
        let before = std::mem::replace(&mut entry.bytes, bytes);
        inner.bytes = inner.bytes - before + bytes;
        inner.touch(room);
        inner.evict(self.budget);
        self.publish(&inner);
    }

    /// Forgets `room` (its history changed in a way appending cannot follow); the next read reloads it.
    pub fn forget(&self, room: &RoomName) {
        let mut inner = self.lock();
        inner.changed(room, None, self.depth);
        inner.remove(room);
        self.publish(&inner);
    }
}

/// A read of one room from the database, opened before the read so that the commits made while it runs
/// can be added to what it read. Dropping it installs nothing.
pub struct Load<'a> {
    cache: &'a RecentCache,
    room: RoomName,
    /// The number the room's next change got when the load opened.
    start: u64,
    open: bool,
}

impl Load<'_> {
    /// Caches `newest` (the room's newest messages as read, oldest first) followed by the commits made
    /// since this load opened that the read lacks, unless the room was forgotten meanwhile, the ids do not
    /// follow on, the room is cached already (and so newer), it has no messages, or it would not fit the
    /// budget. Returns whether it did.
    pub fn install(mut self, newest: &[StoredMessage]) -> bool {
        let cache = self.cache;
        let mut inner = cache.lock();
        let Some(loading) = self.close(&mut inner) else {
            return false;
        };
        if inner.rooms.contains_key(&self.room) {
            return false;
        }
        let Some(mut messages) = self.merge(newest, &loading) else {
            return false;
        };
        messages.shrink_to_fit();
        let text = messages.iter().map(text_size).sum();
        let bytes = entry_size(&self.room, &messages, text);
        if messages.is_empty() || bytes > cache.budget {
            return false;
        }
        let used = inner.stamp();
        inner.order.insert(used, self.room.clone());
        let mut frames = VecDeque::new();
        frames.resize(messages.len(), None);
        frames.shrink_to_fit();
        inner.rooms.insert(
            self.room.clone(),
            Entry {
                messages,
                frames,
                text,
                bytes,
                used,
            },
        );
        inner.bytes += bytes;
        inner.evict(cache.budget);
        cache.publish(&inner);
        true
    }

    /// What was read followed by the commits since this load opened, the newest `depth`; `None` when that
    /// cannot be known exactly.
    fn merge(&self, newest: &[StoredMessage], loading: &Closed) -> Option<VecDeque<StoredMessage>> {
        if loading.forgot.is_some_and(|n| n >= self.start) {
            return None;
        }
        // Every change since the start was a commit; the first of them must still be known (more than
        // the depth of them push the oldest out).
        let during = &loading.commits;
        if loading.changes > self.start && during.first().is_none_or(|(n, _)| *n > self.start) {
            return None;
        }
        let mut messages: VecDeque<_> = newest.iter().cloned().collect();
        let mut last = messages.back().map_or(0, |m| m.seq);
        for (_, message) in during {
            if message.seq <= last {
                continue; // the read has it
            }
            if message.seq != last + 1 {
                return None; // a gap: this node is not the only writer
            }
            last = message.seq;
            messages.push_back(message.clone());
        }
        let skip = messages.len().saturating_sub(self.cache.depth);
        messages.drain(..skip);
        Some(messages)
    }

    /// Closes this load; returns what the room's open loads saw (`None` if this one was not open).
    fn close(&mut self, inner: &mut Inner) -> Option<Closed> {
        if !std::mem::replace(&mut self.open, false) {
            return None;
        }
        let loading = inner.loading.get_mut(&self.room)?;
        loading.open -= 1;
        let seen = Closed {
            changes: loading.changes,
            commits: loading
                .commits
                .iter()
                .filter(|(n, _)| *n >= self.start)
                .cloned()
                .collect(),
            forgot: loading.forgot,
        };
        if loading.open == 0 {
            inner.loading.remove(&self.room);
        }
        Some(seen)
    }
}

/// What a closing load saw of its room.
struct Closed {
    /// The number the room's next change would get.
    changes: u64,
    /// The commits since the load opened that are still known, oldest first.
    commits: Vec<(u64, StoredMessage)>,
    /// The number of the room's last forget, if any.
    forgot: Option<u64>,
}

impl Drop for Load<'_> {
    fn drop(&mut self) {
        if self.open {
            let cache = self.cache;
            let mut inner = cache.lock();
            self.close(&mut inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64) -> StoredMessage {
        StoredMessage {
            bot: false,
            seq,
            ts_ms: 0,
            author: "a".into(),
            body: format!("m{seq}"),
            guest: true,
            kind: crate::storage::MessageKind::Message,
            edited: false,
            reply_to: None,
            mentions: String::new(),
            files: String::new(),
        }
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).expect("room")
    }

    fn cache(depth: usize, budget: usize) -> RecentCache {
        RecentCache::new(depth, budget, Arc::default())
    }

    fn install(cache: &RecentCache, name: &str, messages: &[StoredMessage]) -> bool {
        cache.load(&room(name)).install(messages)
    }

    fn seqs(messages: Vec<StoredMessage>) -> Vec<u64> {
        messages.iter().map(|m| m.seq).collect()
    }

    /// What a room `name` holding `messages` (in a ring of just their size) is counted as.
    fn cost(name: &str, messages: &[StoredMessage]) -> usize {
        room_size(&room(name)) + messages.iter().map(|m| SLOT + text_size(m)).sum::<usize>()
    }

    /// The cache's own count agrees with its entries, its use order lists exactly them, and no load is
    /// left open.
    fn assert_consistent(cache: &RecentCache) {
        let inner = cache.lock();
        let counted: usize = inner
            .rooms
            .iter()
            .map(|(r, e)| {
                assert_eq!(e.frames.len(), e.messages.len(), "a frame slot per message");
                let frames: usize = e.frames.iter().flatten().map(frame_size).sum();
                let text = e.messages.iter().map(text_size).sum::<usize>() + frames;
                assert_eq!(e.text, text);
                entry_size(r, &e.messages, text)
            })
            .sum();
        assert_eq!(inner.bytes, counted);
        assert_eq!(inner.order.len(), inner.rooms.len());
        assert!(inner.bytes <= cache.budget);
        assert!(inner.loading.is_empty(), "every load closed");
    }

    #[test]
    fn a_cached_room_follows_commits_and_keeps_its_depth() {
        let cache = cache(3, 1 << 20);
        assert!(cache.recent(&room("r"), 3).is_none(), "unknown rooms miss");
        assert!(install(&cache, "r", &[message(1), message(2)]));
        for seq in 3..=5 {
            cache.committed(&room("r"), &message(seq));
        }
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
        // A commit reported again (it was in the read that installed the room) changes nothing.
        cache.committed(&room("r"), &message(5));
        assert_eq!(seqs(cache.recent(&room("r"), 10).expect("hit")), [3, 4, 5]);
        // Commits to rooms that are not cached are ignored; a gap forgets the room.
        cache.committed(&room("other"), &message(9));
        assert!(!cache.contains(&room("other")));
        cache.committed(&room("r"), &message(7));
        assert!(!cache.contains(&room("r")));
        assert_consistent(&cache);
    }

    #[test]
    fn rooms_without_messages_are_never_cached() {
        let cache = cache(50, 1 << 20);
        for i in 0..1000 {
            assert!(!install(&cache, &format!("nobody-{i}"), &[]));
        }
        assert_eq!(cache.usage(), (0, 0));
        assert_consistent(&cache);
    }

    #[test]
    fn every_room_costs_a_fixed_amount_besides_its_messages() {
        let one = [message(1)];
        let each = cost("r00", &one);
        assert_eq!(each, ROOM_OVERHEAD + 3 + SLOT + 2 * ALLOC_OVERHEAD + 3);
        // Room for exactly ten such rooms.
        let cache = cache(50, 10 * each + each / 2);
        for i in 0..20 {
            assert!(install(&cache, &format!("r{i:02}"), &one));
        }
        assert_eq!(cache.usage(), (10, 10 * each));
        assert_eq!(cache.stats.cache_rooms.load(Ordering::Relaxed), 10);
        assert_eq!(
            cache.stats.cache_bytes.load(Ordering::Relaxed),
            10 * each as u64
        );
        assert_consistent(&cache);
    }

    #[test]
    fn the_least_recently_used_room_goes_first() {
        let one = [message(1)];
        // What `a` and `b` hold once `b` has grown by a message (its ring's allocation grows by more than
        // one slot): the budget, so that `b`'s growth costs exactly one room.
        let sized = cache(50, usize::MAX / 2);
        for name in ["a", "b"] {
            assert!(install(&sized, name, &one));
        }
        sized.committed(&room("b"), &message(2));
        let budget = sized.usage().1.max(3 * cost("a", &one));
        let cache = cache(50, budget);
        for name in ["a", "b", "c"] {
            assert!(install(&cache, name, &one));
        }
        // Reading `a` and committing to `b` make `c` the least recently used.
        cache.recent(&room("a"), 1).expect("a cached");
        cache.committed(&room("b"), &message(2));
        // `b` grew: something must go, and it is `c`.
        assert!(!cache.contains(&room("c")));
        assert!(cache.contains(&room("a")) && cache.contains(&room("b")));
        assert!(install(&cache, "d", &one));
        // Now `a` is the oldest use.
        assert!(!cache.contains(&room("a")));
        assert!(cache.contains(&room("b")) && cache.contains(&room("d")));
        cache.after(&room("b"), 0, 10).expect("b covered");
        assert!(install(&cache, "e", &one));
        assert!(!cache.contains(&room("d")), "d was used before b");
        assert_consistent(&cache);
    }

    #[test]
    fn a_room_bigger_than_the_budget_is_not_kept() {
        let many: Vec<_> = (1..=5).map(message).collect();
        let cache = cache(50, cost("r", &many[..2]));
        assert!(!install(&cache, "r", &many));
        assert!(install(&cache, "r", &many[..2]));
        // Growing past the whole budget drops the room itself.
        cache.committed(&room("r"), &message(3));
        assert!(!cache.contains(&room("r")));
        assert_eq!(cache.usage(), (0, 0));
        assert_consistent(&cache);
    }

    #[test]
    fn a_load_adds_the_commits_made_while_it_read() {
        let cache = cache(50, 1 << 20);
        let r = room("r");
        // Read [1, 2]; 3 is committed before the install: the read may lack it, the load adds it.
        let load = cache.load(&r);
        cache.committed(&r, &message(3));
        assert!(load.install(&[message(1), message(2)]));
        assert_eq!(seqs(cache.recent(&r, 10).expect("hit")), [1, 2, 3]);
        // Or the read had it already: once, not twice.
        cache.forget(&r);
        let load = cache.load(&r);
        cache.committed(&r, &message(4));
        assert!(load.install(&(1..=4).map(message).collect::<Vec<_>>()));
        assert_eq!(seqs(cache.recent(&r, 10).expect("hit")), [1, 2, 3, 4]);
        // A room that was empty when read and got its first message meanwhile.
        let fresh = room("fresh");
        let load = cache.load(&fresh);
        cache.committed(&fresh, &message(1));
        assert!(load.install(&[]));
        assert_eq!(seqs(cache.recent(&fresh, 10).expect("hit")), [1]);
        assert_consistent(&cache);
    }

    #[test]
    fn a_load_that_cannot_know_the_room_exactly_installs_nothing() {
        let cache = cache(3, 1 << 20);
        let r = room("r");
        // An edit or deletion (forget) while loading.
        let load = cache.load(&r);
        cache.forget(&r);
        assert!(!load.install(&[message(1), message(2)]));
        // A gap between the read and the commits: another writer.
        let load = cache.load(&r);
        cache.committed(&r, &message(5));
        assert!(!load.install(&[message(1), message(2)]));
        // More commits than the depth meanwhile: the first of them is no longer known.
        let load = cache.load(&r);
        for seq in 3..=7 {
            cache.committed(&r, &message(seq));
        }
        assert!(!load.install(&[message(1), message(2)]));
        assert!(!cache.contains(&r));
        // Loads that overlap: each adds what came after it opened.
        let first = cache.load(&r);
        cache.committed(&r, &message(3));
        let second = cache.load(&r);
        cache.committed(&r, &message(4));
        drop(second);
        assert!(first.install(&[message(1), message(2)]));
        assert_eq!(seqs(cache.recent(&r, 10).expect("hit")), [2, 3, 4]);
        // A load that is dropped (the read failed) leaves nothing open.
        drop(cache.load(&room("failed")));
        assert_consistent(&cache);
    }

    #[test]
    fn a_later_install_never_replaces_a_cached_room() {
        let cache = cache(50, 1 << 20);
        let r = room("r");
        // Two reads of [1] race; the first installs, 2 is committed and appended; the second read (taken
        // before 2 and reported after it) must not put the room back to [1].
        let (first, second) = (cache.load(&r), cache.load(&r));
        assert!(first.install(&[message(1)]));
        // Closed before the commit (a clean load), yet the room is cached already: nothing replaced.
        assert!(!second.install(&[message(1)]));
        cache.committed(&r, &message(2));
        let late = cache.load(&r);
        assert!(!late.install(&[message(1)]));
        assert_eq!(seqs(cache.recent(&r, 10).expect("hit")), [1, 2]);
        assert_consistent(&cache);
    }

    #[test]
    fn a_rendered_frame_is_kept_with_its_message_and_counted_until_it_goes() {
        let cache = cache(3, 1 << 20);
        assert!(install(&cache, "r", &[message(1), message(2)]));
        let renders = std::cell::Cell::new(0);
        let render = |m: &StoredMessage| {
            renders.set(renders.get() + 1);
            Utf8Bytes::from(format!("frame {}", m.seq))
        };
        let shown =
            |frames: Vec<Utf8Bytes>| frames.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        let (frames, newest) = cache
            .recent_frames(&room("r"), 5, |_| true, render)
            .expect("cached");
        assert_eq!(
            (shown(frames), newest),
            (vec!["frame 1".into(), "frame 2".into()], Some(2))
        );
        assert_eq!(renders.get(), 2);
        assert_consistent(&cache);
        // Asked again: shared, not rendered again; a filtered-out message keeps no frame but counts as newest.
        cache.committed(&room("r"), &message(3));
        let (frames, newest) = cache
            .recent_frames(&room("r"), 2, |m| m.seq != 3, render)
            .expect("cached");
        assert_eq!((shown(frames), newest), (vec!["frame 2".into()], Some(3)));
        assert_eq!(renders.get(), 2);
        assert_consistent(&cache);
        // The ring moves on: the oldest message leaves with its frame and its bytes.
        cache.committed(&room("r"), &message(4));
        assert_consistent(&cache);
        let (frames, _) = cache
            .recent_frames(&room("r"), 3, |_| true, render)
            .expect("cached");
        assert_eq!(shown(frames), vec!["frame 2", "frame 3", "frame 4"]);
        assert_eq!(renders.get(), 4);
        assert_consistent(&cache);
        assert!(
            cache
                .recent_frames(&room("other"), 3, |_| true, render)
                .is_none()
        );
    }
}
