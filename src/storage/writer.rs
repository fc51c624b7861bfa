//! The group-commit writer: one task owns every write, taken as [`WriteRequest`]s (defined here, beside
//! the loop that matches on them). It takes whatever is queued (up to a bound) and
//! stores it in one transaction; then a second task, the completer, updates the recent cache, hands the new
//! messages to a [`CommitListener`] (which fans them out) and answers each sender, while the writer is
//! already gathering and committing the next batch. At low load a batch is one message and adds no wait;
//! under load the commit cost is shared by the whole batch (docs/ARCHITECTURE.md, "One message", step 2). The
//! completer takes batches in commit order, so every listener and sender still hears of a message only
//! after it is stored, and in the order the database gave the ids.
//!
//! A message the database refuses fails alone (invariant 7): a batch refused for its data is split in
//! halves and each half written again, in order, until every message the database accepts is stored and
//! only the refused ones remain ([`StoreError::Refused`]). A failed transaction stores nothing and uses no
//! id, so the ids stay gap-free, and each retry recognises the `client_id`s its earlier halves stored. The
//! common path, a batch that commits, is still one transaction.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    Amendment, Appended, Backend, NewMessage, Outcome, ReadMark, RecentCache, Removed, Store,
    StoreError, StoredMessage, batch, now_ms,
};
use crate::domain::RoomName;
use crate::stats::Stats;

/// Work for the writer task.
pub(crate) enum WriteRequest {
    /// Store a message; the outcome goes to `reply`.
    Append {
        message: NewMessage,
        reply: oneshot::Sender<Result<Appended, StoreError>>,
        /// When it was queued (ms since the Unix epoch): how long the oldest send waits is measured.
        queued_ms: i64,
    },
    /// Store a change to history; the event goes to `reply`.
    Amend {
        amendment: Amendment,
        reply: oneshot::Sender<Result<Appended, StoreError>>,
        /// When it was queued (ms since the Unix epoch).
        queued_ms: i64,
    },
    /// Write read marks (one small transaction, answered when done).
    Marks {
        marks: Vec<ReadMark>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Remove one batch of a room's rows older than `cutoff_ms` (retention: one small transaction, after
    /// the message batch it was queued behind).
    Retention {
        room_id: i64,
        cutoff_ms: i64,
        batch: u32,
        reply: oneshot::Sender<Result<Removed, StoreError>>,
    },
    /// Apply one batch of a room's rows after `indexed` to the search index (SQLite, whose one writer
    /// must not be contended: after the message batch it was queued behind, like retention).
    Index {
        room_id: i64,
        indexed: u64,
        /// Rows at most ([`super::search::WRITER_INDEX_BATCH`], fewer under a flood).
        rows: i64,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
}

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
    /// The longest one of those reads may take (`--store-timeout-ms`).
    pub read_timeout: std::time::Duration,
}

/// The writer and its completer, not running yet: [`StoreWriter::run`] is the writer's task (the node
/// keeps it in its table of background tasks).
pub struct StoreWriter {
    writer: Writer,
    requests: mpsc::Receiver<WriteRequest>,
    max_batch: usize,
    completer: Completer,
    completed: mpsc::Receiver<Completion>,
}

/// Committed batches the completer has not finished yet before the writer waits for it: enough to keep
/// the database busy while the sockets are written, few enough that a slow fan-out holds commits back.
const COMPLETIONS: usize = 4;

/// What the writer task owns.
struct Writer {
    backend: Arc<dyn Backend>,
    stats: Arc<Stats>,
    completions: mpsc::Sender<Completion>,
}

/// What happens after a commit, in commit order: cache, fan-out, answers.
enum Completion {
    /// A batch of appends: the messages it newly stored (with their rooms), and every sender's outcome.
    Appended {
        fresh: Vec<(RoomName, StoredMessage)>,
        replies: Vec<(Reply<super::Appended>, Outcome)>,
        /// When its oldest send was queued.
        queued_ms: i64,
    },
    /// An amendment: its stored event (unless refused or a repeat) and its sender's outcome.
    Amended {
        room: RoomName,
        result: Result<super::Appended, StoreError>,
        reply: Reply<super::Appended>,
        queued_ms: i64,
    },
}

/// The completer task: the recent cache, the listener, the senders.
struct Completer {
    listener: Arc<dyn CommitListener>,
    cache: Option<Arc<RecentCache>>,
    stats: Arc<Stats>,
}

impl StoreWriter {
    /// The writer over `backend` and the [`Store`] handle that feeds it; nothing is written until
    /// [`StoreWriter::run`] runs.
    pub fn new(
        backend: Arc<dyn Backend>,
        listener: Arc<dyn CommitListener>,
        options: WriterOptions,
    ) -> (Store, Self) {
        let (tx, requests) = mpsc::channel(options.queue.max(1));
        let (completions, completed) = mpsc::channel(COMPLETIONS);
        let writer = Writer {
            backend: backend.clone(),
            stats: options.stats.clone(),
            completions,
        };
        let completer = Completer {
            listener,
            cache: options.cache.clone(),
            stats: options.stats.clone(),
        };
        let reads = super::reads::Reads::new(
            backend.clone(),
            options.read_concurrency,
            options.read_timeout,
            options.stats,
        );
        let store = Store {
            backend,
            writer: tx,
            cache: options.cache,
            reads: Arc::new(reads),
            marks: Arc::default(),
        };
        let handle = Self {
            writer,
            requests,
            max_batch: options.max_batch.max(1),
            completer,
            completed,
        };
        (store, handle)
    }

