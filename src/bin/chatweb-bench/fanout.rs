//! The fan-out scenario: R rooms, S subscriber connections and one publisher per room, M messages per
//! publisher, sent at a fixed rate or as fast as a window of unechoed messages allows. Each message's text
//! carries its number and its send time (nanoseconds since the run's start on this process's monotonic
//! clock), so a subscriber measures latency and checks loss, duplicates and order by itself, exactly as a
//! plain Channels client that never resumes would see them.
//!
//! Before the clock starts, each publisher sends warm-up messages until every subscriber of its room has
//! received one: a subscription the server has not set up yet cannot lose measured messages.

use crate::scenario::Scenario;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{Endpoint, HANDSHAKES, Protocol};
use crate::fanout_roles::{PublisherRoom, Tally, publish, subscribe};
use crate::report::{CpuMeter, Outcome, Progress, latency_ms, per_second, round3};
use crate::server::Server;

/// With publishers done, a run ends when no delivery arrived for this long.
const SETTLE: Duration = Duration::from_secs(3);

/// Parameters of `chatweb-bench fanout`.
#[derive(Clone, clap::Args, serde::Serialize)]
pub struct FanoutArgs {
    /// Rooms, each with its own publisher.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Subscriber connections per room.
    #[arg(long, default_value_t = 10)]
    pub subscribers: usize,
    /// Messages each publisher sends.
    #[arg(long, default_value_t = 2000)]
    pub messages: u64,
    /// Messages per second per publisher; without it, publishers send as fast as `--window` allows.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Messages a publisher may have sent but not yet seen echoed (without `--rate`).
    #[arg(long, default_value_t = 64)]
    pub window: u64,
    /// Bytes of message text.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// What publishers speak: plain Channels frames, or ours with a `client_id` (acknowledged).
    #[arg(long, value_enum, default_value = "plain")]
    pub protocol: Protocol,
}

impl Scenario for FanoutArgs {
    const NAME: &'static str = "fanout";
    const HEADLINE: &'static str = "deliveries_per_s";

    /// The CI size: a few seconds at most.
    fn quick(&mut self) {
        self.rooms = 2;
        self.subscribers = 5;
        self.messages = 200;
        self.rate = None;
    }

