//! The two client roles of the fan-out scenario. A subscriber reads its socket and tallies, per message
//! number, what a plain Channels client that never resumes would see: deliveries, duplicates, numbers
//! arriving below one already seen, and the latency from the send time carried in the text. A publisher
//! warms its room up (repeating a warm-up message until every subscriber has one), waits for the common
//! start, then sends its messages at the fixed rate or within its window of unechoed messages, reading
//! its own socket concurrently: the echo of message k means k was stored and broadcast. With `--live`, both
//! also send typing frames and subscribers read marks (see `live`); frames that are not messages are
//! counted by type, and never as deliveries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Frame, Ws, message_frame, payload};
use crate::fanout::Shared;
use crate::live::{LiveSubscriber, Pacer, TYPING_FRAME};
use crate::wire::{Incoming, Wire};

/// How often a publisher repeats its warm-up message until its room is ready.
const WARMUP_EVERY: Duration = Duration::from_millis(200);

/// What one subscriber saw.
#[derive(Default)]
pub struct Tally {
    /// Distinct measured messages received.
    pub delivered: u64,
    /// Measured messages received again.
    pub duplicated: u64,
    /// Measured messages received after one with a higher number.
    pub out_of_order: u64,
    /// Frames whose room id was not above the previous one's (chatweb promises strictly increasing ids).
    pub id_not_increasing: u64,
    /// Nanoseconds since the run's start.
    pub last_delivery: u64,
    /// Receive time minus send time of each delivery, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Whether the server ended the connection before the run stopped.
    pub closed_by_server: bool,
    /// Deliveries later than [`STALL`].
    pub late: u64,
    /// Receive times (nanoseconds since the start) of the first [`LATE_KEPT`] late deliveries, to count
    /// stalls: late deliveries close together are one stall.
    pub late_at: Vec<u64>,
}

/// A delivery later than this is part of a stall (issue 11: no stall over 10 ms).
pub const STALL: Duration = Duration::from_millis(10);
/// Late deliveries one subscriber remembers the time of.
const LATE_KEPT: usize = 1 << 16;
/// Deliveries a subscriber counts before it adds them to the shared progress counter: one shared atomic
/// written on every delivery by every thread would cost the client more than the parse.
const PROGRESS_EVERY: u64 = 256;

/// Reads one subscriber's socket until the run stops; a live subscriber also sends its typing and read
/// frames as they fall due.
pub async fn subscribe(
    mut ws: Wire,
    shared: Arc<Shared>,
    joined: Arc<watch::Sender<usize>>,
    mut live: Option<LiveSubscriber>,
) -> Tally {
    let m = shared.args.messages;
    let mut seen = Seen {
        tally: Tally {
            latencies_us: Vec::with_capacity(m.min(1 << 20) as usize),
            ..Tally::default()
        },
        bits: vec![0u64; m.div_ceil(64) as usize],
        highest: None,
        unreported: 0,
    };
    let mut last_id = 0;
    let mut warmed_up = false;
    // One wait for the stop, not a new one per frame (that cost the client 4% of its time).
    let stopped = shared.stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let message = tokio::select! {
            message = ws.next() => message,
            () = &mut stopped => break,
        };
        let text = match message {
            Ok(Incoming::Text(text)) => text,
            Ok(Incoming::Closed) | Err(_) => {
                seen.tally.closed_by_server = !shared.stop.is_cancelled();
                break;
            }
            Ok(Incoming::Other) => continue,
        };
        // One clock read per message, as before; a live client reads it for other frames too.
        let mut now = None;
        match Frame::scan(text) {
            Some((frame, measured)) if frame.is_message() => {
                if let Some(id) = frame.id {
                    seen.tally.id_not_increasing += u64::from(id <= last_id);
                    last_id = id;
                }
                if !warmed_up {
                    warmed_up = true;
                    joined.send_modify(|n| *n += 1);
                }
                now = measured.and_then(|measured| seen.deliver(measured, &shared));
            }
            // Ephemeral frames (presence, join, leave, typing), read marks and errors: counted, never
            // deliveries.
            frame => shared.count_frame(frame.and_then(|(f, _)| f.kind).as_deref(), text),
        }
        if let Some(live) = live.as_mut()
            && let Err(error) = live
                .act(
                    &mut ws,
                    now.unwrap_or_else(|| shared.now_nanos()),
                    last_id,
                    &shared.live_sent,
                )
                .await
        {
            seen.tally.closed_by_server = !shared.stop.is_cancelled();
            if seen.tally.closed_by_server {
                eprintln!("fanout: a live subscriber could not send: {error}");
            }
            break;
        }
    }
    seen.report(&shared);
    seen.tally
}

