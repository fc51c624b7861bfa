//! The sender: a background task that brings every hook up to the end of its rooms' sequences. Each pass it
//! takes (or renews) the lease of the hooks no other node holds (`outgoing_hooks.lease_*`: one node sends a
//! hook's batches, another takes over within the lease of its death), then for each hook and each room behind
//! the hook's mark reads up to `ROWS_PER_READ` (500) rows after the mark, turns those the hook asked for into
//! events and POSTs them as signed batches of at most [`MAX_BATCH`]. A 2xx moves the mark past the batch
//! (recorded with the turn's attempts in one write at the turn's end: a crash before it sends those batches
//! again); anything else leaves it, and the hook waits `--webhook-retry-ms`, doubling each time (up to
//! `--webhook-retry-max-secs`), before the same rows are sent again: strictly in room order, at least once,
//! with the same `event_id`s. After `--webhook-give-up-secs` of failures the batch is recorded as `gave_up`
//! and passed over. Every attempt is recorded (the last [`KEPT_DELIVERIES`] per hook). A hook that asked for
//! `room_occupied`/`room_vacated` follows each room's occupancy events (`src/occupancy/`) the same way, from
//! marks of their own: the same batches, signature, retries, lease and access check.
//!
//! Memory is bounded by the hooks held: a retry state per failing hook, and one read's batches and one turn's
//! attempts per hook in flight (at most [`CONCURRENT_HOOKS`] at once). The message path is not touched: the
//! rows are read from the store after they are committed, as the search indexer reads them.
//!
//! [`KEPT_DELIVERIES`]: crate::storage::KEPT_DELIVERIES

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use metrics::Counter;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Webhooks;
use super::events::{EventName, event, occupancy_event};
use super::sign;
use crate::domain::RoomName;
use crate::stats::Stats;
use crate::storage::{DeliveryRow, HookRoom, HookRow, Moved, Store, StoreError, Track, now_ms};

/// Most events one POST carries.
pub const MAX_BATCH: usize = 100;
/// Shortest time a node's claim on a hook lasts without renewal (renewed by a pass that finds less than
/// half of it left); it is at least four receiver timeouts (see [`Pacing::lease`]).
pub const LEASE: Duration = Duration::from_secs(30);
/// Hooks sent to at once.
const CONCURRENT_HOOKS: usize = 8;
/// Rows of a room's sequence read at once (the events of a batch come from them).
const ROWS_PER_READ: i64 = 500;
/// Rooms looked at per hook and pass.
const ROOMS_PER_PASS: i64 = 100;
/// Batches sent per hook and pass (the next pass goes on), so one busy hook does not hold the others.
const BATCHES_PER_PASS: usize = 20;

/// How the sender paces itself (from the config).
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// Wait between two passes.
    pub poll: Duration,
    /// Wait before the first retry; each next one doubles.
    pub retry_base: Duration,
    /// Longest wait between two attempts.
    pub retry_max: Duration,
    /// How long a batch is retried before it is given up.
    pub give_up: Duration,
    /// How long a receiver has to answer.
    pub timeout: Duration,
}

impl Pacing {
    /// How long a claim on a hook lasts: a pass starts new batches for an eighth of it and each takes at
    /// most a timeout (a quarter of it), so a pass that starts with half of the lease left (or renews it)
    /// ends while it holds, and no other node sends the same hook meanwhile.
    pub fn lease(&self) -> Duration {
        (self.timeout * 4).max(LEASE)
    }

    /// How long a pass starts new batches.
    fn budget(&self) -> Duration {
        self.lease() / 8
    }

    /// The wait after the `attempts`th failed attempt in a row.
    fn backoff(&self, attempts: u32) -> Duration {
        let doubled = self
            .retry_base
            .saturating_mul(1_u32 << attempts.saturating_sub(1).min(20));
        doubled.min(self.retry_max)
    }
}

/// A hook whose receiver is failing: since when, how often, and when to try again.
#[derive(Clone, Copy, Debug)]
struct Retry {
    since: Instant,
    attempts: u32,
    next: Instant,
}

/// The counters of `/metrics`.
struct Metrics {
    delivered: Counter,
    failed: Counter,
    gave_up: Counter,
    events: Counter,
}

impl Metrics {
    fn new(stats: &Stats) -> Self {
        const NAME: &str = "chatweb_webhook_deliveries_total";
        const HELP: &str = "Outgoing webhook batches by outcome (failed ones are retried).";
        Self {
            delivered: stats.counter(NAME, &[("result", "delivered")], HELP),
            failed: stats.counter(NAME, &[("result", "failed")], HELP),
            gave_up: stats.counter(NAME, &[("result", "gave_up")], HELP),
            events: stats.counter(
                "chatweb_webhook_events_total",
                &[],
                "Events delivered to outgoing webhooks.",
            ),
        }
    }
}

