//! The node's background tasks in one table: each has a name, the stop token it watches and its kept
//! `JoinHandle`. A task is spawned through [`Tasks::spawn`], which hands it its token, so the table cannot
//! say one token while the task watches another. Which token a task watches is when it stops: the stop
//! sequence (`stop.rs`) cancels the three tokens at named phases and waits for the tasks of each.
//!
//! A task that panics is fatal, as in a process with one thread: the panic is caught where the task runs,
//! logged with the task's name, and cancels the node's shutdown token, so the node stops in order and
//! `run_until_stopped` returns an error naming the task (a node without its moderation watcher, say, would
//! go on serving sockets that no ban can close).
//!
//! Parts of the node hand their tasks over rather than spawn them: the store writer (which joins its
//! completer, so a panic of either is the writer's) and the Redis layer's subscriber, heads check and
//! publisher (`channels::LayerTasks`). The SQLite checkpointer is the backend's own, started and stopped
//! with the database.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The token a task watches, named by the phase of the stop sequence that cancels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopOn {
    /// The node's shutdown token, cancelled first: the tasks that serve sockets stop with them.
    Sockets,
    /// The writer's: it stops taking writes, stores what is queued and answers every sender.
    Writes,
    /// Cancelled once the writer has stored its last batch: the log watchers and periodic chores, which
    /// read or feed the store and have nothing to do for sockets that are gone.
    Watchers,
    /// Cancelled last, once the writer's last commits reached the other nodes: the Redis layer.
    Layer,
}

/// One row of the table.
struct Task {
    name: &'static str,
    stop: StopOn,
    handle: JoinHandle<()>,
}

/// The table of the node's background tasks and the tokens that stop them.
pub struct Tasks {
    tasks: Vec<Task>,
    sockets: CancellationToken,
    writes: CancellationToken,
    watchers: CancellationToken,
    layer: CancellationToken,
    /// The name of the first task that panicked; set once, read when the node has stopped.
    failed: Arc<OnceLock<&'static str>>,
}

impl Tasks {
    /// An empty table whose [`StopOn::Sockets`] token is the node's `shutdown` token.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            tasks: Vec::new(),
            sockets: shutdown,
            writes: CancellationToken::new(),
            watchers: CancellationToken::new(),
            layer: CancellationToken::new(),
            failed: Arc::default(),
        }
    }

    /// The token behind `stop` (the Redis layer takes [`StopOn::Layer`]'s when it starts).
    pub fn token(&self, stop: StopOn) -> CancellationToken {
        match stop {
            StopOn::Sockets => self.sockets.clone(),
            StopOn::Writes => self.writes.clone(),
            StopOn::Watchers => self.watchers.clone(),
            StopOn::Layer => self.layer.clone(),
        }
    }

    /// Spawns the task `task(token)` under `name`, with the token of `stop`, and keeps its handle.
    pub fn spawn<F>(
        &mut self,
        name: &'static str,
        stop: StopOn,
        task: impl FnOnce(CancellationToken) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let task = task(self.token(stop));
        self.start(name, stop, task);
    }

    /// Spawns every `(name, task)` that `tasks(token)` gives, each with the token of `stop` (a part of the
    /// node that runs several, like the Redis layer).
    pub fn spawn_each<I, F>(&mut self, stop: StopOn, tasks: impl FnOnce(CancellationToken) -> I)
    where
        I: IntoIterator<Item = (&'static str, F)>,
        F: Future<Output = ()> + Send + 'static,
    {
        for (name, task) in tasks(self.token(stop)) {
            self.start(name, stop, task);
        }
    }

    /// Spawns `task`, which watches the token of `stop`, catching its panic.
    fn start<F>(&mut self, name: &'static str, stop: StopOn, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let running = AssertUnwindSafe(task).catch_unwind();
        let (shutdown, failed) = (self.sockets.clone(), self.failed.clone());
        let handle = tokio::spawn(async move {
            if let Err(panic) = running.await {
                let message = panic_message(panic.as_ref());
                tracing::error!(
                    task = name,
                    panic = message,
                    "background task panicked; stopping the node"
                );
                let _ = failed.set(name);
                shutdown.cancel();
            }
        });
        self.tasks.push(Task { name, stop, handle });
    }

    /// Cancels the token of `stop` and waits until `until` for the tasks that watch it; those still
    /// running then are left to end on their own (a warning names them). True when every one ended.
    pub async fn stop(&mut self, stop: StopOn, until: Instant) -> bool {
        self.token(stop).cancel();
        let (stopping, rest) = std::mem::take(&mut self.tasks)
            .into_iter()
            .partition::<Vec<_>, _>(|task| task.stop == stop);
        self.tasks = rest;
        let mut all_ended = true;
        for task in stopping {
            match tokio::time::timeout_at(until, task.handle).await {
                Ok(Ok(())) => tracing::debug!(task = task.name, "background task stopped"),
                Ok(Err(error)) => {
                    tracing::warn!(task = task.name, %error, "background task ended abnormally")
                }
                Err(_) => {
                    all_ended = false;
                    tracing::warn!(
                        task = task.name,
                        "background task still running at the shutdown bound"
                    );
                }
            }
        }
        all_ended
    }

    /// The name of the first task that panicked, if one did.
    pub fn failure(&self) -> Option<&'static str> {
        self.failed.get().copied()
    }

    /// The names of the tasks in the table, with their tokens, in the order they were spawned.
    pub fn names(&self) -> impl Iterator<Item = (&'static str, StopOn)> + '_ {
        self.tasks.iter().map(|task| (task.name, task.stop))
    }
}

