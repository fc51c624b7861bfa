//! The publisher task: pipelines outgoing events from the byte-bounded [`Outbox`] to Redis, so Redis never
//! slows the store writer. After a failure it keeps the newest event of each room and sends those once
//! reconnected; members elsewhere catch up on anything older from the store.
//!
//! When the node stops (after the writer's last commit) the layer asks it to drain: it sends whatever is
//! still queued, reconnecting at once if it was waiting out a backoff, and reports when the outbox is empty
//! or Redis failed; the layer bounds the wait. What a drain cannot send, the other nodes' heads check heals.

use std::sync::Arc;

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio_util::sync::CancellationToken;

use super::outbox::Outbox;
use super::wire::Wire;
use super::{Backoff, Channels, Health, OP_TIMEOUT, PIPELINE};

/// The publisher's ends: what it reads, and how it is told to stop.
pub(super) struct Publisher {
    pub(super) client: redis::Client,
    pub(super) channels: Channels,
    pub(super) wire: Wire,
    pub(super) outbox: Arc<Outbox>,
    pub(super) health: Arc<Health>,
    /// Cancelled when the node stops: send what is left, then finish.
    pub(super) drain: CancellationToken,
    /// Cancelled by the publisher once it has finished.
    pub(super) finished: CancellationToken,
}

/// Connection settings for the layer's request connections: every response within [`OP_TIMEOUT`].
pub(super) fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(OP_TIMEOUT))
        .set_response_timeout(Some(OP_TIMEOUT))
}

impl Publisher {
    /// Publishes until `shutdown` (which stops it at once) or until a drain has emptied the outbox.
    pub(super) async fn run(self, shutdown: CancellationToken) {
        let _finished = self.finished.clone().drop_guard();
        let mut backoff = Backoff::default();
        let config = connection_config();
        loop {
            let connect = tokio::time::timeout(
                OP_TIMEOUT,
                self.client
                    .get_multiplexed_async_connection_with_config(&config),
            );
            let connected = tokio::select! {
                () = shutdown.cancelled() => return,
                connected = connect => connected,
            };
            let Ok(Ok(mut conn)) = connected else {
                self.health.set(
                    &self.health.publisher_up,
                    false,
                    "publisher",
                    Some(&"cannot connect"),
                );
                if self.drain.is_cancelled() {
                    return self.give_up();
                }
                // While Redis is away only each room's newest event is worth sending.
                self.outbox.collapse();
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.drain.cancelled() => {}
                    () = tokio::time::sleep(backoff.next()) => {}
                }
                continue;
            };
            self.health
                .set(&self.health.publisher_up, true, "publisher", None);
            backoff = Backoff::default();
            match self.send_all(&mut conn, &shutdown).await {
                Sent::Finished => return,
                Sent::Failed if self.drain.is_cancelled() => return self.give_up(),
                Sent::Failed => {
                    self.health.set(
                        &self.health.publisher_up,
                        false,
                        "publisher",
                        Some(&"publish failed"),
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = self.drain.cancelled() => {}
                        () = tokio::time::sleep(backoff.next()) => {}
                    }
                }
            }
        }
    }

    /// Sends batches as they come until the drain empties the outbox (`Finished`) or Redis fails.
    async fn send_all(
        &self,
        conn: &mut MultiplexedConnection,
        shutdown: &CancellationToken,
    ) -> Sent {
        loop {
            let batch = self.outbox.take(PIPELINE);
            if batch.is_empty() {
                if self.drain.is_cancelled() {
                    return Sent::Finished;
                }
                tokio::select! {
                    () = shutdown.cancelled() => return Sent::Finished,
                    () = self.drain.cancelled() => {}
                    () = self.outbox.pushed() => {}
                }
                continue;
            }
            let mut pipe = redis::pipe();
            for (room, outgoing) in &batch {
                pipe.publish(self.channels.of(room), self.wire.encode(room, outgoing))
                    .ignore();
            }
            let sent = tokio::select! {
                () = shutdown.cancelled() => return Sent::Finished,
                sent = tokio::time::timeout(OP_TIMEOUT, pipe.query_async::<()>(conn)) => sent,
            };
            if !matches!(sent, Ok(Ok(()))) {
                for (room, outgoing) in batch {
                    self.outbox.keep_newest(&room, outgoing);
                }
                return Sent::Failed;
            }
        }
    }

    fn give_up(&self) {
        let left = self.outbox.len();
        if left > 0 {
            tracing::warn!(
                left,
                "stopping without publishing every event; the other nodes heal them from the store"
            );
        }
    }
}

enum Sent {
    Finished,
    Failed,
}
