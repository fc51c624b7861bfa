//! Who is in each room (presence) and who is typing: ephemeral state, never stored, never numbered, never
//! replayed (shared/DESIGN.md, invariant 5).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::RoomName;

/// The rooms' members as this node knows them.
#[derive(Default)]
pub struct Presence {
    rooms: Mutex<HashMap<RoomName, usize>>,
}

impl Presence {
    /// People in `room` now (one per person, whatever their number of tabs or nodes).
    pub fn member_count(&self, room: &RoomName) -> usize {
        self.lock().get(room).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomName, usize>> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
