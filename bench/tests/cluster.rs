//! The cluster harness cleans up after itself (docs/RELIABILITY.md): an interrupted run leaves no namespace,
//! link, process or directory behind, and a run killed with -9 has its leftovers removed by the next one.
//! They need root (network namespaces); without it they skip with a note, except under `CI=true`, where
//! that fails. The faults themselves run in `.ci/run` (`chatweb-bench cluster --quick`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chatweb-bench"))
}

/// The chatweb binary next to the bench's (cargo builds both for the workspace's tests).
fn chatweb() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_BIN_EXE_chatweb-bench")).with_file_name("chatweb")
}

/// Whether this test can make network namespaces; panics under CI when it cannot.
fn may_make_namespaces() -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    });
    let ready = root && chatweb().is_file();
    if !ready {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the cluster tests need root and target/debug/chatweb under CI"
        );
        eprintln!("skipped: the cluster tests need root and the chatweb binary beside the bench");
    }
    ready
}

/// Everything named after run `pid`: namespaces, links, the temporary directory, processes on its
/// addresses.
fn leftovers_of(pid: u32) -> Vec<String> {
    let prefix = format!("cwc-{pid}-");
    let mut found = Vec::new();
    for args in [&["netns", "list"][..], &["-o", "link", "show"][..]] {
        let out = Command::new("ip").args(args).output().expect("ip");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.contains(&prefix) {
                found.push(line.chars().take(60).collect());
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("cwc-{pid}"));
    if dir.exists() {
        found.push(dir.display().to_string());
    }
    found
}

/// Starts a small run and waits until its fault is made (node 1's link is down for 30 s from then).
fn start_until_first_fault() -> Child {
    let doc = std::env::temp_dir().join(format!("cwc-test-doc-{}.md", std::process::id()));
    let mut child = bench()
        .args([
            "cluster",
            "--faults",
            "node-cut-from-everything",
            "--heal-secs",
            "30",
        ])
        .args(["--rooms", "1", "--per-node", "1", "--warmup-secs", "0.5"])
        .arg("--doc")
        .arg(doc)
        .arg("--chatweb")
        .arg(chatweb())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chatweb-bench cluster");
    let stderr = child.stderr.take().expect("stderr");
    let (begun, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if line.contains("node-cut-from-everything: made") {
                let _ = begun.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the cluster was built and the fault began");
    child
}

#[test]
fn an_interrupted_cluster_run_leaves_nothing_behind() {
    if !may_make_namespaces() {
        return;
    }
    let mut child = start_until_first_fault();
    let pid = child.id();
    assert!(!leftovers_of(pid).is_empty(), "the run made its namespaces");
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let status = child.wait().expect("the run ends");
    assert_eq!(status.code(), Some(2), "an interrupted run is no pass");
    assert_eq!(leftovers_of(pid), Vec::<String>::new());
}

#[test]
fn the_next_run_removes_what_a_killed_run_left() {
    if !may_make_namespaces() {
        return;
    }
    let mut child = start_until_first_fault();
    let pid = child.id();
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    assert!(
        !leftovers_of(pid).is_empty(),
        "a run killed with -9 cannot clean up"
    );
    // Any run cleans up first, even one that then stops at its missing binary.
    let out = bench()
        .args(["cluster", "--quick", "--chatweb", "/nonexistent/chatweb"])
        .output()
        .expect("run chatweb-bench cluster");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("removed leftovers"), "{stderr}");
    assert_eq!(leftovers_of(pid), Vec::<String>::new());
}
