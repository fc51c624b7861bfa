//! The servers under measurement. The bench spawns each as a child process, so that its memory and CPU can
//! be read from `/proc` and nothing it does shares the bench's runtime: chatweb (the binary next to the
//! bench's own, on a fresh SQLite file) or the bare relay (`chatweb-bench relay`). A [`Server`] owns its
//! child and kills it when dropped, on success, error, panic or Ctrl-C alike. `--target` measures a server
//! that is already running instead; every target must be a loopback address.

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::procfs::Proc;

/// How long a spawned server may take to say where it listens.
const STARTUP: Duration = Duration::from_secs(30);
/// Server log lines kept for error reports and for the summary of warnings.
const KEPT_LINES: usize = 20;

/// Which server a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// chatweb, spawned or given by `--target`.
    Chatweb,
    /// The bare relay (`chatweb-bench relay`).
    Relay,
}

/// What a spawned chatweb logged: warnings and errors are part of the results.
#[derive(Default)]
pub struct ServerLog {
    /// WARN lines seen.
    pub warnings: u64,
    /// ERROR lines seen.
    pub errors: u64,
    /// The first WARN or ERROR lines.
    pub first_problems: Vec<String>,
    /// The latest lines, for error messages.
    pub tail: Vec<String>,
}

/// A server under measurement; a spawned one is killed when this is dropped.
pub struct Server {
    /// chatweb or the relay.
    pub kind: Kind,
    /// Where it listens (always a loopback address).
    pub addr: SocketAddr,
    /// Further nodes of the same cluster (`--target A,B`): the fan-out spreads its subscribers over
    /// `addr` and these.
    pub nodes: Vec<SocketAddr>,
    /// Its process, when known (always for spawned servers).
    pub proc: Option<Proc>,
    child: Option<Child>,
    /// The relay exits when this closes, even if the bench dies without running `Drop`.
    _lifeline: Option<ChildStdin>,
    dir: Option<PathBuf>,
    log: Option<Arc<Mutex<ServerLog>>>,
    /// How a spawned chatweb was started (binary and database), so that it can be started again.
    launch: Option<Launch>,
}

/// What a spawned chatweb was started with: enough to start another on the same port and database.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The chatweb binary.
    pub binary: PathBuf,
    /// Its `--database-url`.
    pub database_url: String,
}

/// How to stop a spawned server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// SIGKILL: a crash, nothing said to the clients.
    Kill,
    /// SIGTERM: the graceful stop (sockets closed with 1001, the writer's last batch finished).
    Term,
}

impl Server {
    /// A server that is already running at `addr` (`--target`), with its pid when given.
    pub fn external(addr: SocketAddr, pid: Option<u32>) -> Self {
        Self {
            kind: Kind::Chatweb,
            addr,
            nodes: Vec::new(),
            proc: pid.map(Proc::Pid),
            child: None,
            _lifeline: None,
            dir: None,
            log: None,
            launch: None,
        }
    }

    /// Spawns `chatweb serve` on a free loopback port with a fresh SQLite database and `--limits off` (a
    /// load generator is one client sending far faster than a person), default settings otherwise
    /// (`CHATWEB_*` variables of this environment are not passed on).
    pub fn spawn_chatweb(binary: Option<&Path>) -> anyhow::Result<Self> {
        let binary = chatweb_binary(binary)?;
        let dir = fresh_dir()?;
        let url = format!("sqlite://{}/db.sqlite3", dir.display());
        match Self::spawn_chatweb_on(&binary, &url, 0) {
            Ok(mut server) => {
                server.dir = Some(dir);
                Ok(server)
            }
            Err(error) => {
                let _ = std::fs::remove_dir_all(dir);
                Err(error)
            }
        }
    }

