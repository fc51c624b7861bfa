//! `Fanout`: the store writer's [`CommitListener`]. Encodes each committed message's frame once and
//! publishes it to the room on the channel layer; every recipient shares those bytes.

use std::sync::Arc;

use crate::channels::{ChannelLayer, Event};
use crate::domain::RoomName;
use crate::storage::{CommitListener, StoredMessage};
use crate::ws::protocol::message_frame;

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
            let event = Event {
                seq: message.seq,
                frame: message_frame(room.as_str(), message, false).into(),
            };
            if let Err(error) = self.channels.publish(room, event).await {
                // Subscribers heal the gap from the store at the next message.
                tracing::warn!(%error, %room, seq = message.seq, "publish failed");
            }
        }
    }
}
