//! The reconnect storm (issue 22): N plain clients over R rooms on one chatweb node, each reading; one
//! publisher per room sends M messages (acknowledged) so that every client has a last id. Then the node
//! is stopped (SIGKILL, or SIGTERM with `--stop term`) and, after `--down-ms`, started again on the same
//! port and the same SQLite database, while the publishers send a few more messages (they get errors or
//! no answer while it is down, and count a message only once it is acknowledged). Every client reconnects
//! with full-jitter exponential backoff and resumes with `?since=<its last id>`.
//!
//! It reports the time from the restart (the new process started) until each client had resumed (its
//! handshake accepted) and had every acknowledged message of its room, as p50/p99/max and in total; what
//! was lost, duplicated or skipped; the node's peak memory during the storm (sampled from /proc, and the
//! new process's high-water mark); and the database's load: the store reads the new node made against
//! the resumes it served (resumes of one room and gap share reads, src/storage/reads.rs), from its
//! `/metrics`. It exits non-zero on any loss, duplicate or skip, or when not every client had resumed
//! within `--deadline` seconds of the restart. chatweb only: the relay keeps nothing to resume from.

mod clients;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use clients::{Backoff, Progress, Publisher, PublisherTally, Shared, SubscriberTally};

use crate::client::{Dial, Endpoint, HANDSHAKES};
use crate::procfs::Proc;
use crate::report::{Outcome, latency_ms, round3};
use crate::scenario::Scenario;
use crate::server::{Server, Stop};

/// How often the node's memory is sampled during the storm.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// How long a stopped node may take to end (a graceful stop closes every socket first).
const STOP_BOUND: Duration = Duration::from_secs(30);

/// Parameters of `chatweb-bench storm`.
#[derive(Clone, clap::Args, serde::Serialize)]
pub struct StormArgs {
    /// Clients (each one connection, reading its room), spread over the rooms.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Rooms, each with one publisher.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Messages each publisher sends (and has acknowledged) before the node is stopped.
    #[arg(long, default_value_t = 20)]
    pub messages: u64,
    /// Messages each publisher sends from the stop on (each counted once acknowledged).
    #[arg(long, default_value_t = 5)]
    pub more: u64,
    /// How the node is stopped.
    #[arg(long, value_enum, default_value = "kill")]
    pub stop: Stop,
    /// Milliseconds the node stays down before it is started again.
    #[arg(long, default_value_t = 500)]
    pub down_ms: u64,
    /// The reconnect backoff's first bound, in milliseconds (full jitter: a uniform wait below it).
    #[arg(long, default_value_t = 100)]
    pub backoff_base_ms: u64,
    /// The reconnect backoff's cap, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub backoff_cap_ms: u64,
    /// Seconds from the restart within which every client must have resumed and caught up.
    #[arg(long = "deadline", default_value_t = 15.0)]
    pub deadline_s: f64,
    /// Handshakes in progress at once while the clients first connect.
    #[arg(long, default_value_t = HANDSHAKES)]
    pub concurrency: usize,
}

impl Scenario for StormArgs {
    const NAME: &'static str = "storm";
    const HEADLINE: &'static str = "all_resumed_s";
    const WITH_RELAY: bool = false;

    /// The CI size.
    fn quick(&mut self) {
        self.connections = 500;
        self.rooms = 10;
        self.messages = 10;
        self.more = 3;
        self.down_ms = 200;
    }

    /// Subscribers and publishers.
    fn connections(&self) -> u64 {
        (self.connections + self.rooms) as u64
    }

