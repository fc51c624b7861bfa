//! `chatweb-bench`: the load generator of issue 5 (docs/PERFORMANCE.md has the method, commands and
//! results). Each scenario subcommand runs against a freshly spawned chatweb, then against a freshly spawned
//! bare relay with the same parameters, and prints one JSON line with both results and chatweb's headline
//! figure as a ratio of the relay's. Only loopback servers are measured, every run stops by itself at
//! `--timeout`, and the exit code is non-zero when chatweb lost, duplicated, reordered or failed anything.
//! `cluster` is the exception (issue 22, docs/RELIABILITY.md): as root, it runs a cluster in network
//! namespaces of its own under faults, its clients speaking to its nodes on the addresses it made for them.

mod churn;
mod client;
mod cluster;
mod conns;
mod fanout;
mod fanout_roles;
mod history;
mod live;
mod procfs;
mod relay;
mod report;
mod scenario;
mod search;
mod searchdb;
mod server;
mod signup;
mod store;
mod storm;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use tokio::time::Instant;

use report::Outcome;
use scenario::Scenario;
use server::{Kind, Server};

/// Time a run gets beyond `--timeout` to start its server and tear down.
const TEARDOWN: Duration = Duration::from_secs(10);

/// Load generator for chatweb: measures it beside a bare relay and prints one JSON line.
#[derive(Parser)]
#[command(name = "chatweb-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// R rooms x S subscribers, one publisher per room: deliveries/s, latency, loss (`--live`: signed-in
    /// `chatweb.v2` clients that also send typing and read frames).
    Fanout {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: fanout::FanoutArgs,
    },
    /// N idle connections over R rooms: server memory per connection, connect rate.
    Conns {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: conns::ConnsArgs,
    },
    /// Connect, send one message, receive it, close: cycles/s and cycle time.
    Churn {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: churn::ChurnArgs,
    },
    /// Many senders in many rooms with client_ids: acknowledged (stored) messages/s. chatweb only.
    Store {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: store::StoreArgs,
    },
    /// N clients over R rooms on one node, the node stopped and restarted: every client reconnects with
    /// jittered backoff and resumes from its last id (issue 22). Time until all resumed, loss, the
    /// node's memory and store reads during the storm. chatweb only.
    Storm {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: storm::StormArgs,
    },
    /// Search over a generated history of N messages, imported into SQLite or PostgreSQL: indexing time,
    /// index size, and the latency of mixed queries (issue 20). chatweb only.
    Search(search::SearchArgs),
    /// A real cluster in network namespaces under faults (root only; issue 22, docs/RELIABILITY.md): 3
    /// nodes, Redis and a private PostgreSQL, each on its own address; partitions, restarts and kills while
    /// clients send and receive; exits non-zero when anything acked was lost, duplicated, reordered, or a
    /// send went unanswered.
    Cluster(cluster::ClusterArgs),
    /// The clients of one cluster fault run (started by `cluster` in the clients' namespace).
    #[command(hide = true)]
    ClusterClients(cluster::clients::ClientArgs),
    /// The bare relay the scenarios compare with (spawned by the bench itself).
    #[command(hide = true)]
    Relay(relay::RelayArgs),
}

