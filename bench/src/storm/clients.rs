//! The two client roles of the reconnect storm. A subscriber reads its room (the lean reader of
//! [`crate::wire`]) and checks that every id it is shown is the one after the last; when its connection
//! ends it reconnects with jittered exponential backoff and resumes with `?since=<last id>`, again and
//! again until one handshake is accepted. A publisher sends its room's messages with `client_id`s and
//! counts one only once acknowledged; when its connection ends (or the node answers with an error) it
//! reconnects the same way, as the same guest (its own `chatweb_guest` cookie, so that a resend of a
//! message stored before the crash is recognised and acknowledged with its id), and sends it again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{Endpoint, Frame, Protocol, Ws, message_frame};
use crate::history::Rng;
use crate::wire::{Incoming, Wire};

/// The longest one connection attempt may take (a dropped SYN waits a second before it is sent again).
const ATTEMPT: Duration = Duration::from_secs(5);
/// The longest a publisher waits for the answer to one send before it reconnects and sends it again.
const ANSWER: Duration = Duration::from_secs(5);

/// Full-jitter exponential backoff: before attempt `n` (0 first) wait a uniform time in
/// `[0, min(cap, base * 2^n))`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The first attempt's upper bound.
    pub base: Duration,
    /// No attempt waits longer.
    pub cap: Duration,
}

impl Backoff {
    /// How long to wait before attempt `attempt`.
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let bound = self
            .base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.cap);
        bound.mul_f64(rng.unit())
    }
}

/// What every client task shares: where to connect, how to back off, the run's clock and stop.
pub struct Shared {
    /// The node (the same address before and after its restart).
    pub endpoint: Arc<Endpoint>,
    /// The reconnect schedule.
    pub backoff: Backoff,
    /// Times below are microseconds since this instant.
    pub t0: Instant,
    /// Ends every client task.
    pub stop: CancellationToken,
    /// Each subscriber's progress, by index, read by the run while the tasks go on.
    pub progress: Vec<Progress>,
}

impl Shared {
    /// Microseconds since `t0`.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// One subscriber's progress, as the run sees it.
#[derive(Default)]
pub struct Progress {
    /// The last id delivered in order.
    pub last: AtomicU64,
    /// When (µs since `t0`) that id arrived.
    pub last_at: AtomicU64,
    /// When the latest accepted handshake after a lost connection completed (0: none yet).
    pub reconnected_at: AtomicU64,
}

/// What one subscriber saw over the whole run.
#[derive(Default, Debug)]
pub struct SubscriberTally {
    /// Ids shown again (at or below the last one delivered).
    pub duplicated: u64,
    /// Ids skipped over: shown an id beyond the next one, these were never delivered.
    pub skipped: u64,
    /// Connections that ended (by the node's stop, or otherwise).
    pub drops: u64,
    /// Connection attempts after a drop.
    pub attempts: u64,
    /// Error frames received.
    pub errors: u64,
    /// Each id delivered after the first drop and when (µs since `t0`) it came.
    pub arrivals: Vec<(u64, u64)>,
}

/// Reads `wire` and reconnects with `since` whenever it ends, until the run stops.
pub async fn subscriber(
    shared: Arc<Shared>,
    index: usize,
    room: String,
    mut wire: Wire,
) -> SubscriberTally {
    let me = &shared.progress[index];
    let mut tally = SubscriberTally::default();
    let mut rng = Rng::new(index as u64);
    loop {
        loop {
            let incoming = tokio::select! {
                biased;
                () = shared.stop.cancelled() => return tally,
                incoming = wire.next() => incoming,
            };
            match incoming {
                Ok(Incoming::Text(text)) => match Frame::scan(text) {
                    Some((frame, _)) if frame.is_message() => {
                        if let Some(id) = frame.id {
                            let last = me.last.load(Ordering::Relaxed);
                            if id <= last {
                                tally.duplicated += 1;
                            } else {
                                tally.skipped += id - last - 1;
                                let now = shared.now_us();
                                me.last.store(id, Ordering::Relaxed);
                                me.last_at.store(now, Ordering::Relaxed);
                                if tally.drops > 0 {
                                    tally.arrivals.push((id, now));
                                }
                            }
                        }
                    }
                    Some((frame, _)) if frame.kind.as_deref() == Some("error") => tally.errors += 1,
                    _ => {}
                },
                Ok(Incoming::Other) => {}
                Ok(Incoming::Closed) | Err(_) => break,
            }
        }
        tally.drops += 1;
        let since = me.last.load(Ordering::Relaxed);
        let mut attempt = 0;
        wire = loop {
            let wait = shared.backoff.delay(attempt, &mut rng);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = shared.stop.cancelled() => return tally,
                () = tokio::time::sleep(wait) => {}
            }
            tally.attempts += 1;
            let resume = shared.endpoint.resume_wire(&room, since);
            if let Ok(Ok(wire)) = tokio::time::timeout(ATTEMPT, resume).await {
                break wire;
            }
        };
        me.reconnected_at.store(shared.now_us(), Ordering::Relaxed);
    }
}