/// The text of a panic's payload (a `&str` or a `String` for `panic!` with a message).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_task_that_panics_stops_the_node_and_is_named() {
        let shutdown = CancellationToken::new();
        let mut tasks = Tasks::new(shutdown.clone());
        tasks.spawn("quiet", StopOn::Watchers, |stop| async move {
            stop.cancelled().await
        });
        tasks.spawn("moderation log", StopOn::Watchers, |_| async {
            panic!("the log is gone")
        });
        tokio::time::timeout(Duration::from_secs(5), shutdown.cancelled())
            .await
            .expect("the panic cancels the shutdown token");
        assert_eq!(tasks.failure(), Some("moderation log"));
        // The others still stop in order.
        tasks.stop(StopOn::Watchers, soon()).await;
        assert_eq!(tasks.names().count(), 0);
    }

    #[tokio::test]
    async fn stopping_one_token_waits_for_its_tasks_and_leaves_the_others_running() {
        let shutdown = CancellationToken::new();
        let mut tasks = Tasks::new(shutdown.clone());
        let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
        for (name, stop) in [("presence", StopOn::Sockets), ("marks", StopOn::Watchers)] {
            let done = done.clone();
            tasks.spawn(name, stop, move |token| async move {
                token.cancelled().await;
                done.send(name).unwrap();
            });
        }
        assert!(tasks.stop(StopOn::Sockets, soon()).await);
        assert!(
            shutdown.is_cancelled(),
            "the sockets' token is the shutdown token"
        );
        assert_eq!(finished.try_recv().ok(), Some("presence"));
        assert!(finished.try_recv().is_err(), "the watchers still run");
        assert_eq!(
            tasks.names().collect::<Vec<_>>(),
            [("marks", StopOn::Watchers)]
        );
        tasks.stop(StopOn::Watchers, soon()).await;
        assert_eq!(finished.try_recv().ok(), Some("marks"));
        assert_eq!(tasks.failure(), None);
    }

    #[tokio::test]
    async fn a_task_past_the_bound_is_left_behind() {
        let mut tasks = Tasks::new(CancellationToken::new());
        tasks.spawn("stubborn", StopOn::Layer, |_| std::future::pending());
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            tasks.stop(StopOn::Layer, Instant::now()),
        )
        .await
        .expect("the bound holds");
        assert!(!ended, "the stop says one was left behind");
        assert_eq!(tasks.names().count(), 0);
    }
}