/// One subscriber's record of the measured messages.
struct Seen {
    tally: Tally,
    /// One bit per message number received.
    bits: Vec<u64>,
    /// The highest message number received.
    highest: Option<u64>,
    /// Deliveries not yet added to the shared progress counter.
    unreported: u64,
}

impl Seen {
    /// Tallies a message frame (warm-up messages carry no number and count for nothing); returns the time
    /// it read, if it read the clock.
    fn deliver(&mut self, (seq, sent): (u64, u64), shared: &Shared) -> Option<u64> {
        let m = shared.args.messages;
        let tally = &mut self.tally;
        let now = shared.now_nanos();
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if seq >= m || self.bits[word] & bit != 0 {
            tally.duplicated += 1;
            return Some(now);
        }
        self.bits[word] |= bit;
        if self.highest.is_some_and(|h| seq < h) {
            tally.out_of_order += 1;
        }
        self.highest = self.highest.max(Some(seq));
        tally.delivered += 1;
        tally.last_delivery = now;
        let micros = now.saturating_sub(sent) / 1000;
        tally
            .latencies_us
            .push(u32::try_from(micros).unwrap_or(u32::MAX));
        if micros > STALL.as_micros() as u64 {
            tally.late += 1;
            if tally.late_at.len() < LATE_KEPT {
                tally.late_at.push(now);
            }
        }
        let complete = tally.delivered == m;
        self.unreported += 1;
        if self.unreported >= PROGRESS_EVERY || complete {
            self.report(shared);
        }
        if complete {
            shared.complete.fetch_add(1, Ordering::Relaxed);
        }
        Some(now)
    }

    /// Adds the deliveries not reported yet to the shared progress counter.
    fn report(&mut self, shared: &Shared) {
        if self.unreported > 0 {
            shared
                .progress
                .fetch_add(self.unreported, Ordering::Relaxed);
            self.unreported = 0;
        }
    }
}

/// Stalls among late deliveries received at `late_at` (nanoseconds, any order): late deliveries less than
/// `gap` apart belong to one stall.
pub fn stalls(late_at: &mut [u64], gap: Duration) -> u64 {
    late_at.sort_unstable();
    let gap = gap.as_nanos() as u64;
    let mut count = 0;
    let mut last: Option<u64> = None;
    for &at in late_at.iter() {
        if last.is_none_or(|l| at.saturating_sub(l) > gap) {
            count += 1;
        }
        last = Some(at);
    }
    count
}

/// A publisher's view of its room.
pub struct PublisherRoom {
    pub index: usize,
    /// Subscribers of the room that have received a warm-up message.
    pub joined: watch::Receiver<usize>,
    /// Told once the room is warmed up.
    pub ready: mpsc::Sender<()>,
    /// When to start.
    pub go: watch::Receiver<Option<Instant>>,
}

