//! The Redis channel layer (like channels_redis): committed messages travel between nodes over Redis pub/sub,
//! one channel per room, subscribed while this node has a member in the room. Each node delivers its own
//! messages locally at once and ignores its own echo from Redis; every payload names its cluster and room,
//! and a node delivers only its own cluster's payloads about the channel's room (`wire.rs`).
//!
//! Redis may drop what it carries (a reconnect, a full output buffer, a node that died between commit and
//! PUBLISH). Nothing depends on it: a receiver that sees a gap reads it from the store (docs/ARCHITECTURE.md,
//! invariant 3), and the heads check (`heal.rs`) compares every served room with the store every couple of
//! seconds and after every reconnect, so a lost tail heals without waiting for the next message. Publishing
//! never blocks the store writer: events go through a byte-bounded outbox (`outbox.rs`) to a publisher task
//! that pipelines them and drains them when the node stops (`publisher.rs`). Every Redis call has a timeout,
//! and a join never waits on Redis longer than [`JOIN_WAIT`] (`subscriber.rs`).

mod heal;
mod outbox;
mod probe;
mod publisher;
mod subscriber;
mod wire;

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::ring::Receiver;
use super::{ChannelError, ChannelLayer, ClusterId, Event, HeadSource, MemoryLayer, Remote};

use crate::domain::RoomName;
use crate::stats::Stats;
use heal::Healer;
use outbox::{Outbox, Pushed};
use probe::Probe;
use publisher::Publisher;
use subscriber::{Interest, Subscriber};
use wire::Wire;

/// Bytes the outbox may hold unless told otherwise (`--redis-outbox-bytes`).
pub const DEFAULT_OUTBOX_BYTES: usize = 32 * 1024 * 1024;
/// Events in one pipelined round trip.
const PIPELINE: usize = 512;
/// How long one Redis operation may take before the connection is treated as lost (stuck).
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a join waits for Redis to confirm its room's subscription before it is served locally.
pub const JOIN_WAIT: Duration = Duration::from_secs(2);
/// How often rooms without local members are unsubscribed.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// How a Redis layer is set up.
pub struct RedisSettings {
    /// `redis://`, or `rediss://` for TLS (see docs/DEPLOY.md); credentials in the URL.
    pub url: String,
    /// Prefix of this chat's channels.
    pub prefix: String,
    /// The deployment's id in every payload.
    pub cluster: ClusterId,
    /// Events a room's live buffer holds at most.
    pub room_buffer: usize,
    /// Bytes a room's live buffer holds at most.
    pub room_buffer_bytes: usize,
    /// Bytes the outbox holds at most.
    pub outbox_bytes: usize,
    /// How often the heads of the served rooms are checked against the store.
    pub heal_every: Duration,
}

/// A channel layer spanning every node that shares one Redis.
pub struct RedisLayer {
    local: Arc<MemoryLayer>,
    interest: Arc<Interest>,
    outbox: Arc<Outbox>,
    health: Arc<Health>,
    probe: Probe,
    /// Asks the publisher to send what is left and finish.
    drain: CancellationToken,
    /// Cancelled once the publisher has finished.
    drained: CancellationToken,
    node: u64,
}

/// The layer's three tasks, not running yet: the node runs them in its table of background tasks, with
/// the token that stops the layer last (after the writer's last commits were drained to Redis).
pub struct LayerTasks {
    subscriber: Subscriber,
    healer: Healer,
    publisher: Publisher,
}

impl LayerTasks {
    /// Each task with its name, each running until `shutdown` is cancelled.
    pub fn run(self, shutdown: CancellationToken) -> [(&'static str, BoxFuture<'static, ()>); 3] {
        [
            (
                "redis subscriber",
                Box::pin(self.subscriber.run(shutdown.clone())),
            ),
            (
                "redis heads check",
                Box::pin(self.healer.run(shutdown.clone())),
            ),
            ("redis publisher", Box::pin(self.publisher.run(shutdown))),
        ]
    }
}

