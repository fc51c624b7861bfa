//! The Redis channel layer (like channels_redis): committed messages travel between nodes over Redis pub/sub,
//! one channel per room, subscribed while this node has a member in the room. Each node delivers its own
//! messages locally at once and ignores its own echo from Redis.
//!
//! Redis may drop what it carries (a reconnect, a full output buffer). Nothing depends on it: a receiver that
//! sees a gap reads it from the store (shared/DESIGN.md, invariant 3), and after every reconnect this node
//! re-announces the newest stored message of each room it serves, so a lost tail heals without waiting for
//! the next message. Publishing never blocks the store writer: events go through a bounded outbox to a
//! publisher task that pipelines them, and keeps the newest event per room to re-send after a failure.

mod publisher;
mod subscriber;

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{ChannelError, ChannelLayer, Event, HeadSource, MemoryLayer, Remote};

use crate::domain::RoomName;
use crate::stats::Stats;
use publisher::publisher;
use subscriber::Subscriber;

/// Events waiting for the publisher before new ones are dropped (and healed from the store).
const OUTBOX: usize = 65_536;
/// Events in one pipelined round trip.
const PIPELINE: usize = 512;
/// How long one Redis operation may take before the connection is treated as lost.
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// How often rooms without local members are unsubscribed.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// A channel layer spanning every node that shares one Redis.
pub struct RedisLayer {
    local: Arc<MemoryLayer>,
    client: redis::Client,
    control: mpsc::Sender<Subscribe>,
    outbox: mpsc::Sender<(RoomName, Outgoing)>,
    health: Arc<Health>,
    node: u64,
}

/// What travels between nodes on a room's channel.
#[derive(Clone, Debug)]
enum Outgoing {
    /// An event for the room's members (stored, or ephemeral).
    Event(Event),
    /// Presence news for the other nodes, never shown to clients.
    Announce(Arc<str>),
}

/// A request to the subscriber task: subscribe to a room, answer once Redis confirms.
struct Subscribe {
    room: RoomName,
    done: oneshot::Sender<()>,
}

/// Connection state shared by the tasks, logged once per change.
struct Health {
    subscriber_up: AtomicBool,
    publisher_up: AtomicBool,
    stats: Arc<Stats>,
}

impl Health {
    fn set(&self, flag: &AtomicBool, up: bool, what: &str, error: Option<&dyn std::fmt::Display>) {
        if flag.swap(up, Ordering::Relaxed) != up {
            match (up, error) {
                (true, _) => tracing::info!("redis {what} connected"),
                (false, Some(error)) => {
                    tracing::warn!(%error, "redis {what} lost; retrying with backoff")
                }
                (false, None) => tracing::warn!("redis {what} lost; retrying with backoff"),
            }
        }
        if !up {
            Stats::add(&self.stats.layer_errors, 1);
        }
    }
}

impl RedisLayer {
    /// Starts the layer on `url`. It serves local members at once and connects (and reconnects) to Redis
    /// in the background; `heads` tells it the newest stored message of a room for resyncs.
    pub fn start(
        url: &str,
        prefix: &str,
        capacity: usize,
        heads: Arc<dyn HeadSource>,
        news: mpsc::Sender<Remote>,
        stats: Arc<Stats>,
        shutdown: CancellationToken,
    ) -> Result<Self, ChannelError> {
        let client = redis::Client::open(url)
            .map_err(|e| ChannelError::Unavailable(format!("invalid redis URL: {e}")))?;
        let local = Arc::new(MemoryLayer::new(capacity));
        let node = {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            hasher.finish()
        };
        let health = Arc::new(Health {
            subscriber_up: AtomicBool::new(false),
            publisher_up: AtomicBool::new(false),
            stats,
        });
        let channels = Channels(Arc::from(format!("{prefix}:room:")));
        let (control, control_rx) = mpsc::channel(1024);
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX);
        tokio::spawn(
            Subscriber {
                client: client.clone(),
                local: local.clone(),
                heads,
                news,
                health: health.clone(),
                node,
                channels: channels.clone(),
                wanted: HashSet::new(),
            }
            .run(control_rx, shutdown.clone()),
        );
        tokio::spawn(publisher(
            client.clone(),
            channels,
            outbox_rx,
            health.clone(),
            node,
            shutdown,
        ));
        Ok(Self {
            local,
            client,
            control,
            outbox,
            health,
            node,
        })
    }

    /// This node's id in Redis payloads.
    pub fn node_id(&self) -> u64 {
        self.node
    }
}

/// Names of room channels in Redis: `<prefix>:room:<name>`.
#[derive(Clone)]
struct Channels(Arc<str>);

impl Channels {
    fn of(&self, room: &RoomName) -> String {
        format!("{}{room}", self.0)
    }

    fn room(&self, channel: &str) -> Option<RoomName> {
        channel.strip_prefix(&*self.0).and_then(RoomName::parse)
    }
}

