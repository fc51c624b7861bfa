//! The group-commit writer: one task owns every write. It takes whatever is queued (up to a bound), stores
//! it in one transaction, then hands the new messages to a [`CommitListener`] (which fans them out) and
//! answers each sender. At low load a batch is one message and adds no wait; under load the commit cost
//! is shared by the whole batch (shared/DESIGN.md, "Group commit").

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Backend, Store, StoredMessage, WriteRequest};
use crate::domain::RoomName;
use crate::stats::Stats;

/// Told about every newly stored message, in commit order, before any sender hears its ack.
#[async_trait::async_trait]
pub trait CommitListener: Send + Sync + 'static {
    /// `messages` were just committed, each with its room.
    async fn committed(&self, messages: &[(RoomName, StoredMessage)]);
}

/// The running writer task; [`StoreWriter::close`] drains it and closes the database.
pub struct StoreWriter {
    closing: CancellationToken,
    task: JoinHandle<()>,
    backend: Arc<dyn Backend>,
}

impl StoreWriter {
    /// Starts the writer over `backend` and returns the [`Store`] handle that feeds it. `queue` bounds the
    /// messages waiting to be written, `max_batch` the messages in one transaction.
    pub fn spawn(
        backend: Arc<dyn Backend>,
        listener: Arc<dyn CommitListener>,
        stats: Arc<Stats>,
        queue: usize,
        max_batch: usize,
    ) -> (Store, Self) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let closing = CancellationToken::new();
        let task = tokio::spawn(run(
            backend.clone(),
            listener,
            stats,
            rx,
            closing.clone(),
            max_batch.max(1),
        ));
        let store = Store {
            backend: backend.clone(),
            writer: tx,
        };
        (
            store,
            Self {
                closing,
                task,
                backend,
            },
        )
    }

    /// Stops taking new writes, stores everything already queued, then closes the database.
    pub async fn close(self) {
        self.closing.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "store writer task failed");
        }
        self.backend.close().await;
    }
}

async fn run(
    backend: Arc<dyn Backend>,
    listener: Arc<dyn CommitListener>,
    stats: Arc<Stats>,
    mut rx: mpsc::Receiver<WriteRequest>,
    closing: CancellationToken,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch.min(1024));
    loop {
        let first = tokio::select! {
            biased;
            request = rx.recv() => request,
            () = closing.cancelled() => {
                // Refuse new writes; what is already queued is still written below.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        write_batch(&*backend, &*listener, &stats, &mut batch).await;
    }
    tracing::debug!("store writer stopped");
}

async fn write_batch(
    backend: &dyn Backend,
    listener: &dyn CommitListener,
    stats: &Stats,
    batch: &mut Vec<WriteRequest>,
) {
    let (messages, replies): (Vec<_>, Vec<_>) =
        batch.drain(..).map(|r| (r.message, r.reply)).unzip();
    let started = std::time::Instant::now();
    let appended = backend.append(&messages, now_ms()).await;
    stats.record_write(started.elapsed(), appended.is_ok());
    match appended {
        Ok(results) => {
            let fresh: Vec<_> = messages
                .into_iter()
                .zip(&results)
                .filter(|(_, r)| !r.duplicate)
                .map(|(m, r)| (m.room, r.message.clone()))
                .collect();
            if !fresh.is_empty() {
                listener.committed(&fresh).await;
            }
            for (reply, result) in replies.into_iter().zip(results) {
                // The sender may have gone away; the message is stored either way.
                let _ = reply.send(Ok(result));
            }
        }
        Err(error) => {
            tracing::error!(%error, messages = messages.len(), "store write failed; nothing in the batch was stored");
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