    /// Spawns `chatweb serve` like [`Server::spawn_chatweb`], on the database at `database_url`, which the
    /// caller made and removes, listening on `port` (0: a free one).
    pub fn spawn_chatweb_on(binary: &Path, database_url: &str, port: u16) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .args(["--limits", "off"])
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--database-url")
            .arg(database_url)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "chatweb=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CHATWEB_") {
                command.env_remove(key);
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Self {
            kind: Kind::Chatweb,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            nodes: Vec::new(),
            proc: Some(Proc::Pid(child.id())),
            child: Some(child),
            _lifeline: None,
            dir: None,
            log: Some(Arc::default()),
            launch: Some(Launch {
                binary: binary.to_owned(),
                database_url: database_url.to_owned(),
            }),
        };
        let stderr = server
            .child
            .as_mut()
            .and_then(|c| c.stderr.take())
            .context("chatweb's stderr is not piped")?;
        let (found, address) = mpsc::channel();
        let log = server.log.clone().unwrap_or_default();
        std::thread::spawn(move || drain_log(stderr, &log, &found));
        server.addr = match address.recv_timeout(STARTUP) {
            Ok(addr) => addr,
            Err(RecvTimeoutError::Timeout) => bail!(
                "chatweb did not report its address within {STARTUP:?}; its log ends with:\n{}",
                server.log_tail()
            ),
            Err(RecvTimeoutError::Disconnected) => bail!(
                "chatweb exited before serving; its log ends with:\n{}",
                server.log_tail()
            ),
        };
        Ok(server)
    }

    /// Spawns the bare relay (`chatweb-bench relay --port 0`) and reads its address from its stdout.
    pub fn spawn_relay() -> anyhow::Result<Self> {
        let binary = std::env::current_exe().context("locating the bench's own executable")?;
        let mut child = Command::new(binary)
            .args(["relay", "--port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the relay")?;
        let lifeline = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .context("the relay's stdout is not piped")?;
        let mut server = Self {
            kind: Kind::Relay,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            nodes: Vec::new(),
            proc: Some(Proc::Pid(child.id())),
            child: Some(child),
            _lifeline: lifeline,
            dir: None,
            log: None,
            launch: None,
        };
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut stdout = BufReader::new(stdout);
            if stdout.read_line(&mut line).is_ok() {
                let _ = found.send(line.trim().parse::<SocketAddr>());
            }
            // Keep reading so the relay never blocks on a full pipe.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        server.addr = match address.recv_timeout(STARTUP) {
            Ok(Ok(addr)) => addr,
            Ok(Err(error)) => bail!("the relay printed no address: {error}"),
            Err(_) => bail!("the relay did not start within {STARTUP:?}"),
        };
        Ok(server)
    }

    /// How a spawned chatweb was started; `None` for the relay and for `--target`.
    pub fn launch(&self) -> Option<&Launch> {
        self.launch.as_ref()
    }

    /// Sends a spawned server `stop` (it stays this `Server`'s child, reaped when dropped) and waits, up
    /// to `bound`, until its process has ended. Refuses a server the bench did not spawn.
    pub async fn stop(&self, stop: Stop, bound: Duration) -> anyhow::Result<()> {
        let (Some(Proc::Pid(pid)), Some(_)) = (self.proc, &self.child) else {
            bail!("only a server the bench spawned can be stopped");
        };
        let signal = match stop {
            Stop::Kill => "-KILL",
            Stop::Term => "-TERM",
        };
        let status = tokio::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .await
            .context("running kill")?;
        if !status.success() {
            bail!("kill {signal} {pid} failed: {status}");
        }
        let ended = async {
            while Proc::Pid(pid).running() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::time::timeout(bound, ended)
            .await
            .with_context(|| format!("the server (pid {pid}) still runs {bound:?} after {signal}"))
    }

    /// Whether a spawned server has exited (never true for one given by `--target`).
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| !matches!(child.try_wait(), Ok(None)))
    }

    /// chatweb's `--limits`, for the results: `off` when the bench spawned it, `unknown` for `--target`
    /// (started by hand), none for the relay.
    pub fn limits(&self) -> Option<&'static str> {
        match (self.kind, self.child.is_some()) {
            (Kind::Chatweb, true) => Some("off"),
            (Kind::Chatweb, false) => Some("unknown"),
            (Kind::Relay, _) => None,
        }
    }

    /// The summary of a spawned chatweb's log, when there is one.
    pub fn log(&self) -> Option<std::sync::MutexGuard<'_, ServerLog>> {
        self.log.as_ref().map(|log| {
            log.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
    }

    fn log_tail(&self) -> String {
        self.log()
            .map(|log| log.tail.join("\n"))
            .unwrap_or_default()
    }

    /// The body of `GET path` (HTTP/1.1, the connection closed after it).
    async fn get(&self, path: &str) -> anyhow::Result<String> {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .with_context(|| format!("no body in the answer to GET {path}"))?;
        Ok(body.to_owned())
    }

    /// chatweb's counters and gauges (`GET /metrics`), by name (series with labels are left out).
    pub async fn metrics(&self) -> anyhow::Result<std::collections::HashMap<String, f64>> {
        let body = self.get("/metrics").await?;
        Ok(body
            .lines()
            .filter(|line| !line.starts_with('#') && !line.contains('{'))
            .filter_map(|line| {
                let (name, value) = line.split_once(' ')?;
                Some((name.to_owned(), value.trim().parse().ok()?))
            })
            .collect())
    }

    /// The relay's count of deliveries it skipped because a receiver lagged (`GET /stats`).
    pub async fn relay_skipped(&self) -> anyhow::Result<u64> {
        let body = self.get("/stats").await?;
        let stats: serde_json::Value = serde_json::from_str(&body).context("parsing /stats")?;
        stats["skipped"]
            .as_u64()
            .context("no \"skipped\" in the relay's /stats")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Reads chatweb's log until it closes: reports the address once, counts warnings and errors.
fn drain_log(stderr: impl Read, log: &Mutex<ServerLog>, found: &mpsc::Sender<SocketAddr>) {
    const MARK: &str = "serving on http://";
    let mut reported = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if !reported && let Some(at) = line.find(MARK) {
            let rest = &line[at + MARK.len()..];
            let addr = rest.split('/').next().unwrap_or_default();
            if let Ok(addr) = addr.parse() {
                reported = found.send(addr).is_ok();
            }
        }
        let mut log = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let problem = if line.contains(" WARN ") {
            log.warnings += 1;
            true
        } else if line.contains(" ERROR ") {
            log.errors += 1;
            true
        } else {
            false
        };
        if problem && log.first_problems.len() < 5 {
            log.first_problems.push(line.clone());
        }
        if log.tail.len() == KEPT_LINES {
            log.tail.remove(0);
        }
        log.tail.push(line);
    }
}

/// The chatweb binary to run: `binary`, or `chatweb` next to the bench's own executable.
pub fn chatweb_binary(binary: Option<&Path>) -> anyhow::Result<PathBuf> {
    let binary = match binary {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .context("locating the bench's own executable")?
            .with_file_name("chatweb"),
    };
    if !binary.is_file() {
        bail!(
            "{} not found: build it beside the bench (cargo build --release --workspace --bins) or pass --chatweb",
            binary.display()
        );
    }
    Ok(binary)
}

/// A new empty directory for one server's database.
pub fn fresh_dir() -> anyhow::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "chatweb-bench-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Parses `--target` (`ws://HOST:PORT[/...]`) and refuses anything but a loopback address.
pub fn parse_target(target: &str) -> anyhow::Result<SocketAddr> {
    let rest = ["ws://", "http://"]
        .iter()
        .find_map(|scheme| target.strip_prefix(scheme))
        .with_context(|| format!("--target {target:?}: expected ws://127.0.0.1:PORT"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let addr = match authority.strip_prefix("localhost:") {
        Some(port) => SocketAddr::from((Ipv4Addr::LOCALHOST, port.parse()?)),
        None => authority.parse::<SocketAddr>().with_context(|| {
            format!("--target {target:?}: expected an IP address and a port (no host names)")
        })?,
    };
    ensure_loopback(addr.ip())?;
    Ok(addr)
}

/// Refuses non-loopback addresses: the bench is a load generator and only ever points at this machine.
pub fn ensure_loopback(ip: IpAddr) -> anyhow::Result<()> {
    if !ip.is_loopback() {
        bail!(
            "refusing to load {ip}: the bench only targets loopback addresses (127.0.0.0/8 or ::1)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(parse_target("ws://127.0.0.1:8000").is_ok());
        assert!(parse_target("ws://127.3.2.1:8000/ws/chat/x/").is_ok());
        assert!(parse_target("ws://[::1]:8000").is_ok());
        assert!(parse_target("ws://localhost:8000").is_ok());
        assert!(parse_target("ws://10.0.0.1:8000").is_err());
        assert!(parse_target("ws://192.168.1.2:80").is_err());
        assert!(parse_target("ws://[2001:db8::1]:80").is_err());
        assert!(parse_target("ws://example.com:80").is_err());
        assert!(parse_target("127.0.0.1:8000").is_err());
    }
}
