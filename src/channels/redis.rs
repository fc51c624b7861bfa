//! The Redis channel layer (like channels_redis): committed messages travel between nodes over Redis pub/sub,
//! one channel per room, subscribed while this node has a member in the room. Each node delivers its own
//! messages locally at once and ignores its own echo from Redis.
//!
//! Redis may drop what it carries (a reconnect, a full output buffer). Nothing depends on it: a receiver that
//! sees a gap reads it from the store (shared/DESIGN.md, invariant 3), and after every reconnect this node
//! re-announces the newest stored message of each room it serves, so a lost tail heals without waiting for
//! the next message. Publishing never blocks the store writer: events go through a bounded outbox to a
//! publisher task that pipelines them, and keeps the newest event per room to re-send after a failure.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{ChannelError, ChannelLayer, Event, HeadSource, MemoryLayer};
use crate::domain::RoomName;
use crate::stats::Stats;

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
    outbox: mpsc::Sender<(RoomName, Event)>,
    health: Arc<Health>,
    node: u64,
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

/// `<node hex> <seq> <frame>`.
fn payload(node: u64, event: &Event) -> String {
    format!("{node:x} {} {}", event.seq, event.frame.as_str())
}

fn parse_payload(payload: &[u8]) -> Option<(u64, Event)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (node, rest) = text.split_once(' ')?;
    let (seq, frame) = rest.split_once(' ')?;
    let event = Event {
        seq: seq.parse().ok()?,
        frame: Utf8Bytes::from(frame),
    };
    Some((u64::from_str_radix(node, 16).ok()?, event))
}

#[async_trait::async_trait]
impl ChannelLayer for RedisLayer {
    async fn publish(&self, room: &RoomName, event: Event) -> Result<(), ChannelError> {
        self.local.send_local(room, event.clone());
        self.outbox.try_send((room.clone(), event)).map_err(|_| {
            Stats::add(&self.health.stats.layer_errors, 1);
            ChannelError::Unavailable("redis outbox full; other nodes heal from the store".into())
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
}

/// Owns the pub/sub connection: subscribes rooms on request, injects other nodes' events locally,
/// unsubscribes rooms nobody here is in, and resyncs every room after a reconnect.
struct Subscriber {
    client: redis::Client,
    local: Arc<MemoryLayer>,
    heads: Arc<dyn HeadSource>,
    health: Arc<Health>,
    node: u64,
    channels: Channels,
    /// Rooms this node wants: subscribed while connected, re-subscribed after a reconnect.
    wanted: HashSet<RoomName>,
}

impl Subscriber {
    async fn run(mut self, mut control: mpsc::Receiver<Subscribe>, shutdown: CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
            let connected = tokio::select! {
                () = shutdown.cancelled() => return,
                connected = tokio::time::timeout(OP_TIMEOUT, self.client.get_async_pubsub()) => connected,
            };
            let pubsub = match connected {
                Ok(Ok(pubsub)) => pubsub,
                Ok(Err(error)) => {
                    self.health.set(
                        &self.health.subscriber_up,
                        false,
                        "subscriber",
                        Some(&error),
                    );
                    if !self
                        .wait_serving_joins(&mut control, &shutdown, backoff.next())
                        .await
                    {
                        return;
                    }
                    continue;
                }
                Err(_) => {
                    self.health.set(
                        &self.health.subscriber_up,
                        false,
                        "subscriber",
                        Some(&"connect timed out"),
                    );
                    if !self
                        .wait_serving_joins(&mut control, &shutdown, backoff.next())
                        .await
                    {
                        return;
                    }
                    continue;
                }
            };
            let (mut sink, mut stream) = pubsub.split();
            let channels: Vec<String> = self.wanted.iter().map(|r| self.channels.of(r)).collect();
            if !channels.is_empty() && sink.subscribe(&channels).await.is_err() {
                continue;
            }
            self.health
                .set(&self.health.subscriber_up, true, "subscriber", None);
            backoff = Backoff::default();
            self.resync().await;
            let mut prune = tokio::time::interval(PRUNE_EVERY);
            prune.reset();
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return,
                    message = stream.next() => match message {
                        Some(message) => self.inject(&message),
                        None => break,
                    },
                    request = control.recv() => {
                        let Some(Subscribe { room, done }) = request else { return };
                        let fresh = self.wanted.insert(room.clone());
                        let failed = fresh
                            && !matches!(tokio::time::timeout(OP_TIMEOUT, sink.subscribe(self.channels.of(&room))).await, Ok(Ok(())));
                        // A join never waits on a broken Redis: it is served locally and resynced later.
                        let _ = done.send(());
                        if failed {
                            break;
                        }
                    }
                    _ = prune.tick() => {
                        let idle: Vec<RoomName> = self
                            .wanted
                            .iter()
                            .filter(|room| self.local.receivers(room) == 0)
                            .cloned()
                            .collect();
                        if !idle.is_empty() {
                            let channels: Vec<String> = idle.iter().map(|r| self.channels.of(r)).collect();
                            if sink.unsubscribe(&channels).await.is_err() {
                                break;
                            }
                            for room in &idle {
                                self.wanted.remove(room);
                            }
                        }
                    }
                }
            }
            self.health.set(
                &self.health.subscriber_up,
                false,
                "subscriber",
                Some(&"connection closed"),
            );
        }
    }

