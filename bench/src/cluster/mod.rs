//! `chatweb-bench cluster` (issue 22): a real cluster in network namespaces under faults. As root it builds
//! 3 chatweb nodes, 1 Redis and 1 private PostgreSQL, each in its own namespace on its own address, and
//! the clients in another ([`net`], [`procs`]); then, for each fault ([`faults`]), it starts a fresh set of
//! clients in fresh rooms ([`clients`]), lets them send and receive, makes the fault, heals it, and checks
//! with no new traffic that everything acked reached every client of its room exactly once, in order,
//! without a gap, that every send was answered, that the nodes the fault did not hit kept acking, and that
//! no node's memory passed its bound ([`tally`]). The table goes to stdout and to docs/RELIABILITY.md
//! ([`doc`]); the exit code is non-zero when any fault failed. Everything made is removed on the way out,
//! also on an error, a panic or Ctrl-C, and what a killed earlier run left is removed at the start.

pub mod clients;
mod doc;
mod faults;
mod net;
mod postgres;
mod procs;
mod round;
mod sampler;
mod tally;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::Instant;

use faults::Fault;
use net::{Host, Net};
use postgres::Postgres;
use procs::{Node, Redis};

/// Parameters of `chatweb-bench cluster`.
#[derive(Clone, clap::Args)]
pub struct ClusterArgs {
    /// The chatweb binary the nodes run.
    #[arg(long, default_value = "target/release/chatweb")]
    pub chatweb: PathBuf,
    /// The faults to run, in this order (default: all of them; `--quick`: three).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub faults: Vec<Fault>,
    /// CI size: three faults (a node cut from Redis, PostgreSQL restarted, a node killed), healed after 5 s.
    #[arg(long)]
    pub quick: bool,
    /// Seconds each fault lasts before it is healed (5 to 20 is the range).
    #[arg(long, default_value_t = 10.0)]
    pub heal_secs: f64,
    /// Seconds of traffic before each fault.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// Rooms per fault run; every room has clients on every node.
    #[arg(long, default_value_t = 4)]
    pub rooms: usize,
    /// Clients per node and room.
    #[arg(long, default_value_t = 2)]
    pub per_node: usize,
    /// Messages each client sends per second.
    #[arg(long, default_value_t = 4.0)]
    pub rate: f64,
    /// After the heal, every client must have every message within this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub converge_secs: f64,
    /// After the heal, every send must have had its answer within this many seconds (the stop bound).
    #[arg(long, default_value_t = 15.0)]
    pub answer_secs: f64,
    /// p99 send->answer (ms) the nodes a fault did not hit must keep during it.
    #[arg(long, default_value_t = 2000.0)]
    pub served_p99_ms: f64,
    /// Resident memory (MiB) no node may pass.
    #[arg(long, default_value_t = 512.0)]
    pub rss_limit_mb: f64,
    /// The nodes' `--presence-ttl-secs`.
    #[arg(long, default_value_t = 5)]
    pub presence_ttl_secs: u64,
    /// Seconds the marked insert sleeps in the lock fault (the cut lands inside it).
    #[arg(long, default_value_t = 3.0)]
    pub lock_sleep_secs: f64,
    /// Where PostgreSQL's `initdb`, `pg_ctl` and `postgres` are.
    #[arg(long, default_value = "/usr/local/bin")]
    pub pg_bin: PathBuf,
    /// Copy the logs of the nodes, Redis and PostgreSQL into this directory at the end.
    #[arg(long)]
    pub logs: Option<PathBuf>,
    /// Write the table into this file's harness section (default: docs/RELIABILITY.md for a full run,
    /// nowhere for `--quick`).
    #[arg(long)]
    pub doc: Option<PathBuf>,
}

/// Everything the harness runs; dropped in field order: clients' nodes, Redis, PostgreSQL, the
/// temporary directory, then the network (which kills anything left in its namespaces).
pub struct Cluster {
    /// The chatweb nodes.
    pub nodes: Vec<Node>,
    /// Redis.
    pub redis: Redis,
    /// The private PostgreSQL.
    pub pg: Postgres,
    /// Redis's host.
    pub redis_host: Host,
    /// PostgreSQL's host.
    pub pg_host: Host,
    /// The clients' host.
    pub clients_host: Host,
    /// PostgreSQL's binaries.
    pub pg_bin: PathBuf,
    dir: TempDir,
    /// The namespaces, bridges and links.
    pub net: Net,
}

