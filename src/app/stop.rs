//! The stop sequence, read top to bottom in [`Stopping::run`]: each phase is a function, bounded by the
//! node's `--shutdown-secs` deadline (what is still running at its bound is left behind or dropped, with a
//! warning), and it runs after the shutdown token is cancelled (a signal, or a background task's panic).
//! Requests and sockets get three quarters of the bound; the rest is kept for the store's last commit and
//! close, which come before the Redis layer's drain because a drain waits for Redis up to the bound, while
//! the store must close (SQLite checkpoints its log then) whatever Redis does.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::serve::Connections;
use super::tasks::{StopOn, Tasks};
use crate::channels::ChannelLayer;
use crate::storage::{Backend, Store};

/// What a node that stopped serving still has to stop, in the order [`Stopping::run`] stops it.
pub(super) struct Stopping {
    /// The HTTP connections finishing their request in flight.
    pub connections: Connections,
    /// The WebSocket consumers; each got the shutdown token, answers its pending sends and closes.
    pub sockets: TaskTracker,
    /// The node's background tasks.
    pub tasks: Tasks,
    /// For the read marks still in memory.
    pub store: Store,
    /// The database, closed once the writer and the watchers are done with it.
    pub backend: Arc<dyn Backend>,
    /// The channel layer, drained after the writer's last commits.
    pub channels: Arc<dyn ChannelLayer>,
    /// `--shutdown-secs`: the whole sequence takes at most this.
    pub bound: Duration,
}

impl Stopping {
    /// Stops the node, phase by phase; returns the task table (to read a panicked task's name from it).
    pub async fn run(self) -> Tasks {
        let Self {
            connections,
            sockets,
            mut tasks,
            store,
            backend,
            channels,
            bound,
        } = self;
        let deadline = Instant::now() + bound;
        let drain_until = deadline - bound / 4;
        // 1. Stop accepting: `serve` returned once the shutdown token was cancelled, and closed the listener.
        // 2. Close the sockets with 1001 (after their pending sends are answered) and finish requests.
        close_connections(&connections, &sockets, drain_until).await;
        // Presence (which tells the other nodes this one is gone) and retention stopped with the sockets.
        tasks.stop(StopOn::Sockets, drain_until).await;
        // 3. Let the writer store the read marks and its last batch.
        let written = finish_writes(&store, &mut tasks, deadline).await;
        // 4. Stop the log watchers and periodic chores: nobody is left to read their news.
        tasks.stop(StopOn::Watchers, deadline).await;
        // 5. Close the store, unless the writer is still writing (it is dropped with the process then).
        if written {
            close_store(backend.as_ref(), deadline).await;
        }
        // 6. Close the layer: the writer's last commits reach the other nodes first.
        close_layer(channels.as_ref(), &mut tasks, deadline).await;
        tracing::info!("chatweb stopped");
        tasks
    }
}

/// Waits until `until` for every HTTP connection and WebSocket consumer to end; drops the rest.
async fn close_connections(connections: &Connections, sockets: &TaskTracker, until: Instant) {
    sockets.close();
    tracing::info!(
        http = connections.len(),
        websockets = sockets.len(),
        "stopping: finishing requests and closing WebSocket connections"
    );
    let drained = tokio::time::timeout_at(until, async {
        connections.wait().await;
        sockets.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            http = connections.len(),
            websockets = sockets.len(),
            "connections still open at the shutdown bound are dropped"
        );
        connections.drop_all();
    }
}

/// Hands the read marks to the writer, then lets it store everything queued and answer every sender;
/// false if it was still writing at `until`.
async fn finish_writes(store: &Store, tasks: &mut Tasks, until: Instant) -> bool {
    if tokio::time::timeout_at(until, store.flush_marks())
        .await
        .is_err()
    {
        tracing::warn!("read marks were not stored within the shutdown bound");
    }
    let finished = tasks.stop(StopOn::Writes, until).await;
    if !finished {
        tracing::error!("the store writer did not finish within the shutdown bound");
    }
    finished
}

/// Closes the database's connections (for SQLite, the last one checkpoints the log).
async fn close_store(backend: &dyn Backend, until: Instant) {
    if tokio::time::timeout_at(until, backend.close())
        .await
        .is_err()
    {
        tracing::error!("the database did not close within the shutdown bound");
    }
}

/// Drains the layer's outbox until `until`, then stops its tasks.
async fn close_layer(channels: &dyn ChannelLayer, tasks: &mut Tasks, until: Instant) {
    channels
        .drain(until.saturating_duration_since(Instant::now()))
        .await;
    tasks.stop(StopOn::Layer, until).await;
}
