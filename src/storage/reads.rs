//! Shared reads of the message path: every history and catch-up read the [`Store`](super::Store) sends to
//! the database goes through [`Reads`], which runs one query per (room, read) at a time for everyone who
//! asks, and at most `--catch-up-reads` queries at once.
//!
//! A member of a big room that sees a gap asks for "everything after N", and so does every other member
//! of that room on the node, at the same instant. A read joins a query only while that query has not
//! started: a query that already runs may have taken its snapshot before something the newcomer must see
//! (the live event that showed it the gap), so the newcomer waits for the next one, which starts after it
//! arrived. Per key there is therefore at most one query running and one waiting; everyone who arrives
//! while one runs shares the waiting one, which starts when the running one ends. A burst of N members
//! costs two queries, not N.
//!
//! Each query runs in its own task, so a caller that goes away (a closed socket) never strands the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use super::{Backend, StoreError, StoredMessage};
use crate::domain::RoomName;
use crate::stats::Stats;

/// What a query answered, shared by everyone who waited for it.
type Answer = Result<Arc<Vec<StoredMessage>>, StoreError>;

/// A read of one room.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Query {
    /// The last `limit` messages.
    Recent { limit: u32 },
    /// Up to `limit` messages after `since`.
    After { since: u64, limit: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    room: RoomName,
    query: Query,
}

/// One query, by those waiting for its answer.
#[derive(Clone)]
struct Flight {
    id: u64,
    answer: watch::Receiver<Option<Answer>>,
}

/// The queries of one key: the one running (its snapshot may be older than a newcomer's needs) and the
/// one waiting to start (which every newcomer joins).
#[derive(Default)]
struct Slot {
    running: Option<Flight>,
    waiting: Option<Flight>,
}

/// The message path's reads, shared per key and capped in number.
pub(crate) struct Reads {
    backend: Arc<dyn Backend>,
    /// One permit per query allowed to run at once.
    permits: Semaphore,
    flights: Mutex<HashMap<Key, Slot>>,
    next_id: AtomicU64,
    /// `store_reads` counts the queries that ran.
    stats: Arc<Stats>,
    /// The longest one query may take: an answer that does not come (a database cut off) is an error,
    /// not a wait for ever of everyone sharing it.
    bound: Duration,
}