    fn no_relay_reason(&self) -> Option<&'static str> {
        Some("the relay keeps nothing to resume from and cannot be restarted: no relay run")
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.rooms == 0 || self.connections < self.rooms {
            bail!("--rooms must be at least 1 and at most --connections");
        }
        if !(self.deadline_s > 0.0 && self.deadline_s < 3600.0) {
            bail!("--deadline must be between 0 and 3600 seconds");
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

/// Runs the scenario against `server`, which it stops and starts again.
async fn run(
    server: &Server,
    args: &StormArgs,
    sources: u8,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let Some(launch) = server.launch().cloned() else {
        bail!("the storm stops and restarts its node: it cannot run against --target");
    };
    let endpoint = Arc::new(Endpoint::new(server.addr, sources, 4 * 1024)?);
    let tag = crate::client::run_tag();
    let room_of = |i: usize| format!("st{tag}-{}", i % args.rooms);
    let dials: Vec<Dial> = (0..args.connections).map(|i| room_of(i).into()).collect();
    let mut wires = Vec::with_capacity(args.connections);
    for (i, wire) in endpoint
        .connect_many_wire(dials, args.concurrency, deadline)
        .await?
        .into_iter()
        .enumerate()
    {
        wires.push(wire.with_context(|| format!("client {i} could not connect"))?);
    }
    let shared = Arc::new(Shared {
        endpoint,
        backoff: Backoff {
            base: Duration::from_millis(args.backoff_base_ms.max(1)),
            cap: Duration::from_millis(args.backoff_cap_ms.max(1)),
        },
        t0: Instant::now(),
        stop: CancellationToken::new(),
        progress: (0..args.connections).map(|_| Progress::default()).collect(),
    });
    let subscribers: Vec<_> = wires
        .into_iter()
        .enumerate()
        .map(|(i, wire)| tokio::spawn(clients::subscriber(shared.clone(), i, room_of(i), wire)))
        .collect();

    // Before the stop: every room gets its messages, and every client has them.
    let (go_on, stopping) = tokio::sync::watch::channel(false);
    let mut publishers = Vec::with_capacity(args.rooms);
    for r in 0..args.rooms {
        let mut publisher = Publisher::connect(shared.clone(), r, room_of(r)).await?;
        let (messages, more) = (args.messages, args.more);
        let mut stopping = stopping.clone();
        publishers.push(tokio::spawn(async move {
            for k in 0..messages {
                publisher.send(k).await;
            }
            let before = publisher.tally.acked.len();
            let _ = stopping.wait_for(|stopped| *stopped).await;
            for k in messages..messages + more {
                publisher.send(k).await;
            }
            (before, publisher.tally)
        }));
    }
    let before_heads = vec![args.messages; args.rooms];
    wait_for(deadline, || all_have(&shared, args, &before_heads)).await;
    if !all_have(&shared, args, &before_heads) {
        shared.stop.cancel();
        bail!(
            "not every client had the first {} messages of its room in time",
            args.messages
        );
    }
    let rss_before = server.proc.map(Proc::rss_kb).transpose()?;

    // The stop, the time down, the restart.
    let stopped_at = Instant::now();
    let _ = go_on.send(true);
    server.stop(args.stop, STOP_BOUND).await?;
    let stop_s = stopped_at.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(args.down_ms)).await;
    let restarted_at = Instant::now();
    let restart_us = u64::try_from((restarted_at - shared.t0).as_micros()).unwrap_or(u64::MAX);
    let (addr, url, binary) = (server.addr, launch.database_url, launch.binary);
    let node =
        tokio::task::spawn_blocking(move || Server::spawn_chatweb_on(&binary, &url, addr.port()))
            .await??;
    let startup_s = restarted_at.elapsed().as_secs_f64();
    let sampler = Sampler::start(node.proc);

    // The storm: until every publisher is done and every client has everything acknowledged.
    let mut tallies = Vec::with_capacity(args.rooms);
    let mut finished = false;
    for publisher in publishers {
        match tokio::time::timeout_at(deadline, publisher).await {
            Ok(done) => tallies.push(done.context("a publisher panicked")?),
            Err(_) => break,
        }
    }
    let publishers_done = tallies.len() == args.rooms;
    let heads: Vec<u64> = tallies
        .iter()
        .map(|(_, t)| t.acked.iter().map(|(id, _)| *id).max().unwrap_or(0))
        .collect();
    if publishers_done {
        finished = wait_for(deadline, || all_have(&shared, args, &heads)).await;
    }
    let publishers_done_at = Instant::now();
    let rss_peak_sampled = sampler.stop().await;
    let rss_after = node.proc.map(Proc::rss_kb).transpose()?;
    // The new process's whole life is the storm (its start included).
    let cpu_s = node.proc.and_then(|p| p.cpu_secs().ok());
    let metrics = node.metrics().await.ok();
    shared.stop.cancel();
    let mut subs = Vec::with_capacity(subscribers.len());
    for task in subscribers {
        subs.push(task.await.context("a subscriber panicked")?);
    }

    let mut fields = serde_json::Map::new();
    let acks = room_acks(&tallies, args.rooms);
    let judged = judge(&shared, args, &heads, &acks, &subs, restart_us);
    let max_s = |us: &[u32]| us.iter().max().map_or(0.0, |us| f64::from(*us) / 1e6);
    let all_resumed_s =
        (judged.resume_us.len() == args.connections).then(|| max_s(&judged.resume_us));
    let all_delivered_s =
        (finished && judged.caught_up == args.connections).then(|| max_s(&judged.delivered_us));
    fields.insert("all_resumed_s".into(), json!(all_resumed_s.map(round3)));
    fields.insert("all_delivered_s".into(), json!(all_delivered_s.map(round3)));
    fields.insert("resumed".into(), json!(judged.resume_us.len()));
    fields.insert("resume_ms".into(), latency_ms(judged.resume_us.clone()));
    fields.insert(
        "reconnect_ms".into(),
        latency_ms(judged.reconnect_us.clone()),
    );
    fields.insert(
        "delivered_ms".into(),
        latency_ms(judged.delivered_us.clone()),
    );
    fields.insert("lost".into(), json!(judged.lost));
    fields.insert("duplicated".into(), json!(judged.duplicated));
    fields.insert("skipped".into(), json!(judged.skipped));
    fields.insert("not_dropped".into(), json!(judged.not_dropped));
    fields.insert("reconnect_attempts".into(), json!(judged.attempts));
    fields.insert("error_frames".into(), json!(judged.errors));
    fields.insert("stop_s".into(), json!(round3(stop_s)));
    fields.insert("startup_s".into(), json!(round3(startup_s)));
    fields.insert(
        "storm_s".into(),
        json!(round3((publishers_done_at - restarted_at).as_secs_f64())),
    );
    fields.insert("publishers".into(), publisher_fields(&tallies, args));
    fields.insert("server_rss_before_kb".into(), json!(rss_before));
    fields.insert("server_rss_peak_sampled_kb".into(), json!(rss_peak_sampled));
    fields.insert("server_rss_after_kb".into(), json!(rss_after));
    let hwm = node.proc.and_then(|p| p.peak_rss_kb().ok());
    fields.insert("server_rss_hwm_kb".into(), json!(hwm));
    fields.insert("server_cpu_s".into(), json!(cpu_s.map(round3)));
    fields.insert(
        "database".into(),
        database_fields(metrics.as_ref(), &judged),
    );
    if let Some(log) = node.log() {
        fields.insert("restarted_warnings".into(), json!(log.warnings));
        fields.insert("restarted_errors".into(), json!(log.errors));
        for line in &log.first_problems {
            eprintln!("restarted chatweb logged: {line}");
        }
    }
    let within = all_resumed_s.is_some_and(|s| s <= args.deadline_s)
        && all_delivered_s.is_some_and(|s| s <= args.deadline_s);
    fields.insert("within_deadline".into(), json!(within));
    let clean = within
        && publishers_done
        && judged.lost == 0
        && judged.duplicated == 0
        && judged.skipped == 0;
    Ok(Outcome {
        fields,
        headline: all_resumed_s,
        clean,
    })
}

/// What the clients saw, judged against what was acknowledged.
struct Judged {
    /// Clients that had every acknowledged message of their room.
    caught_up: usize,
    /// Per resumed client: µs from the restart until its resume was accepted and it had every message
    /// acknowledged by then (the gap it resumed over).
    resume_us: Vec<u32>,
    /// Per caught-up client: µs from the restart until it had every acknowledged message of its room
    /// (the last ones sent after the restart: the publishers' pace counts here).
    delivered_us: Vec<u32>,
    /// Per reconnected client: µs from the restart until its resume was accepted.
    reconnect_us: Vec<u32>,
    /// Acknowledged messages some client never got.
    lost: u64,
    duplicated: u64,
    skipped: u64,
    /// Clients whose connection the stop did not end.
    not_dropped: usize,
    attempts: u64,
    errors: u64,
    /// Clients that resumed after the restart.
    resumes: usize,
}

fn judge(
    shared: &Shared,
    args: &StormArgs,
    heads: &[u64],
    acks: &[Vec<(u64, u64)>],
    subs: &[SubscriberTally],
    restart_us: u64,
) -> Judged {
    let mut judged = Judged {
        caught_up: 0,
        resume_us: Vec::new(),
        delivered_us: Vec::new(),
        reconnect_us: Vec::new(),
        lost: 0,
        duplicated: 0,
        skipped: 0,
        not_dropped: 0,
        attempts: 0,
        errors: 0,
        resumes: 0,
    };
    let since_restart = |us: u64| u32::try_from(us.saturating_sub(restart_us)).unwrap_or(u32::MAX);
    for (i, (progress, tally)) in shared.progress.iter().zip(subs).enumerate() {
        let head = heads.get(i % args.rooms).copied().unwrap_or(0);
        let last = progress.last.load(Ordering::Relaxed);
        let reconnected = progress.reconnected_at.load(Ordering::Relaxed);
        judged.lost += head.saturating_sub(last) + tally.skipped;
        judged.duplicated += tally.duplicated;
        judged.skipped += tally.skipped;
        judged.attempts += tally.attempts;
        judged.errors += tally.errors;
        if tally.drops == 0 {
            judged.not_dropped += 1;
        }
        if reconnected <= restart_us {
            continue;
        }
        judged.resumes += 1;
        judged.reconnect_us.push(since_restart(reconnected));
        // The gap it resumed over ends at the newest id acknowledged when its resume was accepted.
        let owed = acks
            .get(i % args.rooms)
            .into_iter()
            .flatten()
            .filter(|(_, at)| *at <= reconnected)
            .map(|(id, _)| *id)
            .max()
            .unwrap_or(0);
        let got = tally.arrivals.iter().find(|(id, _)| *id >= owed);
        match got {
            Some((_, at)) => judged.resume_us.push(since_restart(reconnected.max(*at))),
            // It had everything owed before its connection was lost.
            None if last >= owed => judged.resume_us.push(since_restart(reconnected)),
            None => {}
        }
        if last >= head {
            judged.caught_up += 1;
            let had_all = progress.last_at.load(Ordering::Relaxed);
            judged
                .delivered_us
                .push(since_restart(reconnected.max(had_all)));
        }
    }
    judged
}

/// Each room's acknowledged ids and when their acks came.
fn room_acks(tallies: &[(usize, PublisherTally)], rooms: usize) -> Vec<Vec<(u64, u64)>> {
    let mut acks = vec![Vec::new(); rooms];
    for (room, (_, tally)) in acks.iter_mut().zip(tallies) {
        room.extend_from_slice(&tally.acked);
    }
    acks
}

/// The publishers' side: messages acknowledged before and after the stop, resends, duplicate acks.
fn publisher_fields(tallies: &[(usize, PublisherTally)], args: &StormArgs) -> Value {
    let acked: usize = tallies.iter().map(|(_, t)| t.acked.len()).sum();
    let before: usize = tallies.iter().map(|(b, _)| b).sum();
    let first_error = tallies.iter().find_map(|(_, t)| t.first_error.clone());
    json!({
        "acked_before_stop": before,
        "acked_after_stop": acked - before,
        "not_acked": (args.rooms as u64 * (args.messages + args.more)).saturating_sub(acked as u64),
        "resends": tallies.iter().map(|(_, t)| t.resends).sum::<u64>(),
        "duplicate_acks": tallies.iter().map(|(_, t)| t.duplicate_acks).sum::<u64>(),
        "reconnect_attempts": tallies.iter().map(|(_, t)| t.attempts).sum::<u64>(),
        "first_error": first_error,
    })
}

/// The database's load during the storm, from the restarted node's counters (its whole life is the
/// storm): store reads against the resumes it served.
fn database_fields(metrics: Option<&HashMap<String, f64>>, judged: &Judged) -> Value {
    let get = |name: &str| metrics.and_then(|m| m.get(name).copied());
    let reads = get("chatweb_store_reads_total");
    let resumes = get("chatweb_resumes_total");
    let per_resume = match (reads, resumes) {
        (Some(reads), Some(resumes)) if resumes > 0.0 => Some(round3(reads / resumes)),
        _ => None,
    };
    json!({
        "store_reads": reads,
        "resumes_served": resumes,
        "store_reads_per_resume": per_resume,
        "catch_ups": get("chatweb_catch_ups_total"),
        "clients_resumed": judged.resumes,
    })
}

/// Whether every client has everything up to its room's head.
fn all_have(shared: &Shared, args: &StormArgs, heads: &[u64]) -> bool {
    shared
        .progress
        .iter()
        .enumerate()
        .all(|(i, p)| p.last.load(Ordering::Relaxed) >= heads[i % args.rooms])
}

/// Polls `done` until it holds (true) or `deadline` passes (false).
async fn wait_for(deadline: Instant, done: impl Fn() -> bool) -> bool {
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// Samples a process's resident memory until stopped.
struct Sampler {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Option<u64>>,
}

impl Sampler {
    fn start(proc: Option<Proc>) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let proc = proc?;
            let mut peak = 0;
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tokio::select! {
                    () = token.cancelled() => return Some(peak),
                    _ = tick.tick() => {
                        if let Ok(kb) = proc.rss_kb() {
                            peak = peak.max(kb);
                        }
                    }
                }
            }
        });
        Self { stop, task }
    }

    /// The highest sample, in KiB.
    async fn stop(self) -> Option<u64> {
        self.stop.cancel();
        self.task.await.ok().flatten()
    }
}