/// What every hook's turn needs.
struct Sender {
    hooks: Webhooks,
    store: Store,
    pacing: Pacing,
    metrics: Metrics,
    stop: CancellationToken,
}

/// Runs until `stop`: a pass, then another every `pacing.poll`. Gives up its leases when it stops.
pub async fn run(
    hooks: Webhooks,
    store: Store,
    pacing: Pacing,
    stats: Arc<Stats>,
    stop: CancellationToken,
) {
    let node = crate::accounts::secret::new_secret();
    let sender = Sender {
        hooks,
        store,
        pacing,
        metrics: Metrics::new(&stats),
        stop: stop.clone(),
    };
    let mut retries = HashMap::new();
    loop {
        // A pass cut short by the stop (a receiver that is slow to answer) moved no mark past what it
        // did not deliver: the batch goes again after the restart.
        tokio::select! {
            () = stop.cancelled() => break,
            passed = sender.pass(&node, &mut retries) => if let Err(error) = passed {
                tracing::warn!(%error, "outgoing webhooks: a pass failed; the next one resumes from the marks");
            },
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(pacing.poll) => {}
        }
    }
    if let Err(error) = sender.store.db().release_hooks(&node).await {
        tracing::debug!(%error, "outgoing webhooks: leases not released (they run out)");
    }
    tracing::debug!("outgoing webhook sender stopped");
}

impl Sender {
    /// Claims the hooks and gives each its turn; `retries` keeps the failing ones' state between passes.
    async fn pass(&self, node: &str, retries: &mut HashMap<i64, Retry>) -> Result<(), StoreError> {
        let lease_ms = i64::try_from(self.pacing.lease().as_millis()).unwrap_or(i64::MAX);
        let until = Instant::now() + self.pacing.budget();
        let hooks = self
            .store
            .db()
            .claim_hooks(node, now_ms(), lease_ms)
            .await?;
        // Only hooks held now keep a state: memory follows the hooks, not their history.
        retries.retain(|id, _| hooks.iter().any(|hook| hook.id == *id));
        let turns = hooks.into_iter().map(|hook| {
            let retry = retries.remove(&hook.id);
            async move { (hook.id, self.turn(&hook, retry, until).await) }
        });
        let outcomes: Vec<(i64, Option<Retry>)> = futures_util::stream::iter(turns)
            .buffer_unordered(CONCURRENT_HOOKS)
            .collect()
            .await;
        retries.extend(
            outcomes
                .into_iter()
                .filter_map(|(id, retry)| retry.map(|r| (id, r))),
        );
        Ok(())
    }

    /// One hook's turn: its rooms behind, batch by batch, until a failure (returned, to wait) or the
    /// pass's share is done.
    async fn turn(&self, hook: &HookRow, retry: Option<Retry>, until: Instant) -> Option<Retry> {
        if retry.is_some_and(|r| r.next > Instant::now()) {
            return retry;
        }
        match self.follow(hook, retry, until).await {
            Ok(retry) => retry,
            Err(error) => {
                tracing::warn!(hook = hook.id, %error, "outgoing webhook: reading its rooms failed");
                retry
            }
        }
    }

    /// Sends the hook's rooms' batches in order, starting none after `until`; a failure ends the turn
    /// with the retry to wait for. The turn's attempts are recorded (and its marks moved) in one write at
    /// its end: a crash before it sends them again (at least once, with the same `event_id`s), and the
    /// store's write lock, which the message writer needs, is taken once a turn, not once a batch.
    async fn follow(
        &self,
        hook: &HookRow,
        retry: Option<Retry>,
        until: Instant,
    ) -> Result<Option<Retry>, StoreError> {
        let mut records = Records::default();
        let followed = self.follow_rooms(hook, retry, until, &mut records).await;
        if !records.rows.is_empty() || !records.marks.is_empty() {
            self.store
                .db()
                .record_deliveries(hook.id, &records.rows, &records.marks)
                .await?;
        }
        followed
    }

