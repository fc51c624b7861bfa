//! The channel layer: carries committed messages to every subscriber of a room. It is only the fast path;
//! the store is the truth, and a subscriber that misses something heals the gap from the store
//! (docs/ARCHITECTURE.md, invariant 3).

mod cluster;
mod memory;
mod redis;
mod ring;

use std::collections::HashMap;
use std::time::Duration;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::domain::RoomName;

pub use cluster::{ClusterId, database_identity};
pub use memory::{DEFAULT_ROOM_BUFFER_BYTES, MemoryLayer};
pub use redis::{DEFAULT_OUTBOX_BYTES, LayerTasks, RedisLayer, RedisSettings};
pub use ring::{Receiver, RecvError, TryRecvError};

/// One committed message on its way to subscribers: its room sequence number and its outgoing frame,
/// encoded once and shared by every recipient.
#[derive(Clone, Debug)]
pub struct Event {
    /// The room sequence number.
    pub seq: u64,
    /// The JSON text frame sent to clients.
    pub frame: Utf8Bytes,
    /// Whether clients of the plain Channels protocol get it (a chat message); events that change
    /// history go only to `chatweb.v2` clients, the others just move past their id.
    pub plain: bool,
    /// Not history (presence, typing): no sequence number, never stored, only `chatweb.v2` clients get it.
    pub ephemeral: bool,
}

impl Event {
    /// A stored event with room sequence number `seq`.
    pub fn stored(seq: u64, frame: Utf8Bytes, plain: bool) -> Self {
        Self {
            seq,
            frame,
            plain,
            ephemeral: false,
        }
    }

    /// An ephemeral event (presence, typing).
    pub fn ephemeral(frame: Utf8Bytes) -> Self {
        Self {
            seq: 0,
            frame,
            plain: false,
            ephemeral: true,
        }
    }
}

/// Presence news from another node: the room, the node's id, and the announcement's text.
pub type Remote = (RoomName, u64, String);

/// Why the layer could not publish or subscribe.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The layer's backing service cannot be reached.
    #[error("channel layer unavailable: {0}")]
    Unavailable(String),
}

/// Fan-out of room events, on one node or across several.
#[async_trait::async_trait]
pub trait ChannelLayer: Send + Sync + 'static {
    /// Delivers `event` to every subscriber of `room`, on every node.
    async fn publish(&self, room: &RoomName, event: Event) -> Result<(), ChannelError>;
    /// A receiver on this node, returned once every node's traffic for `room` reaches it (or, when that
    /// cannot be confirmed in time, at once: the layer heals what it misses). One that falls more than the
    /// room's live buffer behind gets `Lagged`.
    async fn subscribe(&self, room: &RoomName) -> Result<Receiver, ChannelError>;
    /// Whether the layer's backing service answers (for `/readyz`).
    async fn ready(&self) -> bool {
        true
    }
    /// Hands what is still queued for other nodes to them, within `within` (when the node stops, after
    /// the store writer's last commit).
    async fn drain(&self, _within: Duration) {}
    /// Rooms with members on this node.
    fn local_rooms(&self) -> usize;
    /// Delivers an ephemeral `event` to this node's subscribers of `room` only.
    fn send_local(&self, room: &RoomName, event: Event);
    /// Delivers an ephemeral `event` to every node's subscribers of `room`; may drop it under load.
    fn publish_ephemeral(&self, room: &RoomName, event: Event) {
        self.send_local(room, event);
    }
    /// Tells the other nodes' presence `announcement` about `room` (nothing to do on one node).
    fn announce(&self, _room: &RoomName, _announcement: String) {}
}

/// Where a layer finds the newest stored message of a room, to resync members after an outage and to
/// heal a tail another node's PUBLISH never brought.
#[async_trait::async_trait]
pub trait HeadSource: Send + Sync + 'static {
    /// The newest stored message of `room`, encoded as a live event; `None` if the room is empty or the
    /// store cannot be read.
    async fn head(&self, room: &RoomName) -> Option<Event>;
    /// The stored head (last sequence number) of each of `rooms` that exists, in as few queries as the
    /// store allows; `None` if the store cannot be read.
    async fn last_seqs(&self, rooms: &[RoomName]) -> Option<HashMap<RoomName, u64>>;
}