/// Options every scenario takes.
#[derive(Args)]
struct Common {
    /// Measure this running server (ws://127.0.0.1:PORT, loopback only) instead of spawning chatweb; a
    /// comma-separated list names the nodes of one cluster, and the fan-out spreads its subscribers over
    /// all of them (publishers stay on the first).
    #[arg(long)]
    target: Option<String>,
    /// The pid of the `--target` server, to read its CPU time and memory from /proc.
    #[arg(long, requires = "target")]
    server_pid: Option<u32>,
    /// Do not run the bare relay for comparison.
    #[arg(long)]
    no_relay: bool,
    /// Upper bound of each run (one per server), in seconds; a run stops there whatever is missing.
    #[arg(long, visible_alias = "duration", default_value_t = 60.0)]
    timeout: f64,
    /// The chatweb binary to spawn (default: `chatweb` next to this executable).
    #[arg(long)]
    chatweb: Option<PathBuf>,
    /// Client source addresses to spread connections over: 127.0.0.2, 127.0.0.3, ...
    #[arg(long, default_value_t = 8)]
    sources: u8,
    /// CI size: a run of a few seconds (overrides the size options).
    #[arg(long)]
    quick: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command;
    if let Command::Relay(args) = command {
        return match relay::run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("relay: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Cluster(args) = command {
        return cluster::main(args).await;
    }
    if let Command::ClusterClients(args) = command {
        return match cluster::clients::run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("cluster clients: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    if let Command::Search(args) = command {
        // Its own Ctrl-C handling: it drops its PostgreSQL database however it stops.
        return match search::measure(args).await {
            Ok(line) => finish(&line),
            Err(error) => {
                eprintln!("chatweb-bench: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    let measured = tokio::select! {
        result = measure(command) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // Every spawned server has been dropped, hence killed, by now.
    match measured {
        Ok(line) => finish(&line),
        Err(error) => {
            eprintln!("chatweb-bench: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints the JSON line; the exit code says whether the run was clean.
fn finish(line: &Value) -> ExitCode {
    println!("{line}");
    if line["ok"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs one scenario subcommand and builds its JSON line.
async fn measure(command: Command) -> anyhow::Result<Value> {
    match command {
        Command::Fanout { common, args } => measure_scenario(&common, args).await,
        Command::Conns { common, args } => measure_scenario(&common, args).await,
        Command::Churn { common, args } => measure_scenario(&common, args).await,
        Command::Store { common, args } => measure_scenario(&common, args).await,
        Command::Storm { common, args } => measure_scenario(&common, args).await,
        Command::Search(args) => search::measure(args).await,
        Command::Relay(_) | Command::Cluster(_) | Command::ClusterClients(_) => {
            anyhow::bail!("not a scenario")
        }
    }
}

/// Sizes and checks `args`, then runs the scenario against chatweb (and the relay, where it can).
async fn measure_scenario<S: Scenario>(common: &Common, mut args: S) -> anyhow::Result<Value> {
    if common.quick {
        args.quick();
    }
    args.validate()?;
    procfs::check_open_files(args.connections())?;
    let params = serde_json::to_value(&args)?;
    let run = async |server: &Server, deadline| args.run(server, common.sources, deadline).await;
    let no_relay = args.no_relay_reason();
    compare(common, S::NAME, params, S::HEADLINE, no_relay, run).await
}

/// Runs `run` against chatweb, then (unless `--no-relay`, or the scenario gives a reason not to) against
/// the relay, each on a freshly spawned server, and compares their `headline` figures.
async fn compare(
    common: &Common,
    scenario: &str,
    params: Value,
    headline: &str,
    no_relay: Option<&str>,
    run: impl AsyncFn(&Server, Instant) -> anyhow::Result<Outcome>,
) -> anyhow::Result<Value> {
    let mut timeout = Duration::try_from_secs_f64(common.timeout.clamp(1.0, 86_400.0))
        .unwrap_or(Duration::from_secs(60));
    if common.quick {
        timeout = timeout.min(Duration::from_secs(30));
    }
    // `--target A,B,...`: the nodes of one running cluster, the first one measured for CPU and memory.
    let target = common
        .target
        .as_deref()
        .map(|list| list.split(',').map(server::parse_target).collect())
        .transpose()?;
    let (chatweb, chatweb_outcome) = run_one(Kind::Chatweb, common, target, timeout, &run).await;
    let (relay, relay_headline) = if no_relay.is_none() && !common.no_relay {
        let (value, outcome) = run_one(Kind::Relay, common, None, timeout, &run).await;
        (value, outcome.and_then(|o| o.headline))
    } else {
        (Value::Null, None)
    };
    let chatweb_headline = chatweb_outcome.as_ref().and_then(|o| o.headline);
    let ratio = match (chatweb_headline, relay_headline) {
        (Some(c), Some(r)) if r > 0.0 => json!(report::round3(c / r)),
        _ => Value::Null,
    };
    let mut line = json!({
        "scenario": scenario,
        "params": params,
        "timeout_s": timeout.as_secs_f64(),
        "chatweb": chatweb,
        "relay": relay,
        "ratio": { headline: ratio },
        "ok": chatweb_outcome.is_some_and(|o| o.clean),
    });
    if let Some(note) = no_relay {
        line["relay_note"] = json!(note);
    }
    Ok(line)
}

/// One server's run: spawn (or attach), measure, read what only the end can tell, kill.
async fn run_one(
    kind: Kind,
    common: &Common,
    target: Option<Vec<std::net::SocketAddr>>,
    timeout: Duration,
    run: &impl AsyncFn(&Server, Instant) -> anyhow::Result<Outcome>,
) -> (Value, Option<Outcome>) {
    let attempt = async {
        let binary = common.chatweb.clone();
        // Spawning waits (blocking, bounded) for the server to say where it listens.
        let server = match (kind, target) {
            (Kind::Chatweb, Some(mut nodes)) if !nodes.is_empty() => {
                let mut server = Server::external(nodes.remove(0), common.server_pid);
                server.nodes = nodes;
                server
            }
            (Kind::Chatweb, _) => {
                tokio::task::spawn_blocking(move || Server::spawn_chatweb(binary.as_deref()))
                    .await??
            }
            (Kind::Relay, _) => tokio::task::spawn_blocking(Server::spawn_relay).await??,
        };
        let deadline = Instant::now() + timeout;
        let mut outcome = tokio::time::timeout_at(deadline + TEARDOWN, run(&server, deadline))
            .await
            .map_err(|_| anyhow::anyhow!("the run did not stop at its deadline"))??;
        if kind == Kind::Relay {
            let skipped = tokio::time::timeout(Duration::from_secs(5), server.relay_skipped())
                .await
                .ok()
                .and_then(Result::ok);
            outcome
                .fields
                .insert("relay_skipped".into(), json!(skipped));
        }
        // Whether chatweb's limits were on: the numbers are only comparable with them off.
        if let Some(limits) = server.limits() {
            outcome.fields.insert("limits".into(), json!(limits));
        }
        if let Some(log) = server.log() {
            outcome
                .fields
                .insert("server_warnings".into(), json!(log.warnings));
            outcome
                .fields
                .insert("server_errors".into(), json!(log.errors));
            for line in &log.first_problems {
                eprintln!("{kind:?} logged: {line}");
            }
        }
        anyhow::Ok(outcome)
    };
    match attempt.await {
        Ok(outcome) => (Value::Object(outcome.fields.clone()), Some(outcome)),
        Err(error) => {
            eprintln!("{kind:?} run failed: {error:#}");
            (json!({ "error": format!("{error:#}") }), None)
        }
    }
}
