//! One fault's round, from the harness's side: a fresh clients process in the clients' namespace (spoken to
//! over its stdin and stdout), traffic, the fault, the heal, then the clients' report judged against the
//! bounds, the nodes' health and memory, and what the database showed meanwhile.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::doc::Row;
use super::faults::{self, Fault};
use super::sampler::Sampler;
use super::tally::Report;
use super::{Cluster, ClusterArgs};

/// The clients' process of one fault run, in the clients' namespace.
struct Clients {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Clients {
    /// Starts the clients of run `tag` (`ip netns exec <clients' namespace> chatweb-bench cluster-clients`)
    /// and waits until every one of them has connected.
    async fn spawn(cluster: &Cluster, args: &ClusterArgs, tag: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating chatweb-bench")?;
        let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.addr.to_string()).collect();
        let mut child = tokio::process::Command::new("ip")
            .args(["netns", "exec", &cluster.clients_host.ns])
            .arg(exe)
            .arg("cluster-clients")
            .args(["--nodes", &nodes.join(",")])
            .args(["--rooms", &args.rooms.to_string()])
            .args(["--per-node", &args.per_node.to_string()])
            .args(["--rate", &args.rate.to_string()])
            .args(["--tag", tag])
            .args(["--converge-secs", &args.converge_secs.to_string()])
            .args(["--answer-secs", &args.answer_secs.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the clients")?;
        let stdin = child.stdin.take().context("clients' stdin")?;
        let stdout = child.stdout.take().context("clients' stdout")?;
        let mut clients = Self {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        let ready = clients.line(Duration::from_secs(45)).await?;
        if ready != "ready" {
            bail!("the clients said {ready:?} instead of ready");
        }
        Ok(clients)
    }

    /// Tells the clients `line` (`marker`, `fault <nodes>`, `heal`).
    async fn say(&mut self, line: &str) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// The clients' next line (`ready`, then their JSON report), waiting at most `within`.
    async fn line(&mut self, within: Duration) -> anyhow::Result<String> {
        match tokio::time::timeout(within, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => bail!("the clients exited early (see their error above)"),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => bail!("the clients said nothing within {within:?}"),
        }
    }
}

/// `s` seconds (negative ones count as none).
fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO)
}

/// One fault: fresh clients in fresh rooms, traffic, the fault, the heal, the checks.
pub async fn run(
    cluster: &mut Cluster,
    args: &ClusterArgs,
    fault: Fault,
    index: usize,
) -> anyhow::Result<Row> {
    let tag = format!("f{index}-{}", std::process::id());
    let mut clients = Clients::spawn(cluster, args, &tag).await?;
    let mut sampler = Sampler::default();
    sampler.run_for(cluster, secs(args.warmup_secs)).await;
    if fault == Fault::NodeCutHoldingALock {
        clients.say("marker").await?;
        faults::await_slow_insert(cluster, Duration::from_secs(10)).await?;
    }
    let affected = fault.affected(cluster.nodes.len());
    let list: Vec<String> = affected.iter().map(usize::to_string).collect();
    clients
        .say(&format!(
            "fault {}",
            if list.is_empty() {
                "-".into()
            } else {
                list.join(",")
            }
        ))
        .await?;
    fault.apply(cluster)?;
    eprintln!(
        "cluster: {}: made, healed in {} s",
        fault.name(),
        args.heal_secs
    );
    sampler.run_for(cluster, secs(args.heal_secs)).await;
    fault.heal(cluster)?;
    clients.say("heal").await?;
    let bound = secs(args.converge_secs.max(args.answer_secs) + 30.0);
    // The database is watched until the clients are done: a lock may outlive the heal.
    let line = tokio::select! {
        line = clients.line(bound) => line?,
        () = sampler.run_for(cluster, bound) => bail!("the clients said nothing within {bound:?}"),
    };
    let report: Report = serde_json::from_str(&line).context("the clients' report")?;
    let _ = clients.child.wait().await;
    let mut failures = judge(&report, args);
    for (i, node) in cluster.nodes.iter_mut().enumerate() {
        if node.service.exited() {
            failures.push(format!("node n{} died (see its log)", i + 1));
            node.start_again()?;
        }
    }
    let max_rss_mb = sampler.max_rss_kb as f64 / 1024.0;
    if max_rss_mb > args.rss_limit_mb {
        failures.push(format!(
            "a node's RSS reached {max_rss_mb:.0} MiB > {}",
            args.rss_limit_mb
        ));
    }
    let logs: Vec<String> = cluster
        .nodes
        .iter()
        .map(|node| {
            let (warns, errors) = node.problems();
            format!("{} {warns} WARN {errors} ERROR", node.host.name)
        })
        .collect();
    Ok(Row {
        fault: fault.name(),
        report,
        max_rss_mb,
        failures,
        logs: logs.join(", "),
        database: sampler.summary(),
    })
}

/// Why a fault run failed, from what its clients saw.
fn judge(r: &Report, args: &ClusterArgs) -> Vec<String> {
    let mut failures = Vec::new();
    for (count, what) in [
        (r.lost, "acked messages lost"),
        (r.duplicated, "duplicated"),
        (r.reordered, "reordered"),
        (r.gaps, "gaps"),
        (r.mismatched, "acked ids delivered with another text"),
        (r.unanswered, "sends unanswered"),
    ] {
        if count > 0 {
            failures.push(format!("{count} {what}"));
        }
    }
    match r.converge_s {
        None => failures.push(format!("not converged within {} s", args.converge_secs)),
        Some(s) if s > args.converge_secs => {
            failures.push(format!(
                "converged after {s:.1} s > {} s",
                args.converge_secs
            ));
        }
        Some(_) => {}
    }
    if r.acked == 0 {
        failures.push("nothing was acked".into());
    }
    if r.sends_during_unaffected > 0 && r.p99_during_ms.is_some_and(|p99| p99 > args.served_p99_ms)
    {
        failures.push(format!(
            "uncut nodes' p99 during the fault {} ms > {} ms",
            r.p99_during_ms.unwrap_or_default(),
            args.served_p99_ms
        ));
    }
    failures
}
