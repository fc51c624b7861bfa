//! The outbox between the store writer and the publisher task, bounded in bytes (`--redis-outbox-bytes`):
//! a count bound let 65,536 frames of 25 KB (1.6 GB) wait. Pushing never waits, so Redis never slows the
//! writer.
//!
//! When the queue is full, a stored event is kept as its room's newest unsent one (replacing an older one
//! of the room), in a second map bounded by the same budget; ephemeral frames and presence news are
//! dropped (the next heartbeat heals presence). Members elsewhere catch up on anything older from the
//! store when the newest arrives, so one event per room is all a lost tail needs. If even that map is
//! full, the event is dropped: the heads check (`heal.rs`) still heals it within seconds.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

use super::Outgoing;
use crate::channels::Event;
use crate::domain::RoomName;

/// Bytes one queued entry costs beyond its frame and room name.
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// What became of a pushed entry.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Queued in order.
    Queued,
    /// The queue was full: kept as its room's newest unsent event.
    KeptNewest,
    /// Dropped (ephemeral, news, or both bounds full).
    Dropped,
}

/// A byte-bounded queue of outgoing entries plus the newest unsent stored event per room.
pub(super) struct Outbox {
    state: Mutex<Queue>,
    ready: Notify,
    max_bytes: usize,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<(RoomName, Outgoing, usize)>,
    bytes: usize,
    newest: HashMap<RoomName, (Event, usize)>,
    newest_bytes: usize,
}

fn cost(room: &RoomName, outgoing: &Outgoing) -> usize {
    let text = match outgoing {
        Outgoing::Event(event) => event.frame.as_str().len(),
        Outgoing::Announce(text) => text.len(),
    };
    text + room.as_str().len() + ENTRY_OVERHEAD_BYTES
}

impl Outbox {
    pub(super) fn new(max_bytes: usize) -> Self {
        Self {
            state: Mutex::new(Queue::default()),
            ready: Notify::new(),
            max_bytes,
        }
    }

    /// Queues `outgoing` for `room` if the budget allows; see [`Pushed`].
    pub(super) fn push(&self, room: &RoomName, outgoing: Outgoing) -> Pushed {
        let size = cost(room, &outgoing);
        let pushed = {
            let mut queue = self.lock();
            if queue.bytes + size <= self.max_bytes {
                queue.bytes += size;
                queue.items.push_back((room.clone(), outgoing, size));
                Pushed::Queued
            } else {
                match outgoing {
                    Outgoing::Event(event) if !event.ephemeral => {
                        self.keep(&mut queue, room, event, size)
                    }
                    _ => Pushed::Dropped,
                }
            }
        };
        if pushed != Pushed::Dropped {
            self.ready.notify_one();
        }
        pushed
    }

    /// Keeps a stored event as its room's newest unsent one (after a failed publish).
    pub(super) fn keep_newest(&self, room: &RoomName, outgoing: Outgoing) {
        let Outgoing::Event(event) = outgoing else {
            return;
        };
        if event.ephemeral {
            return;
        }
        let size = cost(room, &Outgoing::Event(event.clone()));
        let mut queue = self.lock();
        self.keep(&mut queue, room, event, size);
    }

    fn keep(&self, queue: &mut Queue, room: &RoomName, event: Event, size: usize) -> Pushed {
        let replaced = match queue.newest.get(room) {
            Some((kept, _)) if kept.seq >= event.seq => return Pushed::KeptNewest,
            Some((_, bytes)) => *bytes,
            None => 0,
        };
        if queue.newest_bytes - replaced + size > self.max_bytes {
            return Pushed::Dropped;
        }
        queue.newest_bytes = queue.newest_bytes - replaced + size;
        queue.newest.insert(room.clone(), (event, size));
        Pushed::KeptNewest
    }

    /// Up to `max` entries: the queue in order first, then the kept newest events.
    pub(super) fn take(&self, max: usize) -> Vec<(RoomName, Outgoing)> {
        let mut queue = self.lock();
        let mut batch = Vec::with_capacity(max.min(queue.items.len() + queue.newest.len()));
        while batch.len() < max {
            let Some((room, outgoing, size)) = queue.items.pop_front() else {
                break;
            };
            queue.bytes -= size;
            batch.push((room, outgoing));
        }
        if batch.len() < max && !queue.newest.is_empty() {
            let rooms: Vec<RoomName> = queue
                .newest
                .keys()
                .take(max - batch.len())
                .cloned()
                .collect();
            for room in rooms {
                if let Some((event, size)) = queue.newest.remove(&room) {
                    queue.newest_bytes -= size;
                    batch.push((room, Outgoing::Event(event)));
                }
            }
        }
        batch
    }