impl Reads {
    /// Reads through `backend`, at most `concurrency` queries at once (at least one), each within `bound`.
    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        concurrency: usize,
        bound: Duration,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            backend,
            permits: Semaphore::new(concurrency.clamp(1, Semaphore::MAX_PERMITS)),
            flights: Mutex::default(),
            next_id: AtomicU64::new(0),
            stats,
            bound,
        }
    }

    /// The last `limit` messages of `room`, oldest first, as of a moment after this call.
    pub(crate) async fn recent(
        self: &Arc<Self>,
        room: &RoomName,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let query = Query::Recent { limit };
        self.read(Key {
            room: room.clone(),
            query,
        })
        .await
    }

    /// Up to `limit` messages of `room` after `since`, oldest first, as of a moment after this call.
    pub(crate) async fn after(
        self: &Arc<Self>,
        room: &RoomName,
        since: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let query = Query::After { since, limit };
        self.read(Key {
            room: room.clone(),
            query,
        })
        .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Slot>> {
        // Every update leaves the map consistent; a panic elsewhere cannot break it.
        self.flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn read(self: &Arc<Self>, key: Key) -> Result<Vec<StoredMessage>, StoreError> {
        let mut answer = self.join(key);
        // The sender goes only with its task: a query task that died answers nothing.
        let answer = answer
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Closed)?;
        match answer.as_ref() {
            Some(Ok(messages)) => Ok(Vec::clone(messages)),
            Some(Err(error)) => Err(error.clone()),
            None => Err(StoreError::Closed),
        }
    }

    /// The answer of a query of `key` that has not started yet: the waiting one, or a new one.
    fn join(self: &Arc<Self>, key: Key) -> watch::Receiver<Option<Answer>> {
        let mut flights = self.lock();
        let slot = flights.entry(key.clone()).or_default();
        if let Some(waiting) = &slot.waiting {
            return waiting.answer.clone();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, receiver) = watch::channel(None);
        let before = slot.running.as_ref().map(|f| f.answer.clone());
        slot.waiting = Some(Flight {
            id,
            answer: receiver.clone(),
        });
        drop(flights);
        tokio::spawn(self.clone().fly(key, id, before, answer));
        receiver
    }

    /// Runs query `id` of `key` once the query before it (if any) has answered and a permit is free.
    async fn fly(
        self: Arc<Self>,
        key: Key,
        id: u64,
        before: Option<watch::Receiver<Option<Answer>>>,
        answer: watch::Sender<Option<Answer>>,
    ) {
        if let Some(mut before) = before {
            // An error means that query's task died: nothing to wait for.
            let _ = before.wait_for(Option::is_some).await;
        }
        // The semaphore is never closed.
        let permit = self.permits.acquire().await.ok();
        {
            // From here on the query may miss what newcomers need: they wait for the next one.
            let mut flights = self.lock();
            if let Some(slot) = flights.get_mut(&key)
                && slot.waiting.as_ref().is_some_and(|f| f.id == id)
            {
                slot.running = slot.waiting.take();
            }
        }
        Stats::add(&self.stats.store_reads, 1);
        let read = async {
            match key.query {
                Query::Recent { limit } => self.backend.recent(&key.room, limit).await,
                Query::After { since, limit } => self.backend.after(&key.room, since, limit).await,
            }
        };
        let read = tokio::time::timeout(self.bound, read)
            .await
            .unwrap_or(Err(StoreError::TimedOut(self.bound)));
        drop(permit);
        answer.send_replace(Some(read.map(Arc::new)));
        let mut flights = self.lock();
        if let Some(slot) = flights.get_mut(&key) {
            if slot.running.as_ref().is_some_and(|f| f.id == id) {
                slot.running = None;
            }
            if slot.running.is_none() && slot.waiting.is_none() {
                flights.remove(&key);
            }
        }
    }

    /// Keys with a query running or waiting (for tests: the map empties when reads end).
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::storage::{Amendment, Appended, Db, MessageKind, NewMessage, Outcome, RoomSummary};

    /// A backend whose room holds messages 1..=`head`, whose queries each wait at a gate the test opens,
    /// and which counts queries running at once.
    struct Gated {
        head: AtomicU64,
        gate: Semaphore,
        running: AtomicUsize,
        most: AtomicUsize,
        started: tokio::sync::Notify,
        db: Db,
    }

    impl Gated {
        fn new() -> Arc<Self> {
            let pool = sqlx::SqlitePool::connect_lazy("sqlite::memory:").expect("lazy pool");
            Arc::new(Self {
                head: AtomicU64::new(0),
                gate: Semaphore::new(0),
                running: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                started: tokio::sync::Notify::new(),
                db: Db::Sqlite(pool),
            })
        }

        /// Messages after `since` as of the query's start (its snapshot), released by the gate.
        async fn query(&self, since: u64, limit: u32) -> Vec<StoredMessage> {
            let head = self.head.load(Ordering::SeqCst);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.started.notify_one();
            self.gate.acquire().await.expect("gate").forget();
            self.running.fetch_sub(1, Ordering::SeqCst);
            (since + 1..=head)
                .take(limit as usize)
                .map(message)
                .collect()
        }
    }

    fn message(seq: u64) -> StoredMessage {
        StoredMessage {
            bot: false,
            seq,
            ts_ms: 0,
            author: "a".into(),
            body: format!("m{seq}"),
            guest: true,
            kind: MessageKind::Message,
            edited: false,
            reply_to: None,
            mentions: String::new(),
            files: String::new(),
        }
    }

    #[async_trait::async_trait]
    impl Backend for Gated {
        async fn append(&self, _: &[NewMessage], _: i64) -> Result<Vec<Outcome>, StoreError> {
            Err(StoreError::Closed)
        }
        async fn amend(&self, _: &Amendment, _: i64) -> Result<Appended, StoreError> {
            Err(StoreError::Closed)
        }
        async fn recent(&self, _: &RoomName, limit: u32) -> Result<Vec<StoredMessage>, StoreError> {
            let head = self.head.load(Ordering::SeqCst);
            Ok(self
                .query(head.saturating_sub(u64::from(limit)), limit)
                .await)
        }
        async fn after(
            &self,
            _: &RoomName,
            since: u64,
            limit: u32,
        ) -> Result<Vec<StoredMessage>, StoreError> {
            Ok(self.query(since, limit).await)
        }
        async fn kept(&self, _: &RoomName) -> Result<(u64, u64), StoreError> {
            Ok((1, self.head.load(Ordering::SeqCst)))
        }
        async fn last_seq(&self, _: &RoomName) -> Result<u64, StoreError> {
            Ok(self.head.load(Ordering::SeqCst))
        }
        async fn rooms(&self, _: u32) -> Result<Vec<RoomSummary>, StoreError> {
            Ok(Vec::new())
        }
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn close(&self) {}
        fn db(&self) -> Db {
            self.db.clone()
        }
    }

    fn room() -> RoomName {
        RoomName::parse("big").expect("room")
    }

    fn seqs(messages: &[StoredMessage]) -> Vec<u64> {
        messages.iter().map(|m| m.seq).collect()
    }

    /// Waits until `n` queries are held at the gate.
    async fn until_running(backend: &Gated, n: usize) {
        while backend.running.load(Ordering::SeqCst) < n {
            let started = backend.started.notified();
            if backend.running.load(Ordering::SeqCst) >= n {
                break;
            }
            started.await;
        }
    }

    #[tokio::test]
    async fn a_burst_of_the_same_read_costs_two_queries() {
        let backend = Gated::new();
        backend.head.store(5, Ordering::SeqCst);
        let stats = Arc::new(Stats::default());
        let reads = Arc::new(Reads::new(
            backend.clone(),
            4,
            Duration::from_secs(5),
            stats.clone(),
        ));
        let first = tokio::spawn({
            let reads = reads.clone();
            async move { reads.after(&room(), 2, 256).await }
        });
        until_running(&backend, 1).await;
        // Committed after the running query took its snapshot: the members who saw 6 live need it.
        backend.head.store(6, Ordering::SeqCst);
        let members: Vec<_> = (0..100)
            .map(|_| {
                let reads = reads.clone();
                tokio::spawn(async move { reads.after(&room(), 2, 256).await })
            })
            .collect();
        // Let every member join before the first query answers.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        backend.gate.add_permits(1);
        assert_eq!(seqs(&first.await.expect("task").expect("read")), [3, 4, 5]);
        until_running(&backend, 1).await;
        backend.gate.add_permits(1);
        for member in members {
            let page = member.await.expect("task").expect("read");
            assert_eq!(
                seqs(&page),
                [3, 4, 5, 6],
                "a newcomer never gets an older snapshot"
            );
        }
        assert_eq!(Stats::get(&stats.store_reads), 2);
        assert_eq!(
            backend.most.load(Ordering::SeqCst),
            1,
            "one query per key at a time"
        );
        assert_eq!(reads.keys(), 0);
    }

    #[tokio::test]
    async fn different_reads_run_at_most_the_cap_at_once() {
        let backend = Gated::new();
        backend.head.store(100, Ordering::SeqCst);
        let stats = Arc::new(Stats::default());
        let reads = Arc::new(Reads::new(
            backend.clone(),
            3,
            Duration::from_secs(5),
            stats.clone(),
        ));
        let tasks: Vec<_> = (0..20)
            .map(|since| {
                let reads = reads.clone();
                tokio::spawn(async move { reads.after(&room(), since, 1).await })
            })
            .collect();
        until_running(&backend, 3).await;
        // Give the others every chance to start (they must not).
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(backend.running.load(Ordering::SeqCst), 3);
        backend.gate.add_permits(20);
        for (since, task) in (0_u64..).zip(tasks) {
            let page = task.await.expect("task").expect("read");
            assert_eq!(seqs(&page), [since + 1]);
        }
        assert_eq!(backend.most.load(Ordering::SeqCst), 3);
        assert_eq!(Stats::get(&stats.store_reads), 20);
        assert_eq!(reads.keys(), 0);
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_strands_no_one() {
        let backend = Gated::new();
        backend.head.store(3, Ordering::SeqCst);
        let reads = Arc::new(Reads::new(
            backend.clone(),
            1,
            Duration::from_secs(5),
            Arc::default(),
        ));
        let gone = tokio::spawn({
            let reads = reads.clone();
            async move { reads.recent(&room(), 2).await }
        });
        until_running(&backend, 1).await;
        gone.abort();
        let stays = tokio::spawn({
            let reads = reads.clone();
            async move { reads.recent(&room(), 2).await }
        });
        backend.gate.add_permits(2);
        assert_eq!(seqs(&stays.await.expect("task").expect("read")), [2, 3]);
        assert_eq!(reads.keys(), 0);
    }
}
