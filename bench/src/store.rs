//! The store scenario: S sender connections spread over R rooms, each sending M messages with a
//! `client_id` as fast as a window of unanswered sends allows, counting `{"type":"ack"}` frames (an ack
//! means stored). Reports acknowledged messages per second and the ack latency. Only chatweb has a store:
//! the relay sends no acks, so this scenario has no relay part.

use crate::scenario::Scenario;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::{Endpoint, Frame, HANDSHAKES, Protocol, Ws, message_frame, payload};
use crate::report::{CpuMeter, Outcome, Progress, latency_ms, per_second, round3};
use crate::server::Server;

/// With every message sent, a run ends when no answer arrived for this long.
const SETTLE: Duration = Duration::from_secs(3);

/// Parameters of `chatweb-bench store`.
#[derive(Clone, clap::Args, serde::Serialize)]
pub struct StoreArgs {
    /// Rooms the senders are spread over.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Sender connections.
    #[arg(long, default_value_t = 100)]
    pub senders: usize,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 1000)]
    pub messages: u64,
    /// Sends a sender may have unanswered (chatweb reads no more than `--max-in-flight`, 64, anyway).
    #[arg(long, default_value_t = 64)]
    pub window: u64,
    /// Bytes of message text.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Paced: messages per second over all senders, each sender sending on its own schedule (open
    /// loop: a send's latency counts from when it was due, so a stall is not hidden by sending later).
    /// Unset: every sender sends as fast as its window allows.
    #[arg(long)]
    pub rate: Option<f64>,
}

impl Scenario for StoreArgs {
    const NAME: &'static str = "store";
    const HEADLINE: &'static str = "acked_per_s";
    const WITH_RELAY: bool = false;

    /// The CI size.
    fn quick(&mut self) {
        self.rooms = 4;
        self.senders = 8;
        self.messages = 100;
    }

    /// Connections the run opens.
    fn connections(&self) -> u64 {
        self.senders as u64
    }

    async fn run(
        &self,
        server: &Server,
        sources: u8,
        deadline: Instant,
    ) -> anyhow::Result<Outcome> {
        run(server, self, sources, deadline).await
    }
}

/// What one sender's answers were.
#[derive(Default)]
struct Tally {
    acked: u64,
    duplicates: u64,
    errors: u64,
    /// Answers naming another `client_id` than the oldest unanswered send's (they must come in order).
    out_of_order: u64,
    /// When the last answer came, since the start.
    last_answer: Duration,
    latencies_us: Vec<u32>,
}

/// Runs the scenario against `server`.
pub async fn run(
    server: &Server,
    args: &StoreArgs,
    sources: u8,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let endpoint = Arc::new(Endpoint::new(server.addr, sources, 8 * 1024)?);
    let tag = crate::client::run_tag();
    let rooms = args.rooms.max(1);
    let names = (0..args.senders)
        .map(|s| format!("s{tag}-{}", s % rooms))
        .collect();
    let sockets = endpoint
        .connect_many(names, HANDSHAKES, deadline, || {})
        .await?
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let expected = args.senders as u64 * args.messages;
    let progress = Progress::start(format!("{:?} store", server.kind), expected);
    let stop = CancellationToken::new();
    let sent = Arc::new(AtomicU64::new(0));
    let cpu = CpuMeter::start(server.proc);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(sockets.len());
    for (s, ws) in sockets.into_iter().enumerate() {
        let sender = Sender {
            id: format!("{tag}-{s}"),
            index: s,
            args: args.clone(),
            start,
            stop: stop.clone(),
            sent: sent.clone(),
            answered: progress.counter(),
        };
        tasks.push(tokio::spawn(sender.run(ws, deadline)));
    }

    let mut seen = 0;
    let mut last_change = Instant::now();
    let end = loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let answered = progress.counter().load(Ordering::Relaxed);
        let now = Instant::now();
        if answered >= expected {
            break "complete";
        }
        if now >= deadline {
            break "timeout";
        }
        if answered != seen {
            (seen, last_change) = (answered, now);
        } else if sent.load(Ordering::Relaxed) >= expected && now - last_change >= SETTLE {
            break "stalled";
        }
    };
    stop.cancel();
    progress.finish().await;

    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.context("a sender panicked")?;
        total.acked += tally.acked;
        total.duplicates += tally.duplicates;
        total.errors += tally.errors;
        total.out_of_order += tally.out_of_order;
        total.last_answer = total.last_answer.max(tally.last_answer);
        total.latencies_us.extend_from_slice(&tally.latencies_us);
    }
    let rate = per_second(total.acked, total.last_answer);
    let missing = expected.saturating_sub(total.acked + total.errors);
    let mut fields = serde_json::Map::new();
    fields.insert("acked_per_s".into(), json!(rate));
    fields.insert("expected".into(), json!(expected));
    fields.insert("acked".into(), json!(total.acked));
    fields.insert("duplicates".into(), json!(total.duplicates));
    fields.insert("errors".into(), json!(total.errors));
    fields.insert("out_of_order".into(), json!(total.out_of_order));
    fields.insert("unanswered".into(), json!(missing));
    fields.insert("ack_latency_ms".into(), latency_ms(total.latencies_us));
    fields.insert(
        "elapsed_s".into(),
        json!(round3(total.last_answer.as_secs_f64())),
    );
    fields.insert("end".into(), json!(end));
    cpu.stop(&mut fields);
    Ok(Outcome {
        fields,
        headline: Some(rate),
        clean: total.acked == expected
            && total.duplicates == 0
            && total.errors == 0
            && total.out_of_order == 0,
    })
}