/// Warms the room up, waits for the start, then sends the measured messages.
pub async fn publish(ws: Ws, shared: Arc<Shared>, mut room: PublisherRoom) -> anyhow::Result<()> {
    let done = Done(&shared.publishers_done);
    let args = &shared.args;
    let (mut sink, mut stream) = ws.split();
    // The messages echoed back to the publisher: (highest number seen) + 1.
    let (echoed_tx, mut echoed) = watch::channel(0u64);
    let stop = shared.stop.clone();
    let reader_shared = shared.clone();
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                () = stop.cancelled() => return,
            };
            let Some(Ok(message)) = message else { return };
            let Message::Text(text) = message else {
                continue;
            };
            let scanned = Frame::scan(text.as_str());
            if let Some((frame, _)) = scanned.as_ref().filter(|(f, _)| !f.is_message()) {
                if frame.kind.as_deref() != Some("ack") {
                    reader_shared.count_frame(frame.kind.as_deref(), &text);
                }
                continue;
            }
            if let Some((seq, _)) = scanned.and_then(|(_, measured)| measured) {
                echoed_tx.send_if_modified(|e| {
                    let modified = seq + 1 > *e;
                    *e = (*e).max(seq + 1);
                    modified
                });
            }
        }
    });

    let r = room.index;
    // A live publisher types too, due at once and then every `--typing-every` ms while it sends.
    let mut typing = args
        .live
        .then(|| Pacer::new(args.typing_every(), Duration::ZERO));
    let mut type_if_due = async |sink: &mut SplitSink<Ws, Message>| {
        if let Some(pacer) = typing.as_mut()
            && pacer.due(shared.now_nanos())
        {
            sink.send(Message::Text(TYPING_FRAME.into())).await?;
            shared.live_sent.typing.fetch_add(1, Ordering::Relaxed);
        }
        anyhow::Ok(())
    };
    let mut attempt = 0u64;
    loop {
        type_if_due(&mut sink).await?;
        let frame = message_frame(args.protocol, "warmup", &format!("w{r}-{attempt}"));
        sink.send(Message::Text(frame.into())).await?;
        attempt += 1;
        let all = args.subscribers;
        match tokio::time::timeout(WARMUP_EVERY, room.joined.wait_for(|n| *n >= all)).await {
            Ok(joined) => {
                joined.context("the room's subscribers are gone")?;
                break;
            }
            Err(_) => continue,
        }
    }
    room.ready.send(()).await.context("the run is over")?;
    let go = room
        .go
        .wait_for(Option::is_some)
        .await
        .context("the run is over")?
        .context("started without a start time")?;

    let offset = r as f64 / args.rooms.max(1) as f64;
    for seq in 0..args.messages {
        if let Some(rate) = args.rate {
            let scheduled = go + Duration::from_secs_f64((seq as f64 + offset) / rate);
            tokio::time::sleep_until(scheduled).await;
            let lag = Instant::now().saturating_duration_since(scheduled);
            shared
                .max_send_lag_us
                .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
        } else {
            let window = args.window.max(1);
            echoed
                .wait_for(|e| seq < e + window)
                .await
                .context("the publisher's socket closed")?;
        }
        if shared.stop.is_cancelled() {
            break;
        }
        type_if_due(&mut sink).await?;
        let text = payload(seq, shared.now_nanos(), args.size);
        let frame = message_frame(args.protocol, &text, &format!("p{r}-{seq}"));
        sink.send(Message::Text(frame.into())).await?;
        shared.sent.fetch_add(1, Ordering::Relaxed);
    }
    drop(done);
    // Keep the socket open until the run stops: closing it early would look like a client leaving.
    shared.stop.cancelled().await;
    drop(sink);
    Ok(())
}

/// Counts a publisher as done however it ends: finished, failed, or cut off at the deadline.
struct Done<'a>(&'a AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_deliveries_close_together_are_one_stall() {
        let ms = 1_000_000;
        let mut at = vec![
            505 * ms,
            500 * ms,
            502 * ms,
            900 * ms,
            2_000 * ms,
            2_001 * ms,
        ];
        assert_eq!(stalls(&mut at, Duration::from_millis(50)), 3);
        assert_eq!(stalls(&mut [], Duration::from_millis(50)), 0);
    }
}