    /// While Redis is away: keeps only each room's newest stored event, drops the rest.
    pub(super) fn collapse(&self) {
        let mut queue = self.lock();
        let items = std::mem::take(&mut queue.items);
        queue.bytes = 0;
        for (room, outgoing, size) in items {
            if let Outgoing::Event(event) = outgoing
                && !event.ephemeral
            {
                self.keep(&mut queue, &room, event, size);
            }
        }
    }

    /// Entries waiting (queued and kept).
    pub(super) fn len(&self) -> usize {
        let queue = self.lock();
        queue.items.len() + queue.newest.len()
    }

    /// Completes once something was pushed since the last call (at once if it already was).
    pub(super) async fn pushed(&self) {
        self.ready.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Every update keeps the queue consistent before anything can panic: keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).expect("room")
    }

    fn stored(seq: u64, bytes: usize) -> Outgoing {
        Outgoing::Event(Event::stored(seq, "x".repeat(bytes).into(), true))
    }

    fn seqs(batch: &[(RoomName, Outgoing)]) -> Vec<(String, u64)> {
        batch
            .iter()
            .map(|(room, outgoing)| match outgoing {
                Outgoing::Event(event) => (room.to_string(), event.seq),
                Outgoing::Announce(_) => (room.to_string(), 0),
            })
            .collect()
    }

    #[test]
    fn a_full_outbox_keeps_the_newest_stored_event_per_room_and_drops_ephemeral_ones() {
        let entry = 1000 + "a".len() + ENTRY_OVERHEAD_BYTES;
        let outbox = Outbox::new(3 * entry);
        for seq in 1..=3 {
            assert_eq!(outbox.push(&room("a"), stored(seq, 1000)), Pushed::Queued);
        }
        // Full (by bytes: three 1 KB frames): what follows is kept as each room's newest.
        assert_eq!(outbox.push(&room("a"), stored(4, 1000)), Pushed::KeptNewest);
        assert_eq!(outbox.push(&room("a"), stored(5, 1000)), Pushed::KeptNewest);
        assert_eq!(outbox.push(&room("b"), stored(1, 1000)), Pushed::KeptNewest);
        let typing = Outgoing::Event(Event::ephemeral("{}".into()));
        assert_eq!(outbox.push(&room("a"), typing), Pushed::Dropped);
        let news = Outgoing::Announce(Arc::from("{}"));
        assert_eq!(outbox.push(&room("a"), news), Pushed::Dropped);
        let mut sent = seqs(&outbox.take(100));
        sent[3..].sort();
        assert_eq!(
            sent,
            [("a", 1), ("a", 2), ("a", 3), ("a", 5), ("b", 1)].map(|(r, s)| (r.to_owned(), s))
        );
        assert_eq!(outbox.len(), 0);
        assert_eq!(outbox.push(&room("a"), stored(6, 1000)), Pushed::Queued);
    }

    #[test]
    fn a_frame_too_big_for_the_budget_is_dropped_not_kept() {
        let outbox = Outbox::new(500);
        assert_eq!(outbox.push(&room("a"), stored(1, 1000)), Pushed::Dropped);
        assert_eq!(outbox.len(), 0);
    }

    #[test]
    fn collapsing_keeps_one_stored_event_per_room() {
        let outbox = Outbox::new(1 << 20);
        for seq in 1..=50 {
            outbox.push(&room("a"), stored(seq, 10));
            outbox.push(&room("b"), stored(seq, 10));
            outbox.push(&room("a"), Outgoing::Event(Event::ephemeral("{}".into())));
        }
        outbox.collapse();
        let mut sent = seqs(&outbox.take(100));
        sent.sort();
        assert_eq!(sent, [("a".to_owned(), 50), ("b".to_owned(), 50)]);
        // A failed publish keeps an event unless a newer one of its room is kept already.
        outbox.keep_newest(&room("a"), stored(7, 10));
        outbox.keep_newest(&room("a"), stored(6, 10));
        assert_eq!(seqs(&outbox.take(10)), [("a".to_owned(), 7)]);
    }
}
