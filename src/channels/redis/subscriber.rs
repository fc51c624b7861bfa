//! The subscriber task: owns the pub/sub connection, injects other nodes' events into the local rings,
//! subscribes the rooms members join and unsubscribes the rooms nobody here is in any more.
//!
//! It never waits on Redis while it could be reading: at most one SUBSCRIBE or UNSUBSCRIBE is in flight
//! (so their order holds), every one carries all the rooms that were waiting and has [`OP_TIMEOUT`], and
//! the stream keeps being read meanwhile. A join registers its room in the shared [`Interest`] and waits
//! for the confirmation at most [`JOIN_WAIT`](super::JOIN_WAIT); one that times out, or comes while Redis
//! is away, is served locally and healed by the heads check. A call that times out means a stuck Redis:
//! the connection is dropped and re-opened with backoff; so does a liveness PING every [`LIVENESS`] that
//! is not answered in time (a cut link). After every (re)connect the healer resyncs the
//! rooms from the store, on its own task.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use redis::aio::PubSubSink;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::wire::{Incoming, Wire};
use super::{Backoff, Channels, Health, OP_TIMEOUT, Outgoing, PRUNE_EVERY};
use crate::channels::{MemoryLayer, Remote};
use crate::domain::RoomName;

/// Rooms in one SUBSCRIBE or UNSUBSCRIBE.
const ROOMS_PER_CALL: usize = 1000;
/// A connection that lived this long was healthy: the next loss starts the backoff afresh.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How often the connection is asked whether it is alive: a PING answered within [`OP_TIMEOUT`], or the
/// connection is dropped and opened again (then resynced). A link cut without a reset (nothing refused,
/// nothing arrives) is noticed within about `LIVENESS + OP_TIMEOUT`, not when TCP gives up.
const LIVENESS: Duration = Duration::from_secs(2);
/// Foreign clusters warned about (once each) before the rest are ignored silently.
const FOREIGN_WARNINGS: usize = 16;

/// The rooms this node wants on Redis, shared by joins (which add) and the subscriber task.
#[derive(Default)]
pub(super) struct Interest {
    state: Mutex<InterestState>,
    /// Notified when a join adds a room that is not confirmed.
    work: Notify,
}

#[derive(Default)]
struct InterestState {
    /// Rooms with members here (pruned every [`PRUNE_EVERY`]).
    wanted: HashSet<RoomName>,
    /// Wanted rooms whose subscription Redis confirmed on the current connection.
    confirmed: HashSet<RoomName>,
    /// Wanted rooms not confirmed yet, in the order joins asked.
    fresh: Vec<RoomName>,
    /// Joins waiting for their room's confirmation.
    waiters: HashMap<RoomName, Vec<oneshot::Sender<()>>>,
}

impl Interest {
    /// Adds `room`; `None` if it is confirmed already, else a receiver answered once it is (or once the
    /// subscriber gives up on it) when `wait` is set.
    pub(super) fn want(&self, room: &RoomName, wait: bool) -> Option<oneshot::Receiver<()>> {
        let mut state = self.lock();
        if state.confirmed.contains(room) {
            return None;
        }
        // A room wanted already is in a call in flight, or in the next connection's first one.
        if state.wanted.insert(room.clone()) {
            state.fresh.push(room.clone());
        }
        let waiter = wait.then(|| {
            let (done, confirmed) = oneshot::channel();
            state.waiters.entry(room.clone()).or_default().push(done);
            confirmed
        });
        drop(state);
        self.work.notify_one();
        waiter
    }

    fn lock(&self) -> MutexGuard<'_, InterestState> {
        // Every update keeps the sets consistent before anything can panic: keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl InterestState {
    fn confirm(&mut self, room: &RoomName) {
        if self.wanted.contains(room) {
            self.confirmed.insert(room.clone());
        }
        for done in self.waiters.remove(room).unwrap_or_default() {
            let _ = done.send(());
        }
    }
}

/// Owns the pub/sub connection.
pub(super) struct Subscriber {
    pub(super) client: redis::Client,
    pub(super) local: Arc<MemoryLayer>,
    pub(super) interest: Arc<Interest>,
    /// Where other nodes' presence news goes.
    pub(super) news: mpsc::Sender<Remote>,
    pub(super) health: Arc<Health>,
    pub(super) wire: Wire,
    pub(super) channels: Channels,
    /// Notified after every (re)connect: the healer resyncs the rooms.
    pub(super) resync: Arc<Notify>,
    /// Foreign clusters seen on this prefix (warned about once each).
    pub(super) foreign: HashSet<String>,
}