    /// [`Sender::follow`]'s rooms, adding each attempt and each mark to move to `records`.
    async fn follow_rooms(
        &self,
        hook: &HookRow,
        mut retry: Option<Retry>,
        until: Instant,
        records: &mut Records,
    ) -> Result<Option<Retry>, StoreError> {
        let db = self.store.db();
        let wanted = EventName::list(&hook.events);
        let room_id = hook.room.as_ref().map(|(id, _)| *id);
        let mut sent = 0;
        for track in Track::ALL {
            if !wanted.iter().any(|name| name.track() == track) {
                continue;
            }
            let rooms = match track {
                Track::Messages => db.hook_behind(hook.id, room_id, ROOMS_PER_PASS).await?,
                Track::Occupancy => {
                    db.occupancy_behind(hook.id, room_id, ROOMS_PER_PASS)
                        .await?
                }
            };
            for room in rooms {
                let mut mark = room.mark;
                while mark < room.last_seq
                    && sent < BATCHES_PER_PASS
                    && Instant::now() < until
                    && !self.stop.is_cancelled()
                {
                    let read = self.read(track, hook, &room, mark, &wanted).await?;
                    // Asked once per read of the store (up to `ROWS_PER_READ` rows), before any of it
                    // is sent: a creator who may no longer read the room is sent none of it.
                    if read.batches.is_empty() || !self.may_send(hook, &room).await? {
                        records.mark(mark_at(track, &room, read.through));
                        mark = read.through;
                        continue;
                    }
                    let mut cut = false;
                    for batch in &read.batches {
                        if sent == BATCHES_PER_PASS
                            || Instant::now() >= until
                            || self.stop.is_cancelled()
                        {
                            cut = true;
                            break;
                        }
                        sent += 1;
                        let attempt = self.send(hook, &room, mark, batch, retry).await;
                        retry = attempt.retry;
                        records.rows.push(attempt.record);
                        if retry.is_some() {
                            return Ok(retry);
                        }
                        // Delivered or given up: the mark moves past it.
                        records.mark(mark_at(track, &room, batch.through));
                        mark = batch.through;
                    }
                    if cut {
                        break;
                    }
                    // Rows after the last batch's event that the hook does not want.
                    records.mark(mark_at(track, &room, read.through));
                    mark = read.through;
                }
            }
        }
        Ok(retry)
    }

    /// Sends one batch: the attempt to record, and the retry to wait for (`None` when it was delivered
    /// or given up: the mark is to move past it).
    async fn send(
        &self,
        hook: &HookRow,
        room: &HookRoom,
        mark: u64,
        batch: &Batch,
        retry: Option<Retry>,
    ) -> Attempt {
        let attempt = retry.map_or(1, |r| r.attempts + 1);
        let outcome = self.post(hook, &batch.events).await;
        let mut record = DeliveryRow {
            at_ms: now_ms(),
            room: room.name.clone(),
            first_seq: mark + 1,
            last_seq: batch.through,
            events: u32::try_from(batch.events.len()).unwrap_or(u32::MAX),
            result: "delivered".into(),
            status: 0,
            detail: String::new(),
            attempt,
        };
        let (status, detail) = match outcome {
            Ok(status) => {
                record.status = status;
                self.metrics.delivered.increment(1);
                self.metrics.events.increment(batch.events.len() as u64);
                return Attempt {
                    record,
                    retry: None,
                };
            }
            Err(failure) => failure,
        };
        let now = Instant::now();
        let since = retry.map_or(now, |r| r.since);
        (record.status, record.detail) = (status, detail);
        if now.duration_since(since) >= self.pacing.give_up {
            tracing::warn!(hook = hook.id, room = %room.name, through = batch.through, "outgoing webhook: a batch was given up");
            record.result = "gave_up".into();
            self.metrics.gave_up.increment(1);
            return Attempt {
                record,
                retry: None,
            };
        }
        record.result = "failed".into();
        self.metrics.failed.increment(1);
        Attempt {
            record,
            retry: Some(Retry {
                since,
                attempts: attempt,
                next: now + self.pacing.backoff(attempt),
            }),
        }
    }

    /// The events after `mark` on `track` the hook wants, from one read of the store (up to
    /// [`ROWS_PER_READ`] rows of the sequence, or [`MAX_BATCH`] occupancy events), cut into batches of at
    /// most [`MAX_BATCH`], and the last id (or occupancy event's number) the read covers.
    async fn read(
        &self,
        track: Track,
        hook: &HookRow,
        room: &HookRoom,
        mark: u64,
        wanted: &[EventName],
    ) -> Result<Read, StoreError> {
        if track == Track::Occupancy {
            return self.occupancy_read(hook, room, mark, wanted).await;
        }
        let rows = self
            .store
            .db()
            .sequence_after(room.room_id, mark, ROWS_PER_READ)
            .await?;
        // Nothing after the mark (retention removed it): the mark moves to the room's last id.
        let through = rows.last().map_or(room.last_seq, |row| row.seq);
        let mut batches: Vec<Batch> = Vec::new();
        for row in &rows {
            let Some((name, value)) = event(hook.id, room.room_id, &room.name, row) else {
                continue;
            };
            if !wanted.contains(&name) {
                continue;
            }
            match batches.last_mut() {
                Some(batch) if batch.events.len() < MAX_BATCH => batch.events.push(value),
                _ => batches.push(Batch {
                    events: vec![value],
                    through: row.seq,
                }),
            }
            if let Some(batch) = batches.last_mut() {
                batch.through = row.seq;
            }
        }
        Ok(Read { batches, through })
    }

