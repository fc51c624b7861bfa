//! The churn scenario: `--concurrency` workers, each in its own room, repeat a cycle of connect, send one
//! message, wait for that message to come back, close. Reports cycles per second and the cycle time. A
//! plain join to chatweb replays the room's recent history before the new message, as it would for any
//! Channels client.

use crate::scenario::Scenario;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Endpoint, Frame, Protocol, Ws, message_frame};
use crate::report::{CpuMeter, Outcome, Progress, latency_ms, per_second, round3};
use crate::server::Server;

/// The longest one cycle may take before it counts as failed.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client waits for the server's side of the closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Parameters of `chatweb-bench churn`.
#[derive(Clone, clap::Args, serde::Serialize)]
pub struct ChurnArgs {
    /// Cycles in all.
    #[arg(long, default_value_t = 5000)]
    pub cycles: u64,
    /// Workers cycling at once, each in its own room.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// What clients speak.
    #[arg(long, value_enum, default_value = "plain")]
    pub protocol: Protocol,
}

impl Scenario for ChurnArgs {
    const NAME: &'static str = "churn";
    const HEADLINE: &'static str = "cycles_per_s";

    /// The CI size.
    fn quick(&mut self) {
        self.cycles = 200;
        self.concurrency = 10;
    }

    /// Connections open at once.
    fn connections(&self) -> u64 {
        self.concurrency as u64
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

#[derive(Default)]
struct Tally {
    times_us: Vec<u32>,
    failed: u64,
    /// Cycles in which the server answered our Close with its own.
    close_answered: u64,
    first_error: Option<String>,
}

/// Runs the scenario against `server`.
pub async fn run(
    server: &Server,
    args: &ChurnArgs,
    sources: u8,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let endpoint = Arc::new(Endpoint::new(server.addr, sources, 8 * 1024)?);
    let tag = crate::client::run_tag();
    let progress = Progress::start(format!("{:?} churn", server.kind), args.cycles);
    let next = Arc::new(AtomicU64::new(0));
    let cpu = CpuMeter::start(server.proc);
    let started = Instant::now();
    let mut workers = Vec::with_capacity(args.concurrency);
    for w in 0..args.concurrency.max(1) {
        let room = format!("ch{tag}-{w}");
        let (endpoint, next, counter) = (endpoint.clone(), next.clone(), progress.counter());
        let (cycles, protocol) = (args.cycles, args.protocol);
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= cycles || Instant::now() >= deadline {
                    return tally;
                }
                let begun = Instant::now();
                let bound = (begun + CYCLE_TIMEOUT).min(deadline);
                let text = format!("churn-{w}-{k}");
                let cycle = cycle(&endpoint, &room, protocol, &text);
                match tokio::time::timeout_at(bound, cycle).await {
                    Ok(Ok(answered)) => {
                        let micros = begun.elapsed().as_micros();
                        tally
                            .times_us
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        tally.close_answered += u64::from(answered);
                    }
                    Ok(Err(error)) => {
                        tally.failed += 1;
                        tally.first_error.get_or_insert(format!("{error:#}"));
                    }
                    Err(_) => {
                        tally.failed += 1;
                        tally.first_error.get_or_insert("a cycle timed out".into());
                    }
                }
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await.context("a churn worker panicked")?;
        total.times_us.extend_from_slice(&tally.times_us);
        total.failed += tally.failed;
        total.close_answered += tally.close_answered;
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    let elapsed = started.elapsed();
    progress.finish().await;
    if let Some(error) = &total.first_error {
        eprintln!("churn: {} cycles failed; the first: {error}", total.failed);
    }

    let done = total.times_us.len() as u64;
    let rate = per_second(done, elapsed);
    let mut fields = serde_json::Map::new();
    fields.insert("cycles_per_s".into(), json!(rate));
    fields.insert("cycles".into(), json!(done));
    fields.insert("failed".into(), json!(total.failed));
    fields.insert(
        "not_run".into(),
        json!(args.cycles.saturating_sub(done + total.failed)),
    );
    fields.insert("cycle_ms".into(), latency_ms(total.times_us));
    fields.insert("close_answered".into(), json!(total.close_answered));
    fields.insert("elapsed_s".into(), json!(round3(elapsed.as_secs_f64())));
    cpu.stop(&mut fields);
    Ok(Outcome {
        fields,
        headline: Some(rate),
        clean: total.failed == 0 && done == args.cycles,
    })
}

/// One cycle; says whether the server answered the closing handshake.
async fn cycle(
    endpoint: &Endpoint,
    room: &str,
    protocol: Protocol,
    text: &str,
) -> anyhow::Result<bool> {
    let mut ws = endpoint.connect(room).await?;
    ws.send(Message::Text(message_frame(protocol, text, text).into()))
        .await?;
    loop {
        match ws.next().await {
            // Only a frame that can be ours is parsed: a join's history (50 frames from chatweb, none
            // from the relay) is passed over by a substring test, so that the client's work per cycle
            // is nearly the same against either server and the client is not what is measured.
            Some(Ok(Message::Text(frame))) if frame.as_str().contains(text) => {
                let frame = Frame::parse(frame.as_str());
                if frame.is_some_and(|f| f.is_message() && f.message.as_deref() == Some(text)) {
                    break;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => bail!("the server closed before the message came back"),
        }
    }
    Ok(close(ws).await)
}

/// Starts the closing handshake and waits briefly for the server's Close.
async fn close(mut ws: Ws) -> bool {
    if ws.close(None).await.is_err() {
        return false;
    }
    let answered = async {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(_)) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    };
    tokio::time::timeout(CLOSE_TIMEOUT, answered)
        .await
        .unwrap_or(false)
}
