//! The group-commit writer: one task owns every write. It takes whatever is queued (up to a bound), stores
//! it in one transaction, updates the recent cache, then hands the new messages to a [`CommitListener`]
//! (which fans them out) and answers each sender. At low load a batch is one message and adds no wait;
//! under load the commit cost is shared by the whole batch (shared/DESIGN.md, "Group commit").

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Backend, RecentCache, Store, StoreError, StoredMessage, WriteRequest, now_ms};
use crate::domain::RoomName;
use crate::stats::Stats;

/// Told about every newly stored message, in commit order, before any sender hears its ack.
#[async_trait::async_trait]
pub trait CommitListener: Send + Sync + 'static {
    /// `messages` were just committed, each with its room.
    async fn committed(&self, messages: &[(RoomName, StoredMessage)]);
}

/// How the writer runs.
pub struct WriterOptions {
    /// Counters for write latency and failures.
    pub stats: Arc<Stats>,
    /// Messages that may wait for the writer before senders wait.
    pub queue: usize,
    /// Most messages in one transaction.
    pub max_batch: usize,
    /// The recent cache, only when this node is the database's only writer.
    pub cache: Option<Arc<RecentCache>>,
}

/// The running writer task; [`StoreWriter::close`] drains it and closes the database.
pub struct StoreWriter {
    closing: CancellationToken,
    task: JoinHandle<()>,
    backend: Arc<dyn Backend>,
}

/// What the writer task owns.
struct Writer {
    backend: Arc<dyn Backend>,
    listener: Arc<dyn CommitListener>,
    stats: Arc<Stats>,
    cache: Option<Arc<RecentCache>>,
}

impl StoreWriter {
    /// Starts the writer over `backend` and returns the [`Store`] handle that feeds it.
    pub fn spawn(
        backend: Arc<dyn Backend>,
        listener: Arc<dyn CommitListener>,
        options: WriterOptions,
    ) -> (Store, Self) {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let closing = CancellationToken::new();
        let writer = Writer {
            backend: backend.clone(),
            listener,
            stats: options.stats,
            cache: options.cache.clone(),
        };
        let task = tokio::spawn(writer.run(rx, closing.clone(), options.max_batch.max(1)));
        let store = Store {
            backend: backend.clone(),
            writer: tx,
            cache: options.cache,
            marks: Arc::default(),
        };
        let handle = Self {
            closing,
            task,
            backend,
        };
        (store, handle)
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

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

impl Writer {
    async fn run(
        self,
        mut rx: mpsc::Receiver<WriteRequest>,
        closing: CancellationToken,
        max_batch: usize,
    ) {
        let mut appends = Vec::with_capacity(max_batch.min(1024));
        let mut amends = Vec::new();
        let mut loads = Vec::new();
        let mut marks = Vec::new();
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
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    WriteRequest::Append { message, reply } => appends.push((message, reply)),
                    WriteRequest::Amend { amendment, reply } => amends.push((amendment, reply)),
                    WriteRequest::Load { room, reply } => loads.push((room, reply)),
                    WriteRequest::Marks {
                        marks: batch,
                        reply,
                    } => marks.push((batch, reply)),
                }
                if appends.len() < max_batch {
                    next = rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.write_batch(&mut appends).await;
            }
            // Rare (moderation): one transaction each.
            for (amendment, reply) in amends.drain(..) {
                let _ = reply.send(self.amend(amendment).await);
            }
            // About once a second: not on the path that acks messages.
            for (batch, reply) in marks.drain(..) {
                let written = super::marks::write(&self.backend.db(), &batch, now_ms()).await;
                let _ = reply.send(written);
            }
            // After the batch: a loaded room misses nothing committed before it is cached.
            for (room, reply) in loads.drain(..) {
                let _ = reply.send(self.load(&room).await);
            }
        }
        tracing::debug!("store writer stopped");
    }

    async fn amend(&self, amendment: super::Amendment) -> Result<super::Appended, StoreError> {
        let appended = self.backend.amend(&amendment, now_ms()).await?;
        if appended.duplicate {
            return Ok(appended);
        }
        if let Some(cache) = &self.cache {
            // The event changed older messages: the next read of the room reloads it.
            cache.forget(&amendment.room);
        }
        self.listener
            .committed(&[(amendment.room, appended.message.clone())])
            .await;
        Ok(appended)
    }

    async fn load(&self, room: &RoomName) -> Result<Vec<StoredMessage>, StoreError> {
        let Some(cache) = &self.cache else {
            return Err(StoreError::Closed);
        };
        let depth = u32::try_from(cache.depth()).unwrap_or(u32::MAX);
        let newest = self.backend.recent(room, depth).await?;
        cache.install(room, &newest);
        Ok(newest)
    }

    async fn write_batch(&self, batch: &mut Vec<(super::NewMessage, Reply<super::Appended>)>) {
        let (messages, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let started = std::time::Instant::now();
        let appended = self.backend.append(&messages, now_ms()).await;
        self.stats.record_write(started.elapsed(), appended.is_ok());
        match appended {
            Ok(results) => {
                let fresh: Vec<_> = messages
                    .into_iter()
                    .zip(&results)
                    .filter_map(|(m, r)| match r {
                        Ok(r) if !r.duplicate => Some((m.room, r.message.clone())),
                        _ => None,
                    })
                    .collect();
                if let Some(cache) = &self.cache {
                    // Before anyone can see the message live, so a join never misses it.
                    for (room, message) in &fresh {
                        cache.committed(room, message);
                    }
                }
                if !fresh.is_empty() {
                    self.listener.committed(&fresh).await;
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    // The sender may have gone away; the message is stored either way.
                    let _ = reply.send(result);
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
}