/// What one publisher did.
#[derive(Default, Debug)]
pub struct PublisherTally {
    /// The ids its acknowledged messages got, in the order sent, and when (µs since `t0`) each ack came.
    pub acked: Vec<(u64, u64)>,
    /// Acks that said the `client_id` was stored already (a resend of a message stored before a crash).
    pub duplicate_acks: u64,
    /// Sends made again: after a lost connection, an error or no answer.
    pub resends: u64,
    /// Connection attempts after a drop.
    pub attempts: u64,
    /// The first error frame, if any.
    pub first_error: Option<String>,
}

/// One room's publisher: a connection that may be lost, and what it has done.
pub struct Publisher {
    shared: Arc<Shared>,
    room: String,
    /// The `chatweb_guest` cookie it keeps across reconnects.
    guest: String,
    ws: Option<Ws>,
    rng: Rng,
    /// What it did so far.
    pub tally: PublisherTally,
}

impl Publisher {
    /// The publisher of `room`, number `index`, connected as its own guest.
    pub async fn connect(shared: Arc<Shared>, index: usize, room: String) -> anyhow::Result<Self> {
        let guest = format!("{:032x}", 0x5707_0000_u128 + index as u128);
        let ws = shared.endpoint.connect_as_guest(&room, &guest).await?;
        Ok(Self {
            shared,
            room,
            guest,
            ws: Some(ws),
            rng: Rng::new((1 << 32) | index as u64),
            tally: PublisherTally::default(),
        })
    }

    /// Sends message `k` until it is acknowledged (reconnecting as often as it takes), or the run stops.
    pub async fn send(&mut self, k: u64) -> Option<u64> {
        let text = format!("{}-{k}", self.room);
        let frame = message_frame(Protocol::Ours, &text, &text);
        let mut attempt = 0;
        for tries in 0u64.. {
            if tries > 0 {
                self.tally.resends += 1;
            }
            let Some(ws) = self.ws.as_mut() else {
                self.ws = Some(self.reconnect().await?);
                continue;
            };
            let answer = async {
                ws.send(Message::Text(frame.clone().into())).await.ok()?;
                wait_answer(ws, &text).await
            };
            let answer = tokio::select! {
                () = self.shared.stop.cancelled() => return None,
                answer = tokio::time::timeout(ANSWER, answer) => answer.ok().flatten(),
            };
            match answer {
                Some(Answer::Acked { id, duplicate }) => {
                    self.tally.acked.push((id, self.shared.now_us()));
                    self.tally.duplicate_acks += u64::from(duplicate);
                    return Some(id);
                }
                Some(Answer::Refused(error)) => {
                    self.tally.first_error.get_or_insert(error);
                    // Refused by a node that keeps the connection (storing failed): wait, then again.
                    let wait = self.shared.backoff.delay(attempt, &mut self.rng);
                    attempt = attempt.saturating_add(1);
                    tokio::time::sleep(wait).await;
                }
                None => self.ws = None,
            }
        }
        None
    }

    /// Connects again (as the same guest) with backoff; `None` once the run stops.
    async fn reconnect(&mut self) -> Option<Ws> {
        let mut attempt = 0;
        loop {
            let wait = self.shared.backoff.delay(attempt, &mut self.rng);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = self.shared.stop.cancelled() => return None,
                () = tokio::time::sleep(wait) => {}
            }
            self.tally.attempts += 1;
            let connect = self
                .shared
                .endpoint
                .connect_as_guest(&self.room, &self.guest);
            if let Ok(Ok(ws)) = tokio::time::timeout(ATTEMPT, connect).await {
                return Some(ws);
            }
        }
    }
}

/// The node's answer to one send.
enum Answer {
    /// Stored with this id (`duplicate`: stored before, by an earlier try).
    Acked { id: u64, duplicate: bool },
    /// An error frame for it.
    Refused(String),
}

/// Reads `ws` until the answer for `client_id` comes; `None` when the connection ends first.
async fn wait_answer(ws: &mut Ws, client_id: &str) -> Option<Answer> {
    loop {
        let Message::Text(text) = ws.next().await?.ok()? else {
            continue;
        };
        let Some(frame) = Frame::parse(text.as_str()) else {
            continue;
        };
        if frame.client_id.as_deref() != Some(client_id) {
            continue;
        }
        match (frame.kind.as_deref(), frame.id) {
            (Some("ack"), Some(id)) => {
                return Some(Answer::Acked {
                    id,
                    duplicate: frame.duplicate == Some(true),
                });
            }
            (Some("error"), _) => return Some(Answer::Refused(text.as_str().to_owned())),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_full_jitter() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        };
        let mut rng = Rng::new(7);
        for attempt in 0..40 {
            let bound = Duration::from_millis(100 << attempt.min(5)).min(backoff.cap);
            let delay = backoff.delay(attempt, &mut rng);
            assert!(delay < bound, "attempt {attempt}: {delay:?} >= {bound:?}");
        }
        let spread: Vec<_> = (0..100).map(|_| backoff.delay(10, &mut rng)).collect();
        assert!(spread.iter().any(|d| *d < Duration::from_millis(500)));
        assert!(spread.iter().any(|d| *d > Duration::from_millis(1500)));
    }
}