    /// Waits `delay` before the next connect attempt, answering joins meanwhile (they are served locally
    /// and resynced once Redis is back). False when the node is stopping.
    async fn wait_serving_joins(
        &mut self,
        control: &mut mpsc::Receiver<Subscribe>,
        shutdown: &CancellationToken,
        delay: Duration,
    ) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = &mut sleep => return true,
                request = control.recv() => {
                    let Some(Subscribe { room, done }) = request else { return false };
                    self.wanted.insert(room);
                    let _ = done.send(());
                }
            }
        }
    }

    fn inject(&self, message: &redis::Msg) {
        let Some(room) = self.channels.room(message.get_channel_name()) else {
            return;
        };
        match parse_payload(message.get_payload_bytes()) {
            Some((node, _)) if node == self.node => {} // our own, delivered locally already
            Some((_, event)) => self.local.send_local(&room, event),
            None => tracing::warn!(%room, "ignoring a malformed redis message"),
        }
    }

    /// Re-announces the newest stored message of every wanted room locally: members that missed anything
    /// while Redis was away see the gap and catch up from the store.
    async fn resync(&self) {
        for room in &self.wanted {
            if let Some(event) = self.heads.head(room).await {
                self.local.send_local(room, event);
            }
        }
        if !self.wanted.is_empty() {
            tracing::info!(
                rooms = self.wanted.len(),
                "resynced rooms after connecting to redis"
            );
        }
    }
}

/// Pipelines outgoing events to Redis. After a failure it keeps the newest event of each room and sends
/// those first once reconnected (members elsewhere catch up on anything older from the store).
async fn publisher(
    client: redis::Client,
    channels: Channels,
    mut outbox: mpsc::Receiver<(RoomName, Event)>,
    health: Arc<Health>,
    node: u64,
    shutdown: CancellationToken,
) {
    let mut unsent: HashMap<RoomName, Event> = HashMap::new();
    let mut backoff = Backoff::default();
    loop {
        let connected = tokio::select! {
            () = shutdown.cancelled() => return,
            connected = tokio::time::timeout(OP_TIMEOUT, client.get_multiplexed_async_connection()) => connected,
        };
        let mut conn = match connected {
            Ok(Ok(conn)) => conn,
            _ => {
                health.set(
                    &health.publisher_up,
                    false,
                    "publisher",
                    Some(&"cannot connect"),
                );
                // Keep draining the outbox while waiting, so the newest event per room is what is kept.
                let sleep = tokio::time::sleep(backoff.next());
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = &mut sleep => break,
                        event = outbox.recv() => match event {
                            Some((room, event)) => keep_newest(&mut unsent, room, event),
                            None => return,
                        },
                    }
                }
                continue;
            }
        };
        health.set(&health.publisher_up, true, "publisher", None);
        backoff = Backoff::default();
        loop {
            let mut batch: Vec<(RoomName, Event)> = unsent.drain().collect();
            if batch.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    event = outbox.recv() => match event {
                        Some(event) => batch.push(event),
                        None => return,
                    },
                }
            }
            while batch.len() < PIPELINE {
                match outbox.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            for (room, event) in &batch {
                pipe.publish(channels.of(room), payload(node, event))
                    .ignore();
            }
            let sent = tokio::time::timeout(OP_TIMEOUT, pipe.query_async::<()>(&mut conn)).await;
            if !matches!(sent, Ok(Ok(()))) {
                for (room, event) in batch {
                    keep_newest(&mut unsent, room, event);
                }
                health.set(
                    &health.publisher_up,
                    false,
                    "publisher",
                    Some(&"publish failed"),
                );
                break;
            }
        }
    }
}

fn keep_newest(unsent: &mut HashMap<RoomName, Event>, room: RoomName, event: Event) {
    match unsent.get(&room) {
        Some(kept) if kept.seq >= event.seq => {}
        _ => {
            unsent.insert(room, event);
        }
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
        let event = Event {
            seq: 42,
            frame: Utf8Bytes::from(r#"{"type":"message","message":"a b c"}"#),
        };
        let (node, back) = parse_payload(payload(0xabc, &event).as_bytes()).expect("parses");
        assert_eq!(
            (node, back.seq, back.frame.as_str()),
            (0xabc, 42, event.frame.as_str())
        );
        for garbage in [&b""[..], b"zz 1 {}", b"1 x {}", b"1", b"\xff\xfe"] {
            assert!(parse_payload(garbage).is_none());
        }
    }
}
