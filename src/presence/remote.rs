//! What nodes tell each other about presence, over the channel layer (never seen by clients), and the task
//! that applies other nodes' news, sends this node's heartbeats and drops expired claims.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{Heartbeat, Member, Presence};
use crate::channels::Remote;

/// One node's presence news about one room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "m", rename_all = "snake_case")]
pub enum Announcement {
    /// The person's first socket in the room on the sending node.
    Join(Member),
    /// The person's last socket in the room on the sending node went.
    Leave(Member),
    /// Everyone the sending node holds in the room (its heartbeat, or the answer to `Ask`).
    Here(Vec<Member>),
    /// The sending node started serving the room: tell it whom you hold there.
    Ask,
    /// The sending node is stopping: it holds nobody any more.
    Gone,
}

impl Announcement {
    /// The announcement as JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses an announcement; `None` for anything malformed.
    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// Applies other nodes' news, heartbeats and sweeps until `stop`; then tells the others this node is gone.
pub async fn run(
    presence: Arc<Presence>,
    mut news: mpsc::Receiver<Remote>,
    stop: CancellationToken,
) {
    let settings = presence.settings();
    let mut heartbeat = tokio::time::interval(settings.heartbeat());
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(settings.sweep());
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            remote = news.recv() => match remote {
                Some((room, node, text)) => match Announcement::decode(&text) {
                    Some(announcement) => presence.remote(&room, node, announcement),
                    None => tracing::warn!(%room, "ignoring a malformed presence announcement"),
                },
                None => break,
            },
            _ = heartbeat.tick() => presence.heartbeat(Heartbeat::Serving),
            _ = sweep.tick() => presence.sweep(),
        }
    }
    presence.heartbeat(Heartbeat::Stopping);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_round_trip_and_garbage_is_refused() {
        for announcement in [
            Announcement::Join(Member {
                user: "ada".into(),
                guest: false,
            }),
            Announcement::Here(vec![Member {
                user: "bob".into(),
                guest: true,
            }]),
            Announcement::Ask,
            Announcement::Gone,
        ] {
            assert_eq!(
                Announcement::decode(&announcement.encode()),
                Some(announcement)
            );
        }
        assert_eq!(Announcement::decode(r#"{"op":"dance"}"#), None);
        assert_eq!(Announcement::decode("{"), None);
    }
}