    /// Writes until `closing` is cancelled, then refuses new writes, stores everything already queued and
    /// returns once every sender is answered. The completer runs on a task of its own (the database
    /// commits the next batch while the last one's senders are answered) and is joined here; a panic of
    /// it is raised again here, so the writer's task fails with it. The database stays open.
    pub async fn run(self, closing: CancellationToken) {
        let completer = tokio::spawn(self.completer.run(self.completed));
        self.writer
            .run(self.requests, closing, self.max_batch)
            .await;
        // The writer is gone, and with it the completer's sender: it ends once it has answered everyone.
        match completer.await {
            Ok(()) => {}
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => tracing::error!(%error, "store completer task failed"),
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// The earlier of two queue times, 0 meaning none yet.
fn first_of(oldest: i64, queued_ms: i64) -> i64 {
    if oldest == 0 {
        queued_ms
    } else {
        oldest.min(queued_ms)
    }
}

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
        let mut expired = Vec::new();
        let mut index = Vec::new();
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
            // The oldest send of this round (requests come in the order they were queued).
            let mut oldest = 0;
            while let Some(request) = next.take() {
                match request {
                    WriteRequest::Append {
                        message,
                        reply,
                        queued_ms,
                    } => {
                        oldest = first_of(oldest, queued_ms);
                        appends.push((message, reply));
                    }
                    WriteRequest::Amend {
                        amendment,
                        reply,
                        queued_ms,
                    } => {
                        oldest = first_of(oldest, queued_ms);
                        amends.push((amendment, reply, queued_ms));
                    }
                    WriteRequest::Marks {
                        marks: batch,
                        reply,
                    } => marks.push((batch, reply)),
                    WriteRequest::Retention {
                        room_id,
                        cutoff_ms,
                        batch,
                        reply,
                    } => expired.push((room_id, cutoff_ms, batch, reply)),
                    WriteRequest::Index {
                        room_id,
                        indexed,
                        rows,
                        reply,
                    } => index.push((room_id, indexed, rows, reply)),
                }
                if appends.len() < max_batch {
                    next = rx.try_recv().ok();
                }
            }
            Stats::set(&self.stats.storing_since_ms, oldest);
            if !appends.is_empty() {
                self.write_batch(&mut appends, oldest).await;
            }
            // Rare (edits, deletions, moderation): one transaction each.
            for (amendment, reply, queued_ms) in amends.drain(..) {
                let room = amendment.room.clone();
                let result = self.amend(amendment).await;
                self.complete(Completion::Amended {
                    room,
                    result,
                    reply,
                    queued_ms,
                })
                .await;
            }
            Stats::set(&self.stats.storing_since_ms, 0);
            // About once a second: not on the path that acks messages.
            for (batch, reply) in marks.drain(..) {
                let written = super::marks::write(&self.backend.db(), &batch, now_ms()).await;
                let _ = reply.send(written);
            }
            // Retention, lowest priority: one small transaction per room and batch, after the messages.
            for (room_id, cutoff_ms, batch, reply) in expired.drain(..) {
                let removed = self
                    .backend
                    .db()
                    .remove_expired(room_id, cutoff_ms, batch)
                    .await;
                let _ = reply.send(removed);
            }
            // The search index, last: it follows what is committed and delivered.
            for (room_id, indexed, rows, reply) in index.drain(..) {
                let done = self.backend.db().index_room(room_id, indexed, rows).await;
                let _ = reply.send(done);
            }
        }
        tracing::debug!("store writer stopped");
    }

