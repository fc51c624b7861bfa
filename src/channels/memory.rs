//! The in-process channel layer: one [`Ring`] per room with subscribers. The ring is the room's shared live
//! buffer, bounded in events and in bytes; a receiver that falls behind it gets `Lagged` and catches up
//! from the store. The map's lock is a std mutex, never held across an await.

use std::collections::HashMap;
use std::sync::Mutex;

use super::ring::{Receiver, Ring};
use super::{ChannelError, ChannelLayer, Event};
use crate::domain::RoomName;

/// Bytes a room's live buffer may hold unless told otherwise (`--room-buffer-bytes`).
pub const DEFAULT_ROOM_BUFFER_BYTES: usize = 1024 * 1024;

/// Rooms and their live buffers on this node.
pub struct MemoryLayer {
    rooms: Mutex<Rooms>,
    capacity: usize,
    max_bytes: usize,
}

struct Rooms {
    senders: HashMap<RoomName, Ring>,
    /// Map size at which rooms without receivers are next swept out.
    sweep_at: usize,
}

impl MemoryLayer {
    /// A layer whose rooms each buffer `capacity` events (and [`DEFAULT_ROOM_BUFFER_BYTES`]).
    pub fn new(capacity: usize) -> Self {
        Self::bounded(capacity, DEFAULT_ROOM_BUFFER_BYTES)
    }

    /// A layer whose rooms each buffer at most `capacity` events and `max_bytes` bytes (always at least
    /// their newest event).
    pub fn bounded(capacity: usize, max_bytes: usize) -> Self {
        Self {
            rooms: Mutex::new(Rooms {
                senders: HashMap::new(),
                sweep_at: 64,
            }),
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    /// Delivers `event` to this node's subscribers of `room` (no-op without any).
    pub fn send_local(&self, room: &RoomName, event: Event) {
        let mut rooms = self.lock();
        if let Some(sender) = rooms.senders.get(room)
            && sender.send(event).is_err()
        {
            // Nobody listens any more: forget the room.
            rooms.senders.remove(room);
        }
    }

    /// A receiver for `room` on this node.
    pub fn subscribe_local(&self, room: &RoomName) -> Receiver {
        let mut rooms = self.lock();
        if rooms.senders.len() >= rooms.sweep_at {
            rooms.senders.retain(|_, s| s.receiver_count() > 0);
            rooms.sweep_at = (rooms.senders.len() * 2).max(64);
        }
        if let Some(sender) = rooms.senders.get(room) {
            return sender.subscribe();
        }
        let ring = Ring::new(self.capacity, self.max_bytes);
        let receiver = ring.subscribe();
        rooms.senders.insert(room.clone(), ring);
        receiver
    }

    /// Receivers of `room` on this node.
    pub fn receivers(&self, room: &RoomName) -> usize {
        self.lock()
            .senders
            .get(room)
            .map_or(0, Ring::receiver_count)
    }

    /// Every room with subscribers on this node, with the newest stored sequence number its live buffer
    /// carried (0 if none yet).
    pub fn served(&self) -> Vec<(RoomName, u64)> {
        self.lock()
            .senders
            .iter()
            .filter(|(_, ring)| ring.receiver_count() > 0)
            .map(|(room, ring)| (room.clone(), ring.newest_seq()))
            .collect()
    }

    /// The newest stored sequence number `room`'s live buffer carried (0 if none, or no subscribers).
    pub fn newest_seq(&self, room: &RoomName) -> u64 {
        self.lock().senders.get(room).map_or(0, Ring::newest_seq)
    }

    /// Events and bytes buffered for `room` now.
    pub fn buffered(&self, room: &RoomName) -> (usize, usize) {
        self.lock().senders.get(room).map_or((0, 0), Ring::buffered)
    }

    /// Rooms with at least one subscriber on this node.
    pub fn active_rooms(&self) -> usize {
        self.lock()
            .senders
            .values()
            .filter(|s| s.receiver_count() > 0)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rooms> {
        // A panic while holding this lock cannot leave the map inconsistent: keep serving.
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl ChannelLayer for MemoryLayer {
    async fn publish(&self, room: &RoomName, event: Event) -> Result<(), ChannelError> {
        self.send_local(room, event);
        Ok(())
    }

    async fn subscribe(&self, room: &RoomName) -> Result<Receiver, ChannelError> {
        Ok(self.subscribe_local(room))
    }

    fn local_rooms(&self) -> usize {
        self.active_rooms()
    }

    fn send_local(&self, room: &RoomName, event: Event) {
        MemoryLayer::send_local(self, room, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).expect("valid room")
    }

    #[tokio::test]
    async fn subscribers_of_a_room_get_its_events_and_no_others() {
        let layer = MemoryLayer::new(8);
        let mut a = layer.subscribe(&room("a")).await.expect("subscribe");
        let mut b = layer.subscribe(&room("b")).await.expect("subscribe");
        let event = Event::stored(1, "{}".into(), true);
        layer.publish(&room("a"), event).await.expect("publish");
        assert_eq!(a.recv().await.expect("event").seq, 1);
        assert!(b.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_room_buffer_holds_its_byte_budget_however_big_the_frames() {
        // 4 KB of control characters: every one escaped as \u00XX in the frame.
        let frame: String = serde_json::to_string(&"\u{1}".repeat(4096)).expect("json");
        assert!(frame.len() > 24_000);
        let budget = 256 * 1024;
        let layer = MemoryLayer::bounded(1024, budget);
        let mut slow = layer.subscribe(&room("flood")).await.expect("subscribe");
        for seq in 1..=1024 {
            let event = Event::stored(seq, frame.clone().into(), true);
            layer.publish(&room("flood"), event).await.expect("publish");
        }
        let (events, bytes) = layer.buffered(&room("flood"));
        assert!(
            bytes <= budget && events < 20,
            "{events} events, {bytes} bytes"
        );
        // The slow reader is told it fell behind (and catches up from the store), then reads the rest.
        assert!(matches!(
            slow.try_recv(),
            Err(super::super::ring::TryRecvError::Lagged(_))
        ));
        assert_eq!(slow.try_recv().expect("kept").seq, 1024 - events as u64 + 1);
        assert_eq!(layer.newest_seq(&room("flood")), 1024);
    }

    #[test]
    fn rooms_without_receivers_are_forgotten() {
        let layer = MemoryLayer::new(8);
        for i in 0..200 {
            drop(layer.subscribe_local(&room(&format!("r{i}"))));
        }
        let _kept = layer.subscribe_local(&room("kept"));
        assert!(layer.lock().senders.len() < 200);
        assert_eq!(layer.active_rooms(), 1);
    }
}