/// What travels between nodes on a room's channel.
#[derive(Clone, Debug)]
enum Outgoing {
    /// An event for the room's members (stored, or ephemeral).
    Event(Event),
    /// Presence news for the other nodes, never shown to clients.
    Announce(Arc<str>),
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
    /// Starts the layer. It serves local members at once and connects (and reconnects) to Redis in the
    /// background, on the tasks returned beside it (the caller runs them, see [`LayerTasks`]); `heads`
    /// tells it the stored heads of rooms for resyncs and the heads check.
    pub fn start(
        settings: RedisSettings,
        heads: Arc<dyn HeadSource>,
        news: mpsc::Sender<Remote>,
        stats: Arc<Stats>,
    ) -> Result<(Self, LayerTasks), ChannelError> {
        let client = redis::Client::open(settings.url.as_str()).map_err(|e| {
            let hint = match settings.url.starts_with("rediss://") {
                true => " (rediss:// needs chatweb built with the redis crate's TLS features: docs/DEPLOY.md)",
                false => "",
            };
            ChannelError::Unavailable(format!("invalid redis URL: {e}{hint}"))
        })?;
        let local = Arc::new(MemoryLayer::bounded(
            settings.room_buffer,
            settings.room_buffer_bytes,
        ));
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
        let wire = Wire::new(&settings.cluster, node);
        let channels = Channels(Arc::from(format!("{}:room:", settings.prefix)));
        let interest = Arc::new(Interest::default());
        let outbox = Arc::new(Outbox::new(settings.outbox_bytes));
        let resync = Arc::new(Notify::new());
        let (drain, drained) = (CancellationToken::new(), CancellationToken::new());
        let tasks = LayerTasks {
            subscriber: Subscriber {
                client: client.clone(),
                local: local.clone(),
                interest: interest.clone(),
                news,
                health: health.clone(),
                wire: wire.clone(),
                channels: channels.clone(),
                resync: resync.clone(),
                foreign: HashSet::new(),
            },
            healer: Healer {
                local: local.clone(),
                heads,
                every: settings.heal_every,
                resync,
            },
            publisher: Publisher {
                client: client.clone(),
                channels,
                wire,
                outbox: outbox.clone(),
                health: health.clone(),
                drain: drain.clone(),
                finished: drained.clone(),
            },
        };
        let layer = Self {
            local,
            interest,
            outbox,
            health,
            probe: Probe::new(client),
            drain,
            drained,
            node,
        };
        Ok((layer, tasks))
    }

    /// This node's id in Redis payloads.
    pub fn node_id(&self) -> u64 {
        self.node
    }

    fn queue(&self, room: &RoomName, outgoing: Outgoing) -> Pushed {
        let pushed = self.outbox.push(room, outgoing);
        if pushed != Pushed::Queued {
            Stats::add(&self.health.stats.layer_errors, 1);
        }
        pushed
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

#[async_trait::async_trait]
impl ChannelLayer for RedisLayer {
    async fn publish(&self, room: &RoomName, event: Event) -> Result<(), ChannelError> {
        self.local.send_local(room, event.clone());
        match self.queue(room, Outgoing::Event(event)) {
            Pushed::Queued => Ok(()),
            Pushed::KeptNewest => Err(ChannelError::Unavailable(
                "redis outbox full; kept as the room's newest, older ones heal from the store"
                    .into(),
            )),
            Pushed::Dropped => Err(ChannelError::Unavailable(
                "redis outbox full; other nodes heal from the store".into(),
            )),
        }
    }

    async fn subscribe(&self, room: &RoomName) -> Result<Receiver, ChannelError> {
        let receiver = self.local.subscribe_local(room);
        // While Redis is away a join is served locally at once and resynced once it is back.
        let up = self.health.subscriber_up.load(Ordering::Relaxed);
        if let Some(confirmed) = self.interest.want(room, up)
            && tokio::time::timeout(JOIN_WAIT, confirmed).await.is_err()
        {
            tracing::debug!(%room, "redis did not confirm the subscription in time; serving locally");
            Stats::add(&self.health.stats.layer_errors, 1);
        }
        Ok(receiver)
    }

    async fn ready(&self) -> bool {
        self.probe
            .ready(self.health.subscriber_up.load(Ordering::Relaxed))
            .await
    }

    async fn drain(&self, within: Duration) {
        self.drain.cancel();
        if tokio::time::timeout(within, self.drained.cancelled())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.outbox.len(),
                "the redis outbox did not drain in time; the other nodes heal the rest from the store"
            );
        }
    }

    fn local_rooms(&self) -> usize {
        self.local.active_rooms()
    }

    fn send_local(&self, room: &RoomName, event: Event) {
        self.local.send_local(room, event);
    }

    fn publish_ephemeral(&self, room: &RoomName, event: Event) {
        self.local.send_local(room, event.clone());
        // Ephemeral: under load it is dropped.
        self.queue(room, Outgoing::Event(event));
    }

    fn announce(&self, room: &RoomName, announcement: String) {
        // Lost news heals at the next heartbeat.
        self.queue(room, Outgoing::Announce(Arc::from(announcement)));
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