    /// The room's occupancy events after `mark` the hook wants, like [`Sender::read`] (one batch).
    async fn occupancy_read(
        &self,
        hook: &HookRow,
        room: &HookRoom,
        mark: u64,
        wanted: &[EventName],
    ) -> Result<Read, StoreError> {
        let stored = self
            .store
            .db()
            .occupancy_after(room.room_id, mark, MAX_BATCH as i64)
            .await?;
        // Nothing after the mark (the outbox was pruned past it): the mark moves to the room's last.
        let through = stored.last().map_or(room.last_seq, |e| e.seq);
        let events: Vec<Value> = stored
            .iter()
            .filter_map(|e| occupancy_event(hook.id, room.room_id, &room.name, e))
            .filter(|(name, _)| wanted.contains(name))
            .map(|(_, value)| value)
            .collect();
        let batches = if events.is_empty() {
            Vec::new()
        } else {
            vec![Batch { events, through }]
        };
        Ok(Read { batches, through })
    }

    /// Whether the hook's creator may still read the room (the one access check, asked afresh).
    async fn may_send(&self, hook: &HookRow, room: &HookRoom) -> Result<bool, StoreError> {
        match RoomName::parse(&room.name) {
            Some(name) => self.hooks.creator_reads(hook, &name).await,
            None => Ok(false),
        }
    }

    /// POSTs `events` as one signed batch: the receiver's 2xx status, or its status (0 for none) and
    /// what went wrong.
    async fn post(&self, hook: &HookRow, events: &[Value]) -> Result<u16, (u16, String)> {
        let body = json!({"time_ms": now_ms(), "events": events}).to_string();
        let t = now_ms() / 1000;
        let answer = self
            .hooks
            .outbound()
            .client()
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(sign::HEADER, sign::header(&hook.secret, t, body.as_bytes()))
            .body(body)
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
            Ok(response) => {
                let status = response.status();
                Err((status.as_u16(), format!("the receiver answered {status}")))
            }
            // Without the URL: the error's text would repeat it, query and all.
            Err(error) => Err((0, describe(&error.without_url()))),
        }
    }
}

/// A batch to send: its events (at least one) and the last id of the room it covers.
struct Batch {
    events: Vec<Value>,
    through: u64,
}

/// One attempt at a batch: what to record, and the retry to wait for after a failure.
struct Attempt {
    record: DeliveryRow,
    retry: Option<Retry>,
}

/// A turn's attempts not yet recorded, and where the hook's marks go when they are (one per room and
/// track: the furthest).
#[derive(Default)]
struct Records {
    rows: Vec<DeliveryRow>,
    marks: Vec<Moved>,
}

impl Records {
    /// The mark of `moved`'s room and track is to move to `moved.seq`.
    fn mark(&mut self, moved: Moved) {
        match self
            .marks
            .iter_mut()
            .find(|m| m.track == moved.track && m.room_id == moved.room_id)
        {
            Some(mark) => mark.seq = mark.seq.max(moved.seq),
            None => self.marks.push(moved),
        }
    }
}

/// One read of a room's events after a hook's mark: the batches to send, in order, and the last id the
/// read covered (past the last batch when the rows after it hold nothing the hook wants).
struct Read {
    batches: Vec<Batch>,
    through: u64,
}

/// The hook's mark on `track` at `seq` of `room`: where it goes once what it covers is delivered, given
/// up or passed over.
fn mark_at(track: Track, room: &HookRoom, seq: u64) -> Moved {
    Moved {
        track,
        room_id: room.room_id,
        seq,
    }
}

/// What went wrong with a request, cause chain and all (reqwest's own text says only "error sending").
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let pacing = Pacing {
            poll: Duration::from_millis(500),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(600),
            give_up: Duration::from_secs(86_400),
            timeout: Duration::from_secs(10),
        };
        let waits: Vec<u64> = (1..=12).map(|n| pacing.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(pacing.backoff(200).as_secs(), 600);
        assert_eq!(pacing.lease(), Duration::from_secs(40));
        assert_eq!(pacing.budget(), Duration::from_secs(5));
    }

    #[test]
    fn a_turn_moves_each_rooms_mark_once_to_the_furthest_point() {
        let at = |track, room_id, seq| Moved {
            track,
            room_id,
            seq,
        };
        let mut records = Records::default();
        records.mark(at(Track::Messages, 1, 100));
        records.mark(at(Track::Messages, 2, 7));
        records.mark(at(Track::Messages, 1, 250));
        records.mark(at(Track::Occupancy, 1, 3));
        // Never back: a later, smaller mark of the same room and track leaves it.
        records.mark(at(Track::Messages, 2, 5));
        assert_eq!(
            records.marks,
            [
                at(Track::Messages, 1, 250),
                at(Track::Messages, 2, 7),
                at(Track::Occupancy, 1, 3),
            ]
        );
    }
}
