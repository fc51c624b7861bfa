//! The fan-out scenario: R rooms, S subscriber connections and one publisher per room, M messages per
//! publisher, sent at a fixed rate or as fast as a window of unechoed messages allows. Each message's text
//! carries its number and its send time (nanoseconds since the run's start on this process's monotonic
//! clock), so a subscriber measures latency and checks loss, duplicates and order by itself, exactly as a
//! plain Channels client that never resumes would see them.
//!
//! Before the clock starts, each publisher sends warm-up messages until every subscriber of its room has
//! received one: a subscription the server has not set up yet cannot lose measured messages.
//!
//! With `--live` (issue 9) every connection is a signed-in user (signed up over HTTP first) that asks for
//! `chatweb.v2` and, while messages flow, sends typing and read frames (`live`); there is no relay run.
//! Deliveries and loss count message frames only, as in the plain run; error frames fail the run, and so do
//! a missing read mark afterwards or, in the plain run, any frame only `chatweb.v2` clients may get.

use crate::scenario::Scenario;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{Dial, Endpoint, HANDSHAKES, Protocol};
use crate::fanout_roles::{self, PublisherRoom, Tally, publish, subscribe};
use crate::live::{self, FrameCounts, LiveSubscriber};
use crate::report::{CpuMeter, Outcome, Progress, latency_ms, per_second, round3};
use crate::server::Server;
use crate::signup;

/// Late deliveries less than this apart are one stall.
const STALL_GAP: Duration = Duration::from_millis(50);

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
    /// The live room: every client signs up, asks for `chatweb.v2` and sends typing frames; subscribers
    /// mark what they received read. No relay run (the relay has no accounts and no `chatweb.v2`).
    #[arg(long)]
    pub live: bool,
    /// With `--live`: milliseconds between one client's typing frames.
    #[arg(long, default_value_t = 1500)]
    pub typing_every_ms: u64,
    /// With `--live`: milliseconds between one subscriber's read frames (sent only when it has a newer id).
    #[arg(long, default_value_t = 250)]
    pub read_every_ms: u64,
}

impl FanoutArgs {
    /// The period of a live client's typing frames.
    pub fn typing_every(&self) -> Duration {
        Duration::from_millis(self.typing_every_ms)
    }

    /// The period of a live subscriber's read frames.
    pub fn read_every(&self) -> Duration {
        Duration::from_millis(self.read_every_ms)
    }
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
        if self.live && (self.typing_every_ms == 0 || self.read_every_ms == 0) {
            anyhow::bail!("--typing-every-ms and --read-every-ms must be at least 1");
        }
        if self.live && self.subscribers == 0 {
            anyhow::bail!("--live needs at least one subscriber per room: subscribers mark read");
        }
        Ok(())
    }

    fn no_relay_reason(&self) -> Option<&'static str> {
        self.live.then_some(
            "the relay has no accounts and does not speak chatweb.v2: no relay run with --live",
        )
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
    /// Frames other than messages and acks that clients received.
    pub frames: Mutex<FrameCounts>,
    /// Typing and read frames live clients sent.
    pub live_sent: live::Sent,
}