/// A SUBSCRIBE or UNSUBSCRIBE in flight: its rooms, and whether Redis confirmed it in time.
type Call = BoxFuture<'static, (Op, bool)>;

enum Op {
    Subscribe(Vec<RoomName>),
    Unsubscribe(Vec<RoomName>),
}

impl Subscriber {
    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
            let connected_at = Instant::now();
            let connect = tokio::time::timeout(OP_TIMEOUT, self.client.get_async_pubsub());
            let error = tokio::select! {
                () = shutdown.cancelled() => return,
                connected = connect => match connected {
                    Ok(Ok(pubsub)) => self.serve(pubsub, &shutdown).await,
                    Ok(Err(error)) => error.to_string(),
                    Err(_) => "connect timed out".to_owned(),
                },
            };
            if shutdown.is_cancelled() {
                return;
            }
            self.health.set(
                &self.health.subscriber_up,
                false,
                "subscriber",
                Some(&error),
            );
            // Joins that waited are served locally; the next connection subscribes their rooms.
            self.interest.lock().waiters.clear();
            if connected_at.elapsed() > STABLE_AFTER {
                backoff = Backoff::default();
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff.next()) => {}
            }
        }
    }

    /// Serves one connection until it fails; returns why.
    async fn serve(&mut self, pubsub: redis::aio::PubSub, shutdown: &CancellationToken) -> String {
        let (sink, mut stream) = pubsub.split();
        // Every wanted room again, on this connection.
        let rooms: Vec<RoomName> = {
            let mut state = self.interest.lock();
            state.confirmed.clear();
            state.fresh.clear();
            state.wanted.iter().cloned().collect()
        };
        let mut on_redis: HashSet<RoomName> = HashSet::new();
        for chunk in rooms.chunks(ROOMS_PER_CALL) {
            let (_, ok) = call(sink.clone(), &self.channels, Op::Subscribe(chunk.to_vec())).await;
            if !ok {
                return "re-subscribing timed out or failed".into();
            }
            on_redis.extend(chunk.iter().cloned());
        }
        if rooms.is_empty() {
            let mut ping = sink.clone();
            let pong = tokio::time::timeout(OP_TIMEOUT, ping.ping::<String>()).await;
            if !matches!(pong, Ok(Ok(_))) {
                return "ping timed out or failed".into();
            }
        }
        {
            let mut state = self.interest.lock();
            for room in &rooms {
                state.confirm(room);
            }
        }
        self.health
            .set(&self.health.subscriber_up, true, "subscriber", None);
        self.resync.notify_one();
        let mut in_flight: Option<Call> = None;
        let mut leaving: Vec<RoomName> = Vec::new();
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.reset();
        let mut liveness = tokio::time::interval(LIVENESS);
        liveness.reset();
        let mut pinging: Option<BoxFuture<'static, bool>> = None;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return "stopping".into(),
                (op, ok) = async {
                    match in_flight.as_mut() {
                        Some(call) => call.await,
                        None => std::future::pending().await,
                    }
                }, if in_flight.is_some() => {
                    in_flight = None;
                    if !ok {
                        return "a subscription call timed out or failed".into();
                    }
                    let mut state = self.interest.lock();
                    match op {
                        Op::Subscribe(rooms) => {
                            for room in rooms {
                                state.confirm(&room);
                                on_redis.insert(room);
                            }
                        }
                        Op::Unsubscribe(rooms) => {
                            for room in &rooms {
                                on_redis.remove(room);
                            }
                        }
                    }
                }
                alive = async {
                    match pinging.as_mut() {
                        Some(ping) => ping.await,
                        None => std::future::pending().await,
                    }
                }, if pinging.is_some() => {
                    pinging = None;
                    if !alive {
                        return "liveness ping timed out or failed".into();
                    }
                }
                _ = liveness.tick(), if pinging.is_none() => {
                    let mut sink = sink.clone();
                    pinging = Some(Box::pin(async move {
                        // Subscribed, Redis answers a PING with an array: any answer will do.
                        let pong = tokio::time::timeout(OP_TIMEOUT, sink.ping::<redis::Value>());
                        matches!(pong.await, Ok(Ok(_)))
                    }));
                }
                () = self.interest.work.notified(), if in_flight.is_none() => {}
                _ = prune.tick() => leaving.extend(self.prune()),
                // Last: a busy stream must not starve the joins' calls.
                message = stream.next() => match message {
                    Some(message) => self.inject(&message),
                    None => return "connection closed".into(),
                },
            }
            if in_flight.is_none()
                && let Some(op) = self.next_op(&on_redis, &mut leaving)
            {
                in_flight = Some(Box::pin(call(sink.clone(), &self.channels, op)));
            }
        }
    }

    /// The next call to make: the rooms joins are waiting for first, then the rooms nobody here is in.
    fn next_op(&self, on_redis: &HashSet<RoomName>, leaving: &mut Vec<RoomName>) -> Option<Op> {
        let mut state = self.interest.lock();
        let fresh = std::mem::take(&mut state.fresh);
        let mut subscribe = Vec::new();
        for room in fresh {
            if !state.wanted.contains(&room) || state.confirmed.contains(&room) {
                continue;
            }
            if on_redis.contains(&room) {
                // Joined again before its unsubscribe went out: still subscribed.
                state.confirm(&room);
            } else if subscribe.len() < ROOMS_PER_CALL {
                subscribe.push(room);
            } else {
                state.fresh.push(room);
            }
        }
        if !subscribe.is_empty() {
            return Some(Op::Subscribe(subscribe));
        }
        leaving.retain(|room| !state.wanted.contains(room) && on_redis.contains(room));
        if leaving.is_empty() {
            return None;
        }
        let take = leaving.len().min(ROOMS_PER_CALL);
        Some(Op::Unsubscribe(leaving.drain(..take).collect()))
    }

    /// Forgets the wanted rooms without members here; returns them (to unsubscribe).
    fn prune(&self) -> Vec<RoomName> {
        let mut state = self.interest.lock();
        let idle: Vec<RoomName> = state
            .wanted
            .iter()
            .filter(|room| self.local.receivers(room) == 0 && !state.waiters.contains_key(*room))
            .cloned()
            .collect();
        for room in &idle {
            state.wanted.remove(room);
            state.confirmed.remove(room);
        }
        idle
    }

    fn inject(&mut self, message: &redis::Msg) {
        if self.wire.is_own(message.get_payload_bytes()) {
            return; // delivered locally already
        }
        let Some(room) = self.channels.room(message.get_channel_name()) else {
            return;
        };
        match self.wire.decode(&room, message.get_payload_bytes()) {
            Incoming::Own => {} // delivered locally already
            Incoming::Delivered {
                outgoing: Outgoing::Event(event),
                ..
            } => self.local.send_local(&room, event),
            Incoming::Delivered {
                node,
                outgoing: Outgoing::Announce(text),
            } => {
                // Lost news heals at the sender's next heartbeat.
                let _ = self.news.try_send((room, node, text.to_string()));
            }
            Incoming::ForeignCluster(cluster) => {
                if self.foreign.len() < FOREIGN_WARNINGS && self.foreign.insert(cluster.clone()) {
                    tracing::warn!(
                        %room,
                        %cluster,
                        ours = %self.wire.cluster(),
                        "ignoring another cluster's events on this redis prefix (if it is this \
                         deployment, give every node the same --cluster-id)"
                    );
                }
            }
            Incoming::WrongRoom(named) => {
                tracing::warn!(%room, %named, "ignoring a redis payload naming another room");
            }
            Incoming::Malformed => tracing::warn!(%room, "ignoring a malformed redis message"),
        }
    }
}

/// Runs one SUBSCRIBE or UNSUBSCRIBE of `op`'s rooms within [`OP_TIMEOUT`].
fn call(
    mut sink: PubSubSink,
    channels: &Channels,
    op: Op,
) -> impl Future<Output = (Op, bool)> + use<> {
    let names: Vec<String> = match &op {
        Op::Subscribe(rooms) | Op::Unsubscribe(rooms) => {
            rooms.iter().map(|r| channels.of(r)).collect()
        }
    };
    async move {
        let done = async {
            match &op {
                Op::Subscribe(_) => sink.subscribe(&names).await,
                Op::Unsubscribe(_) => sink.unsubscribe(&names).await,
            }
        };
        let ok = matches!(tokio::time::timeout(OP_TIMEOUT, done).await, Ok(Ok(())));
        (op, ok)
    }
}
