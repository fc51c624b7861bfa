//! `Fanout`: the store writer's [`CommitListener`]. Encodes each committed message's frame once and
//! publishes it to the room on the channel layer; every recipient shares those bytes. `StoreHeads` gives a
//! channel layer the newest stored message of a room, encoded the same way, for resyncs, and the heads of
//! many rooms (`Db::room_heads`), for the heads check.

use std::collections::HashMap;
use std::sync::Arc;

use crate::channels::{ChannelLayer, Event, HeadSource};
use crate::domain::RoomName;
use crate::protocol::message_frame;
use crate::storage::{Backend, CommitListener, StoredMessage};

/// Publishes committed messages to their rooms.
pub struct Fanout {
    channels: Arc<dyn ChannelLayer>,
}

impl Fanout {
    /// A listener publishing through `channels`.
    pub fn new(channels: Arc<dyn ChannelLayer>) -> Self {
        Self { channels }
    }
}

#[async_trait::async_trait]
impl CommitListener for Fanout {
    async fn committed(&self, messages: &[(RoomName, StoredMessage)]) {
        for (room, message) in messages {
            let event = Event::stored(
                message.seq,
                message_frame(room.as_str(), message, false).into(),
                message.kind.plain(),
            );
            if let Err(error) = self.channels.publish(room, event).await {
                // Subscribers heal the gap from the store; the layer logs its outages once.
                tracing::debug!(%error, %room, seq = message.seq, "publish failed");
            }
        }
    }
}

/// The newest stored message of a room, as a live event (for channel layer resyncs).
pub struct StoreHeads {
    backend: Arc<dyn Backend>,
}

impl StoreHeads {
    /// Reads heads from `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }
}

#[async_trait::async_trait]
impl HeadSource for StoreHeads {
    async fn head(&self, room: &RoomName) -> Option<Event> {
        match self.backend.recent(room, 1).await {
            Ok(messages) => messages.last().map(|message| {
                Event::stored(
                    message.seq,
                    message_frame(room.as_str(), message, false).into(),
                    message.kind.plain(),
                )
            }),
            Err(error) => {
                tracing::warn!(%error, %room, "cannot read the room's head for a resync");
                None
            }
        }
    }

    async fn last_seqs(&self, rooms: &[RoomName]) -> Option<HashMap<RoomName, u64>> {
        match self.backend.db().room_heads(rooms).await {
            Ok(heads) => Some(heads),
            Err(error) => {
                tracing::warn!(%error, "cannot read the rooms' heads for the heads check");
                None
            }
        }
    }
}