impl Cluster {
    /// Copies every log of the run (`n1.log`, ..., `redis.log`, `pg/postgres.log`) into `to`.
    fn keep_logs(&self, to: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(to)?;
        for dir in [self.dir.0.clone(), self.dir.0.join("pg")] {
            for entry in std::fs::read_dir(&dir)?.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "log") {
                    std::fs::copy(&path, to.join(entry.file_name()))?;
                }
            }
        }
        Ok(())
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the command: the exit code says whether every fault passed (2: the harness itself failed).
pub async fn main(mut args: ClusterArgs) -> ExitCode {
    if args.quick {
        if args.faults.is_empty() {
            args.faults = Fault::QUICK.to_vec();
        }
        args.heal_secs = args.heal_secs.min(5.0);
        args.rooms = args.rooms.min(3);
    } else {
        if args.faults.is_empty() {
            args.faults = Fault::ALL.to_vec();
        }
        args.doc.get_or_insert_with(|| "docs/RELIABILITY.md".into());
    }
    let outcome = tokio::select! {
        outcome = run(&args) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        () = terminated() => Err(anyhow::anyhow!("terminated")),
    };
    // The cluster has been dropped, hence removed, by now.
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("chatweb-bench cluster: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Resolves on SIGTERM.
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Builds the cluster, runs every fault, reports; true when all passed. Without root (no namespaces) it
/// says so and passes, unless `CI=true`, where that is a failure.
async fn run(args: &ClusterArgs) -> anyhow::Result<bool> {
    let removed = net::clean_leftovers().unwrap_or_default();
    if !removed.is_empty() {
        eprintln!(
            "cluster: removed leftovers of earlier runs: {}",
            removed.join(", ")
        );
    }
    let binary = std::fs::canonicalize(&args.chatweb)
        .with_context(|| format!("the chatweb binary {}", args.chatweb.display()))?;
    let net = match Net::new() {
        Ok(net) => net,
        Err(error) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("cluster: skipped, cannot make network namespaces here: {error:#}");
            return Ok(true);
        }
        Err(error) => return Err(error),
    };
    let started = Instant::now();
    let mut cluster = build(net, args, &binary)?;
    eprintln!(
        "cluster: 3 nodes, Redis and PostgreSQL up in {:.1} s (cuts: {})",
        started.elapsed().as_secs_f64(),
        cluster.net.cut_kind()
    );
    faults::install_slow_insert(&cluster, args.lock_sleep_secs).await?;
    let mut rows = Vec::new();
    for (i, fault) in args.faults.iter().enumerate() {
        eprintln!("cluster: {} ...", fault.name());
        let row = round::run(&mut cluster, args, *fault, i).await?;
        let verdict = if row.failures.is_empty() {
            "pass".to_owned()
        } else {
            format!("FAIL ({})", row.failures.join("; "))
        };
        eprintln!("cluster: {}: {verdict}", fault.name());
        rows.push(row);
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(logs) = &args.logs {
        cluster.keep_logs(logs)?;
    }
    drop(cluster);
    // A namespace's veths go a moment after it is deleted (the kernel frees it in the background).
    let mut left = net::own_leftovers()?;
    let until = Instant::now() + Duration::from_secs(5);
    while !left.is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = net::own_leftovers()?;
    }
    if !left.is_empty() {
        // A bug of the harness, not of chatweb: it must leave the machine as it found it.
        bail!("the cluster left these behind: {}", left.join(", "));
    }
    let table = doc::table(&rows);
    println!("{table}");
    eprintln!("cluster: {} faults in {seconds:.0} s", rows.len());
    if let Some(path) = &args.doc {
        doc::write_section(path, &section(args, &binary, &table, seconds))?;
        eprintln!("cluster: wrote the table into {}", path.display());
    }
    Ok(rows.iter().all(|r| r.failures.is_empty()))
}

/// The documented section: when, how, with what, then the table.
fn section(args: &ClusterArgs, binary: &Path, table: &str, seconds: f64) -> String {
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let command: Vec<String> = std::env::args().collect();
    let version = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "Run of {date}, {seconds:.0} s: `{}`, nodes running `{}` ({version}); faults healed after {} s, \
         {} rooms x 3 nodes x {} clients, each sending {}/s.\n\n{table}",
        command.join(" "),
        binary.display(),
        args.heal_secs,
        args.rooms,
        args.per_node,
        args.rate
    )
}

/// Makes the hosts, starts PostgreSQL, Redis and the nodes (the first alone, as it migrates the database).
fn build(mut net: Net, args: &ClusterArgs, binary: &Path) -> anyhow::Result<Cluster> {
    let pg_host = net.add_host("pg", Some(3), None)?;
    let redis_host = net.add_host("rd", Some(2), None)?;
    let node_hosts: Vec<Host> = (1..=3u8)
        .map(|i| net.add_host(&format!("n{i}"), Some(10 + i), Some(10 + i)))
        .collect::<anyhow::Result<_>>()?;
    let clients_host = net.add_host("cl", None, Some(2))?;
    let dir = TempDir(std::env::temp_dir().join(net::prefix()));
    std::fs::create_dir_all(&dir.0)?;
    let pg = Postgres::create(&pg_host, &dir.0.join("pg"), &args.pg_bin)?;
    let redis = Redis::start(&redis_host, &dir.0)?;
    let mut nodes = Vec::new();
    for (i, host) in node_hosts.iter().enumerate() {
        let port = procs::NODE_PORT + 1 + i as u16;
        let node = Node::start(
            binary,
            host,
            port,
            &dir.0,
            &pg.url,
            &redis.url,
            args.presence_ttl_secs,
        )
        .with_context(|| format!("starting node {}", host.name))?;
        nodes.push(node);
    }
    Ok(Cluster {
        nodes,
        redis,
        pg,
        redis_host,
        pg_host,
        clients_host,
        pg_bin: args.pg_bin.clone(),
        dir,
        net,
    })
}