/// One sender connection.
struct Sender {
    id: String,
    /// Its place among the senders (paced sends are spread over the period).
    index: usize,
    args: StoreArgs,
    start: Instant,
    stop: CancellationToken,
    sent: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
}

impl Sender {
    /// Sends every message within the window while a reader counts the answers.
    async fn run(self, ws: Ws, deadline: Instant) -> Tally {
        let (mut sink, mut stream) = ws.split();
        // Answers so far, and the send times of the messages awaiting theirs (answers come in order).
        let (answers_tx, mut answers) = watch::channel(0u64);
        let (times_tx, mut times) = mpsc::unbounded_channel::<Instant>();
        let (stop, start, answered) = (self.stop.clone(), self.start, self.answered.clone());
        let id = self.id.clone();
        let reader = tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let message = tokio::select! {
                    message = stream.next() => message,
                    () = stop.cancelled() => return tally,
                };
                let Some(Ok(Message::Text(text))) = message else {
                    if matches!(message, Some(Ok(_))) {
                        continue;
                    }
                    return tally;
                };
                let Some(frame) = Frame::parse(text.as_str()) else {
                    continue;
                };
                match frame.kind.as_deref() {
                    Some("ack") => {
                        tally.acked += 1;
                        tally.duplicates += u64::from(frame.duplicate == Some(true));
                    }
                    Some("error") => tally.errors += 1,
                    _ => continue,
                }
                let expected = format!("{id}-{}", tally.acked + tally.errors - 1);
                tally.out_of_order += u64::from(frame.client_id.as_deref() != Some(&*expected));
                let now = Instant::now();
                tally.last_answer = now - start;
                if let Ok(sent) = times.try_recv() {
                    let micros = (now - sent).as_micros();
                    tally
                        .latencies_us
                        .push(u32::try_from(micros).unwrap_or(u32::MAX));
                }
                answered.fetch_add(1, Ordering::Relaxed);
                answers_tx.send_modify(|n| *n += 1);
            }
        });
        let window = self.args.window.max(1);
        // Paced: this sender's share of the rate, its first send offset by its place among the senders.
        let period = self
            .args
            .rate
            .filter(|r| *r > 0.0)
            .map(|rate| Duration::from_secs_f64(self.args.senders as f64 / rate));
        let offset = period.map(|p| p.mul_f64(self.index as f64 / self.args.senders.max(1) as f64));
        let sending = async {
            for k in 0..self.args.messages {
                let due = match (period, offset) {
                    (Some(period), Some(offset)) => {
                        let due = self.start + offset + period.mul_f64(k as f64);
                        tokio::time::sleep_until(due).await;
                        Some(due)
                    }
                    _ => None,
                };
                if answers.wait_for(|a| k < a + window).await.is_err() {
                    return;
                }
                let text = payload(k, 0, self.args.size);
                let client_id = format!("{}-{k}", self.id);
                let frame = message_frame(Protocol::Ours, &text, &client_id);
                let _ = times_tx.send(due.unwrap_or_else(Instant::now));
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
                self.sent.fetch_add(1, Ordering::Relaxed);
            }
        };
        tokio::select! {
            () = sending => {}
            () = self.stop.cancelled() => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
        self.stop.cancelled().await;
        drop(sink);
        reader.await.unwrap_or_default()
    }
}
