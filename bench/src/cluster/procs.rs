//! The cluster's processes, each started in its host's namespace with `ip netns exec` (which execs, so the
//! child's pid is the program's): Redis (also on a Unix socket in the run's directory, so the harness, which
//! has no address on the cluster's networks, can see it answer) and the chatweb nodes; PostgreSQL is in
//! `postgres.rs`. A [`Service`] owns its child and kills it when dropped; the machine's own PostgreSQL and
//! Redis are never touched.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::net::Host;
use crate::procfs::Proc;

/// How long a service may take to be ready.
const STARTUP: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before the process is killed.
const STOP: Duration = Duration::from_secs(10);

/// Redis's port.
pub const REDIS_PORT: u16 = 6379;
/// Node `i`'s port is this plus `i` (8001, 8002, ...), each on its own address too.
pub const NODE_PORT: u16 = 8000;

/// How to start one service again after a kill or a stop: its namespace and command line.
#[derive(Clone)]
pub(super) struct Recipe {
    pub(super) ns: String,
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    pub(super) env: Vec<(String, String)>,
    pub(super) log: PathBuf,
}

/// One running service.
pub struct Service {
    /// `pg`, `redis`, `n1`, ...
    pub name: String,
    recipe: Recipe,
    pub(super) child: Option<Child>,
    /// Set by the log reader of a node when it says where it serves.
    ready: Option<mpsc::Receiver<()>>,
}