/// `<node hex> <seq> <p|v|e|n> <text>`: `p` for stored frames every client gets, `v` for stored v2-only
/// ones, `e` for ephemeral v2 frames (seq 0), `n` for presence news between nodes (seq 0).
fn payload(node: u64, outgoing: &Outgoing) -> String {
    match outgoing {
        Outgoing::Event(event) => {
            let audience = match (event.ephemeral, event.plain) {
                (true, _) => 'e',
                (false, true) => 'p',
                (false, false) => 'v',
            };
            format!("{node:x} {} {audience} {}", event.seq, event.frame.as_str())
        }
        Outgoing::Announce(text) => format!("{node:x} 0 n {text}"),
    }
}

fn parse_payload(payload: &[u8]) -> Option<(u64, Outgoing)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (node, rest) = text.split_once(' ')?;
    let (seq, rest) = rest.split_once(' ')?;
    let (audience, frame) = rest.split_once(' ')?;
    let seq: u64 = seq.parse().ok()?;
    let frame = Utf8Bytes::from(frame);
    let outgoing = match audience {
        "p" => Outgoing::Event(Event::stored(seq, frame, true)),
        "v" => Outgoing::Event(Event::stored(seq, frame, false)),
        "e" => Outgoing::Event(Event::ephemeral(frame)),
        "n" => Outgoing::Announce(Arc::from(frame.as_str())),
        _ => return None,
    };
    Some((u64::from_str_radix(node, 16).ok()?, outgoing))
}

#[async_trait::async_trait]
impl ChannelLayer for RedisLayer {
    async fn publish(&self, room: &RoomName, event: Event) -> Result<(), ChannelError> {
        self.local.send_local(room, event.clone());
        self.outbox
            .try_send((room.clone(), Outgoing::Event(event)))
            .map_err(|_| {
                Stats::add(&self.health.stats.layer_errors, 1);
                ChannelError::Unavailable(
                    "redis outbox full; other nodes heal from the store".into(),
                )
            })
    }

    async fn subscribe(&self, room: &RoomName) -> Result<broadcast::Receiver<Event>, ChannelError> {
        let receiver = self.local.subscribe_local(room);
        let (done, confirmed) = oneshot::channel();
        let request = Subscribe {
            room: room.clone(),
            done,
        };
        self.control
            .send(request)
            .await
            .map_err(|_| ChannelError::Unavailable("redis layer stopped".into()))?;
        confirmed
            .await
            .map_err(|_| ChannelError::Unavailable("redis layer stopped".into()))?;
        Ok(receiver)
    }

    async fn ready(&self) -> bool {
        if !self.health.subscriber_up.load(Ordering::Relaxed) {
            return false;
        }
        let ping = async {
            let mut conn = self.client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        matches!(tokio::time::timeout(OP_TIMEOUT, ping).await, Ok(Ok(_)))
    }

    fn local_rooms(&self) -> usize {
        self.local.active_rooms()
    }

    fn send_local(&self, room: &RoomName, event: Event) {
        self.local.send_local(room, event);
    }

    fn publish_ephemeral(&self, room: &RoomName, event: Event) {
        self.local.send_local(room, event.clone());
        // Ephemeral: under load it may be dropped.
        let _ = self.outbox.try_send((room.clone(), Outgoing::Event(event)));
    }

    fn announce(&self, room: &RoomName, announcement: String) {
        // Lost news heals at the next heartbeat.
        let _ = self
            .outbox
            .try_send((room.clone(), Outgoing::Announce(Arc::from(announcement))));
    }
}

/// Exponential backoff from 100 ms to 5 s.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_garbage_is_refused() {
        let event = Event::stored(
            42,
            Utf8Bytes::from(r#"{"type":"message","message":"a b c"}"#),
            false,
        );
        let sent = payload(0xabc, &Outgoing::Event(event.clone()));
        let Some((node, Outgoing::Event(back))) = parse_payload(sent.as_bytes()) else {
            panic!("does not parse: {sent}");
        };
        assert_eq!(
            (
                node,
                back.seq,
                back.frame.as_str(),
                back.plain,
                back.ephemeral
            ),
            (0xabc, 42, event.frame.as_str(), false, false)
        );
        let typing = Outgoing::Event(Event::ephemeral(Utf8Bytes::from("{}")));
        assert!(matches!(
            parse_payload(payload(1, &typing).as_bytes()),
            Some((
                1,
                Outgoing::Event(Event {
                    ephemeral: true,
                    seq: 0,
                    ..
                })
            ))
        ));
        let news = Outgoing::Announce(Arc::from(r#"{"op":"ask"}"#));
        assert!(matches!(
            parse_payload(payload(1, &news).as_bytes()),
            Some((1, Outgoing::Announce(text))) if &*text == r#"{"op":"ask"}"#
        ));
        for garbage in [
            &b""[..],
            b"zz 1 p {}",
            b"1 x p {}",
            b"1 2 q {}",
            b"1 2 {}",
            b"1",
            b"\xff\xfe",
        ] {
            assert!(parse_payload(garbage).is_none());
        }
    }
}
