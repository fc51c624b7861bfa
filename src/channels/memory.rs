//! The in-process channel layer: one tokio broadcast channel per room with subscribers. The broadcast ring
//! is the room's shared live buffer; a receiver that falls behind it gets `Lagged` and catches up from the
//! store. The map's lock is a std mutex, never held across an await.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

use super::{ChannelError, ChannelLayer, Event};
use crate::domain::RoomName;

/// Rooms and their broadcast senders on this node.
pub struct MemoryLayer {
    rooms: Mutex<Rooms>,
    capacity: usize,
}

struct Rooms {
    senders: HashMap<RoomName, broadcast::Sender<Event>>,
    /// Map size at which rooms without receivers are next swept out.
    sweep_at: usize,
}

impl MemoryLayer {
    /// A layer whose rooms each buffer `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            rooms: Mutex::new(Rooms {
                senders: HashMap::new(),
                sweep_at: 64,
            }),
            capacity: capacity.max(1),
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
    pub fn subscribe_local(&self, room: &RoomName) -> broadcast::Receiver<Event> {
        let mut rooms = self.lock();
        if rooms.senders.len() >= rooms.sweep_at {
            rooms.senders.retain(|_, s| s.receiver_count() > 0);
            rooms.sweep_at = (rooms.senders.len() * 2).max(64);
        }
        if let Some(sender) = rooms.senders.get(room) {
            return sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(self.capacity);
        rooms.senders.insert(room.clone(), sender);
        receiver
    }

    /// Receivers of `room` on this node.
    pub fn receivers(&self, room: &RoomName) -> usize {
        self.lock()
            .senders
            .get(room)
            .map_or(0, broadcast::Sender::receiver_count)
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

    async fn subscribe(&self, room: &RoomName) -> Result<broadcast::Receiver<Event>, ChannelError> {
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