impl Service {
    pub(super) fn start(
        name: &str,
        recipe: Recipe,
        watch_for: Option<&'static str>,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &recipe.ns])
            .arg(&recipe.program)
            .args(&recipe.args)
            .stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CHATWEB_") {
                command.env_remove(key);
            }
        }
        command.envs(recipe.env.iter().map(|(k, v)| (k, v)));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&recipe.log)
            .with_context(|| format!("opening {}", recipe.log.display()))?;
        let mut ready = None;
        let child = if let Some(mark) = watch_for {
            command.stdout(log.try_clone()?).stderr(Stdio::piped());
            let mut child = command
                .spawn()
                .with_context(|| format!("starting {name}"))?;
            let stderr = child.stderr.take().context("stderr is not piped")?;
            let (found, rx) = mpsc::channel();
            std::thread::spawn(move || copy_log(stderr, log, mark, &found));
            ready = Some(rx);
            child
        } else {
            command.stdout(log.try_clone()?).stderr(log);
            command
                .spawn()
                .with_context(|| format!("starting {name}"))?
        };
        Ok(Self {
            name: name.to_owned(),
            recipe,
            child: Some(child),
            ready,
        })
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory now, in KiB (None while it is not running).
    pub fn rss_kb(&self) -> Option<u64> {
        self.pid().and_then(|pid| Proc::Pid(pid).rss_kb().ok())
    }

    /// Whether it has exited by itself (or was never restarted after a kill).
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// `kill -9`, then reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (a `kill` name such as `INT`) and waits up to [`STOP`] for the exit, then kills.
    pub fn stop_with(&mut self, signal: &str) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        let until = Instant::now() + STOP;
        while Instant::now() < until {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts it again with the same command line (after [`Service::kill`] or a stop).
    pub fn restart(&mut self, watch_for: Option<&'static str>) -> anyhow::Result<()> {
        self.kill();
        let again = Self::start(&self.name, self.recipe.clone(), watch_for)?;
        *self = again;
        Ok(())
    }

    /// Waits until the log reader saw the ready line.
    fn wait_logged(&mut self) -> anyhow::Result<()> {
        let rx = self.ready.take().context("no log reader")?;
        let why = match rx.recv_timeout(STARTUP) {
            Ok(()) => return Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => format!("did not start within {STARTUP:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => "exited before serving".to_owned(),
        };
        let log = std::fs::read_to_string(&self.recipe.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{} {why}; its log ends with:\n{}",
            self.name,
            tail.join("\n")
        )
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Copies a child's stderr into its log file; reports the first line containing `mark`.
fn copy_log(stderr: impl Read, mut log: File, mark: &str, found: &mpsc::Sender<()>) {
    let mut reported = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if !reported && line.contains(mark) {
            reported = found.send(()).is_ok();
        }
        let _ = writeln!(log, "{line}");
    }
}

/// Polls `ready` every 50 ms until it holds or [`STARTUP`] passes.
pub(super) fn poll_ready(what: &str, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let until = Instant::now() + STARTUP;
    while Instant::now() < until {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what} was not ready within {STARTUP:?}")
}

/// The Redis server.
pub struct Redis {
    /// Its process.
    pub service: Service,
    socket: PathBuf,
    /// `redis://<addr>:6379`, what the nodes use.
    pub url: String,
}

impl Redis {
    /// Starts an empty Redis (no persistence) in `host`'s namespace, its Unix socket and log in `dir`.
    pub fn start(host: &Host, dir: &Path) -> anyhow::Result<Self> {
        let addr = host.back.context("Redis has no address")?;
        let socket = dir.join("redis.sock");
        let recipe = Recipe {
            ns: host.ns.clone(),
            program: "redis-server".into(),
            args: [
                "--bind",
                &addr.to_string(),
                "--port",
                &REDIS_PORT.to_string(),
                "--unixsocket",
                &socket.to_string_lossy(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--dir",
                &dir.to_string_lossy(),
            ]
            .map(str::to_owned)
            .to_vec(),
            env: Vec::new(),
            log: dir.join("redis.log"),
        };
        let redis = Self {
            service: Service::start("redis", recipe, None)?,
            socket,
            url: format!("redis://{addr}:{REDIS_PORT}"),
        };
        redis.wait_ready()?;
        Ok(redis)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        poll_ready("Redis", || {
            let Ok(mut stream) = UnixStream::connect(&self.socket) else {
                return false;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut answer = [0u8; 7];
            stream.write_all(b"PING\r\n").is_ok()
                && stream.read_exact(&mut answer).is_ok()
                && &answer == b"+PONG\r\n"
        })
    }

    /// Kills it and starts an empty one in its place (no persistence: nothing survives).
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(&self.socket);
        self.service.restart(None)?;
        self.wait_ready()
    }
}

/// One chatweb node.
pub struct Node {
    /// Its process.
    pub service: Service,
    /// Its host (for cuts).
    pub host: Host,
    /// `<front addr>:<port>`, where its clients connect.
    pub addr: std::net::SocketAddrV4,
    /// Its log file.
    pub log: PathBuf,
}

/// What a node's log says once it listens.
const SERVING: &str = "serving on http://";

impl Node {
    /// Starts `chatweb serve` in `host`'s namespace on `port`, PostgreSQL `pg_url` and Redis `redis_url`.
    pub fn start(
        binary: &Path,
        host: &Host,
        port: u16,
        dir: &Path,
        pg_url: &str,
        redis_url: &str,
        presence_ttl_secs: u64,
    ) -> anyhow::Result<Self> {
        let front = host.front.context("a node has no front address")?;
        let log = dir.join(format!("{}.log", host.name));
        let files = dir.join(format!("{}-files", host.name));
        let recipe = Recipe {
            ns: host.ns.clone(),
            program: binary.to_owned(),
            args: [
                "serve",
                "--bind",
                &front.to_string(),
                "--port",
                &port.to_string(),
                "--database-url",
                pg_url,
                "--redis-url",
                redis_url,
                "--presence-ttl-secs",
                &presence_ttl_secs.to_string(),
                "--limits",
                "off",
                "--files-dir",
                &files.to_string_lossy(),
            ]
            .map(str::to_owned)
            .to_vec(),
            env: vec![
                ("RUST_LOG".into(), "chatweb=info".into()),
                ("NO_COLOR".into(), "1".into()),
            ],
            log: log.clone(),
        };
        let mut node = Self {
            service: Service::start(&host.name, recipe, Some(SERVING))?,
            host: host.clone(),
            addr: std::net::SocketAddrV4::new(front, port),
            log,
        };
        node.service.wait_logged()?;
        Ok(node)
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.service.kill();
    }

    /// Starts it again and waits until it serves.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        self.service.restart(Some(SERVING))?;
        self.service.wait_logged()
    }

    /// WARN and ERROR lines in its log so far.
    pub fn problems(&self) -> (usize, usize) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let warns = text.lines().filter(|l| l.contains(" WARN ")).count();
        let errors = text.lines().filter(|l| l.contains(" ERROR ")).count();
        (warns, errors)
    }
}