    async fn amend(&self, amendment: super::Amendment) -> Result<super::Appended, StoreError> {
        // One transaction of its own: a change the database refuses for what it holds fails alone anyway.
        self.backend
            .amend(&amendment, now_ms())
            .await
            .map_err(batch::alone)
    }

    /// Hands a commit's aftermath to the completer (waiting while it is [`COMPLETIONS`] behind).
    async fn complete(&self, completion: Completion) {
        if self.completions.send(completion).await.is_err() {
            // Only if the completer panicked: its senders see their replies dropped (`outcome_unknown`).
            tracing::error!("the store completer is gone; a commit's senders are not answered");
        }
    }

    async fn write_batch(
        &self,
        queued: &mut Vec<(NewMessage, Reply<super::Appended>)>,
        queued_ms: i64,
    ) {
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
        let replies = replies.into_iter().zip(results).collect();
        self.complete(Completion::Appended {
            fresh,
            replies,
            queued_ms,
        })
        .await;
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
            // The rooms, for the log (the sockets' own warnings carry no room at the default level).
            let mut rooms: Vec<&str> = messages[range.clone()]
                .iter()
                .map(|m| m.room.as_str())
                .collect();
            rooms.sort_unstable();
            rooms.dedup();
            // A long batch's list is cut: the first rooms name it well enough.
            rooms.truncate(20);
            if refused {
                tracing::warn!(%error, ?rooms, "the database refused a message; the rest of its batch is stored");
            } else {
                tracing::error!(%error, messages = range.len(), ?rooms, "store write failed; none of these messages was stored");
            }
            let error = batch::alone(error);
            outcomes.extend(range.map(|_| Err(error.clone())));
        }
        outcomes
    }
}

impl Completer {
    async fn run(self, mut completed: mpsc::Receiver<Completion>) {
        while let Some(completion) = completed.recv().await {
            match completion {
                Completion::Appended {
                    fresh,
                    replies,
                    queued_ms,
                } => {
                    Stats::set(&self.stats.answering_since_ms, queued_ms);
                    self.appended(&fresh, replies).await;
                }
                Completion::Amended {
                    room,
                    result,
                    reply,
                    queued_ms,
                } => {
                    Stats::set(&self.stats.answering_since_ms, queued_ms);
                    if let Ok(appended) = &result
                        && !appended.duplicate
                    {
                        if let Some(cache) = &self.cache {
                            // The event changed older messages: the next read of the room reloads it.
                            cache.forget(&room);
                        }
                        self.listener
                            .committed(&[(room, appended.message.clone())])
                            .await;
                    }
                    let _ = reply.send(result);
                }
            }
            Stats::set(&self.stats.answering_since_ms, 0);
        }
        tracing::debug!("store completer stopped");
    }

    async fn appended(
        &self,
        fresh: &[(RoomName, StoredMessage)],
        replies: Vec<(Reply<super::Appended>, Outcome)>,
    ) {
        if let Some(cache) = &self.cache {
            // Before anyone can see the message live, so a join never misses it.
            for (room, message) in fresh {
                cache.committed(room, message);
            }
        }
        if !fresh.is_empty() {
            self.listener.committed(fresh).await;
        }
        for (reply, result) in replies {
            // The sender may have gone away; the message is stored either way.
            let _ = reply.send(result);
        }
    }
}