impl Shared {
    /// Nanoseconds since the run's start: the clock of send and receive times.
    pub fn now_nanos(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Counts a received frame that is not a message (nor an ack); the run's first error frame is shown.
    pub fn count_frame(&self, kind: Option<&str>, text: &str) {
        let mut frames = self.frames();
        if kind == Some("error") && frames.error == 0 {
            eprintln!("fanout: a client got an error frame: {text}");
        }
        frames.count(kind);
    }

    fn frames(&self) -> std::sync::MutexGuard<'_, FrameCounts> {
        self.frames
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    let subscriber_count = args.rooms * args.subscribers;
    // Subscribers first, then one publisher per room; live clients each with their own account.
    let signing_up = Instant::now();
    let sessions = if args.live {
        let count = subscriber_count + args.rooms;
        signup::sign_up(server.addr, count, &tag, deadline).await?
    } else {
        Vec::new()
    };
    let signup_time = signing_up.elapsed();
    let mut dials: Vec<Dial> = rooms
        .iter()
        .flat_map(|room| std::iter::repeat_n(room.clone(), args.subscribers))
        .chain(rooms.iter().cloned())
        .map(Dial::from)
        .collect();
    for (dial, session) in dials.iter_mut().zip(&sessions) {
        dial.session = Some(session.clone());
        dial.v2 = true;
    }
    let publisher_dials = dials.split_off(subscriber_count);
    let subscribers = connect_spread(&endpoint, &server.nodes, sources, dials, deadline).await?;
    let publishers = endpoint
        .connect_many(publisher_dials, HANDSHAKES, deadline, || {})
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
        frames: Mutex::default(),
        live_sent: live::Sent::default(),
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
            let index = subscriber_tasks.len();
            let live = args.live.then(|| {
                LiveSubscriber::new(
                    args.typing_every(),
                    args.read_every(),
                    index,
                    subscriber_count,
                )
            });
            subscriber_tasks.push(tokio::spawn(subscribe(
                ws,
                shared.clone(),
                joined_tx.clone(),
                live,
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
        total.late += tally.late;
        total.late_at.extend_from_slice(&tally.late_at);
        closed += u64::from(tally.closed_by_server);
    }

    // The subscribers have closed their sockets; their read marks must be stored all the same.
    let mut read_marks_stored = 0usize;
    let read_marks_checked = if args.live && args.subscribers > 0 {
        args.rooms
    } else {
        0
    };
    if read_marks_checked > 0 {
        for (room, session) in rooms
            .iter()
            .zip(sessions.iter().step_by(args.subscribers.max(1)))
        {
            read_marks_stored += usize::from(
                signup::has_read_mark(server.addr, session, room)
                    .await
                    .context("checking a live subscriber's read mark")?,
            );
        }
    }
    let frames = *shared.frames();

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
    // Deliveries later than 10 ms, and the stalls they make up (late deliveries within 50 ms of each
    // other are one stall): the paced runs' measure of tail stalls.
    fields.insert("late_over_10ms".into(), json!(total.late));
    let stalls = fanout_roles::stalls(&mut total.late_at, STALL_GAP);
    fields.insert("stalls_over_10ms".into(), json!(stalls));
    fields.insert("end".into(), json!(end));
    fields.insert("closed_by_server".into(), json!(closed));
    fields.insert("publisher_errors".into(), json!(publisher_errors));
    fields.insert("error_frames".into(), json!(frames.error));
    fields.insert("frames".into(), json!(frames));
    let live_ok = if args.live {
        let sent = &shared.live_sent;
        fields.insert(
            "live".into(),
            json!({
                "accounts": sessions.len(),
                "signup_s": round3(signup_time.as_secs_f64()),
                "typing_sent": sent.typing.load(Ordering::Relaxed),
                "read_sent": sent.read.load(Ordering::Relaxed),
                "read_marks_checked": read_marks_checked,
                "read_marks_stored": read_marks_stored,
            }),
        );
        // Every signed-in chatweb.v2 connection is told its read mark on connect.
        read_marks_stored == read_marks_checked && frames.read >= sessions.len() as u64
    } else {
        frames.v2_only() == 0
    };
    cpu.stop_rated(&mut fields, elapsed, total.delivered);
    let clean = live_ok
        && frames.error == 0
        && lost == 0
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

/// Connects `dials` in order: round-robin over `main` and the cluster's further `nodes`.
async fn connect_spread(
    main: &Arc<Endpoint>,
    nodes: &[std::net::SocketAddr],
    sources: u8,
    dials: Vec<Dial>,
    deadline: Instant,
) -> anyhow::Result<Vec<crate::wire::Wire>> {
    let mut endpoints = vec![main.clone()];
    for &node in nodes {
        endpoints.push(Arc::new(Endpoint::new(node, sources, 8 * 1024)?));
    }
    let n = endpoints.len();
    let mut shares: Vec<Vec<Dial>> = vec![Vec::new(); n];
    for (i, dial) in dials.into_iter().enumerate() {
        shares[i % n].push(dial);
    }
    let mut connected = Vec::with_capacity(n);
    for (endpoint, share) in endpoints.iter().zip(shares) {
        let sockets = endpoint
            .connect_many_wire(share, HANDSHAKES, deadline)
            .await?;
        connected.push(sockets.into_iter());
    }
    let total: usize = connected.iter().map(ExactSizeIterator::len).sum();
    let mut out = Vec::with_capacity(total);
    for i in 0..total {
        let socket = connected[i % n]
            .next()
            .context("a node's sockets ran out")?;
        out.push(socket?);
    }
    Ok(out)
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
