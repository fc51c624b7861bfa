//! The subscriber task: owns the pub/sub connection, subscribes rooms when members join (answering once
//! Redis confirms), injects other nodes' events into the local rings, unsubscribes rooms nobody here is in,
//! and after every (re)connect re-subscribes and resyncs each room from the store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    Backoff, Channels, Health, OP_TIMEOUT, Outgoing, PRUNE_EVERY, Subscribe, parse_payload,
};
use crate::channels::{HeadSource, MemoryLayer, Remote};
use crate::domain::RoomName;

/// Owns the pub/sub connection: subscribes rooms on request, injects other nodes' events locally,
/// unsubscribes rooms nobody here is in, and resyncs every room after a reconnect.
pub(super) struct Subscriber {
    pub(super) client: redis::Client,
    pub(super) local: Arc<MemoryLayer>,
    pub(super) heads: Arc<dyn HeadSource>,
    /// Where other nodes' presence news goes.
    pub(super) news: mpsc::Sender<Remote>,
    pub(super) health: Arc<Health>,
    pub(super) node: u64,
    pub(super) channels: Channels,
    /// Rooms this node wants: subscribed while connected, re-subscribed after a reconnect.
    pub(super) wanted: HashSet<RoomName>,
}

impl Subscriber {
    pub(super) async fn run(
        mut self,
        mut control: mpsc::Receiver<Subscribe>,
        shutdown: CancellationToken,
    ) {
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
            Some((_, Outgoing::Event(event))) => self.local.send_local(&room, event),
            Some((node, Outgoing::Announce(text))) => {
                // Lost news heals at the sender's next heartbeat.
                let _ = self.news.try_send((room, node, text.to_string()));
            }
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