    /// Connections the run opens.
    fn connections(&self) -> u64 {
        (self.rooms * (self.subscribers + 1)) as u64
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self
            .rate
            .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
        {
            anyhow::bail!("--rate must be a positive number of messages per second");
        }
        Ok(())
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
/// Shared by every task of one run.
pub struct Shared {
    /// The run's clock starts here.
    pub start: Instant,
    /// The scenario's parameters.
    pub args: FanoutArgs,
    /// Cancelled when the run ends; every task then returns what it has.
    pub stop: CancellationToken,
    /// Deliveries so far (distinct), for the bar and to notice a stalled run.
    pub progress: Arc<AtomicU64>,
    /// Subscribers that have every message.
    pub complete: AtomicUsize,
    /// Publishers that sent all they were going to.
    pub publishers_done: AtomicUsize,
    /// Measured messages sent.
    pub sent: AtomicU64,
    /// How far a paced publisher fell behind its schedule, at worst.
    pub max_send_lag_us: AtomicU64,
}

impl Shared {
    /// Nanoseconds since the run's start: the clock of send and receive times.
    pub fn now_nanos(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// Runs the scenario against `server`, stopping at `deadline` whatever is missing.
pub async fn run(
    server: &Server,
    args: &FanoutArgs,
    sources: u8,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let endpoint = Arc::new(Endpoint::new(server.addr, sources, 8 * 1024)?);
    let tag = crate::client::run_tag();
    let rooms: Vec<String> = (0..args.rooms).map(|r| format!("f{tag}-{r}")).collect();
    let names = rooms
        .iter()
        .flat_map(|room| std::iter::repeat_n(room.clone(), args.subscribers))
        .collect();
    let subscribers = endpoint
        .connect_many(names, HANDSHAKES, deadline, || {})
        .await?
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let publishers = endpoint
        .connect_many(rooms, HANDSHAKES, deadline, || {})
        .await?
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let expected = args.rooms as u64 * args.subscribers as u64 * args.messages;
    let progress = Progress::start(format!("{:?} fanout", server.kind), expected);
    let shared = Arc::new(Shared {
        start: Instant::now(),
        args: args.clone(),
        stop: CancellationToken::new(),
        progress: progress.counter(),
        complete: AtomicUsize::new(0),
        publishers_done: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
        max_send_lag_us: AtomicU64::new(0),
    });

    let (ready_tx, mut ready_rx) = mpsc::channel(args.rooms.max(1));
    let (go_tx, go_rx) = watch::channel(None);
    let mut subscriber_tasks = Vec::with_capacity(subscribers.len());
    let mut publisher_tasks = Vec::with_capacity(publishers.len());
    let mut subscribers = subscribers.into_iter();
    for (r, publisher) in publishers.into_iter().enumerate() {
        let (joined_tx, joined_rx) = watch::channel(0usize);
        let joined_tx = Arc::new(joined_tx);
        for ws in subscribers.by_ref().take(args.subscribers) {
            subscriber_tasks.push(tokio::spawn(subscribe(
                ws,
                shared.clone(),
                joined_tx.clone(),
            )));
        }
        let room = PublisherRoom {
            index: r,
            joined: joined_rx,
            ready: ready_tx.clone(),
            go: go_rx.clone(),
        };
        let task = publish(publisher, shared.clone(), room);
        publisher_tasks.push(tokio::spawn(tokio::time::timeout_at(deadline, task)));
    }
    for _ in 0..args.rooms {
        tokio::time::timeout_at(deadline, ready_rx.recv())
            .await
            .ok()
            .flatten()
            .context("timed out before every subscriber received a warm-up message")?;
    }

    let cpu = CpuMeter::start(server.proc);
    let go = shared.now_nanos();
    go_tx.send_replace(Some(Instant::now()));
    let end = wait_for_end(&shared, deadline).await;
    shared.stop.cancel();
    progress.finish().await;

    let mut publisher_errors = 0u64;
    for task in publisher_tasks {
        match task.await {
            Ok(Ok(Ok(()))) | Ok(Err(_)) => {}
            Ok(Ok(Err(error))) => {
                publisher_errors += 1;
                eprintln!("fanout: a publisher failed: {error:#}");
            }
            Err(error) => return Err(error).context("a publisher panicked"),
        }
    }
    let mut total = Tally::default();
    let mut closed = 0u64;
    for task in subscriber_tasks {
        let tally = task.await.context("a subscriber panicked")?;
        total.delivered += tally.delivered;
        total.duplicated += tally.duplicated;
        total.out_of_order += tally.out_of_order;
        total.id_not_increasing += tally.id_not_increasing;
        total.last_delivery = total.last_delivery.max(tally.last_delivery);
        total.latencies_us.extend_from_slice(&tally.latencies_us);
        closed += u64::from(tally.closed_by_server);
    }

    let elapsed = Duration::from_nanos(total.last_delivery.saturating_sub(go));
    let lost = expected.saturating_sub(total.delivered);
    let mut fields = serde_json::Map::new();
    let rate = per_second(total.delivered, elapsed);
    fields.insert("deliveries_per_s".into(), json!(rate));
    fields.insert("expected".into(), json!(expected));
    fields.insert("delivered".into(), json!(total.delivered));
    fields.insert("lost".into(), json!(lost));
    fields.insert("duplicated".into(), json!(total.duplicated));
    fields.insert("out_of_order".into(), json!(total.out_of_order));
    fields.insert("id_not_increasing".into(), json!(total.id_not_increasing));
    fields.insert("latency_ms".into(), latency_ms(total.latencies_us));
    fields.insert("elapsed_s".into(), json!(round3(elapsed.as_secs_f64())));
    fields.insert("sent".into(), json!(shared.sent.load(Ordering::Relaxed)));
    if args.rate.is_some() {
        let lag = shared.max_send_lag_us.load(Ordering::Relaxed) as f64 / 1000.0;
        fields.insert("send_lag_max_ms".into(), json!(round3(lag)));
    }
    fields.insert("end".into(), json!(end));
    fields.insert("closed_by_server".into(), json!(closed));
    fields.insert("publisher_errors".into(), json!(publisher_errors));
    cpu.stop(&mut fields);
    let clean = lost == 0
        && total.duplicated == 0
        && total.out_of_order == 0
        && total.id_not_increasing == 0
        && closed == 0
        && publisher_errors == 0;
    Ok(Outcome {
        fields,
        headline: Some(rate),
        clean,
    })
}

/// Waits until every subscriber has everything, the deadline passes, or (publishers done) nothing more
/// arrives; says which.
async fn wait_for_end(shared: &Shared, deadline: Instant) -> &'static str {
    let subscribers = shared.args.rooms * shared.args.subscribers;
    let mut seen = 0;
    let mut last_change = Instant::now();
    loop {
        if shared.complete.load(Ordering::Relaxed) >= subscribers {
            return "complete";
        }
        let now = Instant::now();
        if now >= deadline {
            return "timeout";
        }
        let progress = shared.progress.load(Ordering::Relaxed);
        if progress != seen {
            seen = progress;
            last_change = now;
        } else if shared.publishers_done.load(Ordering::Relaxed) >= shared.args.rooms
            && now - last_change >= SETTLE
        {
            return "stalled";
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
