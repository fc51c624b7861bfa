//! The group-commit writer: one task owns every write. It takes whatever is queued (up to a bound), stores
//! it in one transaction, updates the recent cache, then hands the new messages to a [`CommitListener`]
//! (which fans them out) and answers each sender. At low load a batch is one message and adds no wait;
//! under load the commit cost is shared by the whole batch (shared/DESIGN.md, "Group commit").
//!
//! A message the database refuses fails alone (invariant 7): a batch refused for its data is split in
//! halves and each half written again, in order, until every message the database accepts is stored and
//! only the refused ones remain ([`StoreError::Refused`]). A failed transaction stores nothing and uses no
//! id, so the ids stay gap-free, and each retry recognises the `client_id`s its earlier halves stored. The
//! common path, a batch that commits, is still one transaction.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{
    Backend, NewMessage, Outcome, RecentCache, Store, StoreError, StoredMessage, WriteRequest,
    batch, now_ms,
};
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
    /// Most history and catch-up reads the store runs at once (`--catch-up-reads`).
    pub read_concurrency: usize,
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
            stats: options.stats.clone(),
            cache: options.cache.clone(),
        };
        let task = tokio::spawn(writer.run(rx, closing.clone(), options.max_batch.max(1)));
        let reads =
            super::reads::Reads::new(backend.clone(), options.read_concurrency, options.stats);
        let store = Store {
            backend: backend.clone(),
            writer: tx,
            cache: options.cache,
            reads: Arc::new(reads),
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
        }
        tracing::debug!("store writer stopped");
    }

    async fn amend(&self, amendment: super::Amendment) -> Result<super::Appended, StoreError> {
        // One transaction of its own: a change the database refuses for what it holds fails alone anyway.
        let appended = self
            .backend
            .amend(&amendment, now_ms())
            .await
            .map_err(batch::alone)?;
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

    async fn write_batch(&self, queued: &mut Vec<(NewMessage, Reply<super::Appended>)>) {
        let (messages, replies): (Vec<_>, Vec<_>) = queued.drain(..).unzip();
        let results = self.append_isolating(&messages, now_ms()).await;
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

    /// Stores `messages` in one transaction; when the database refuses it for what a message holds, in
    /// halves, each written again the same way, left to right. Returns every message's outcome, in order.
    async fn append_isolating(&self, messages: &[NewMessage], now_ms: i64) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(messages.len());
        // Ranges still to write, the leftmost on top: they complete in batch order, so each one's outcomes
        // follow the previous ones'.
        let mut todo = Vec::with_capacity(1);
        todo.push(0..messages.len());
        while let Some(range) = todo.pop() {
            let started = std::time::Instant::now();
            let appended = self.backend.append(&messages[range.clone()], now_ms).await;
            self.stats.record_write(started.elapsed(), appended.is_ok());
            let error = match appended {
                Ok(results) => {
                    outcomes.extend(results);
                    continue;
                }
                Err(error) => error,
            };
            let refused = batch::refuses_data(&error);
            if refused && range.len() > 1 {
                let middle = range.start + range.len() / 2;
                todo.push(middle..range.end);
                todo.push(range.start..middle);
                continue;
            }
            if refused {
                tracing::warn!(%error, "the database refused a message; the rest of its batch is stored");
            } else {
                tracing::error!(%error, messages = range.len(), "store write failed; none of these messages was stored");
            }
            let error = batch::alone(error);
            outcomes.extend(range.map(|_| Err(error.clone())));
        }
        outcomes
    }
}
