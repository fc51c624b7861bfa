//! Test services beyond one in-process node: the binary as its own process, fresh PostgreSQL databases,
//! a private redis-server, and a TCP proxy that can cut a connection. Each test starts and stops only what
//! it started itself; tests that need the shared PostgreSQL or Redis skip with a note unless their env var
//! is set, and fail instead under `CI=true`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chatweb::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::helpers::{PATIENCE, TempDir, test_config};

/// The `chatweb` binary running as its own process on port 0.
pub struct ProcessNode {
    child: std::process::Child,
    stderr: Option<std::process::ChildStderr>,
}

impl ProcessNode {
    /// Starts `chatweb serve` on the database in `dir`.
    pub fn start(dir: &TempDir) -> Self {
        Self::start_with(&["--database-url", &dir.sqlite_url()])
    }

    /// Starts `chatweb serve --port 0` with more arguments.
    pub fn start_with(args: &[&str]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chatweb"))
            .args(["serve", "--port", "0"])
            .args(args)
            .env("RUST_LOG", "chatweb=info")
            // Like in-process test nodes: limits off unless a test passes `--limits on` (the flag wins).
            .env("CHATWEB_LIMITS", "off")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start chatweb");
        let stderr = child.stderr.take();
        Self { child, stderr }
    }

    /// The address the node logs once it serves (read from its log).
    pub async fn addr(&mut self) -> std::net::SocketAddr {
        let stderr = self.stderr.take().expect("address read once");
        let found = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut lines = std::io::BufReader::new(stderr).lines();
            let addr = lines.by_ref().map_while(Result::ok).find_map(|line| {
                let rest = line.split("serving on http://").nth(1)?;
                rest.split('/').next()?.parse().ok()
            });
            // Keep draining the log so the node never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            addr
        });
        tokio::time::timeout(PATIENCE, found)
            .await
            .expect("node starts in time")
            .expect("log reader")
            .expect("node logs its address")
    }

    /// The process id (to read its memory in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success());
        self.child.wait().expect("wait for chatweb")
    }

    /// Sends SIGTERM and waits at most `limit` for the process to exit: its status and how long it took,
    /// or `None` when it was still running at `limit` (it is killed then).
    pub fn terminate_within(
        &mut self,
        limit: Duration,
    ) -> Option<(std::process::ExitStatus, Duration)> {
        let pid = self.child.id().to_string();
        let started = std::time::Instant::now();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success());
        // A process's exit cannot be awaited here: poll it, bounded by `limit`.
        loop {
            if let Some(status) = self.child.try_wait().expect("poll chatweb") {
                return Some((status, started.elapsed()));
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A Python tool's command: the one `scripts/test` installs into its venv `target/tools/<name>/`, else
/// one on `PATH`.
pub fn python_tool(name: &str) -> Option<std::path::PathBuf> {
    let installed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/tools")
        .join(name)
        .join("bin")
        .join(name);
    if installed.is_file() {
        return Some(installed);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether `CI=true`: there a test that would skip for a missing service fails instead.
pub fn on_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The value of the env var `name` naming a test service; `None` (after printing a skip line) when it is
/// unset, except on CI, where a missing service fails the test.
pub fn test_service(name: &str, test: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !on_ci(),
                "{test}: {name} is not set, and CI must run every test"
            );
            println!("skipping {test}: set {name} to run it");
            None
        }
    }
}

/// A fresh PostgreSQL database for one test, created on the server `CHATWEB_TEST_DATABASE_URL` names.
pub struct TestDatabase {
    /// URL of the fresh database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates the database, or returns `None` (skip) when no test server is configured.
    pub async fn create(test: &str) -> Option<Self> {
        use sqlx::Connection;
        let admin_url = test_service("CHATWEB_TEST_DATABASE_URL", test)?;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "chatweb_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&mut admin)
        .await
        .expect("drop an old test database");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        Some(Self {
            url: format!("{server}/{name}"),
            admin_url,
            name,
        })
    }

    /// The server's address (to put a proxy in front of it).
    pub async fn server_addr(&self) -> std::net::SocketAddr {
        let (server, _) = self.url.rsplit_once('/').expect("database url");
        let host = server.rsplit('@').next().expect("host");
        tokio::net::lookup_host(host)
            .await
            .expect("resolve")
            .next()
            .expect("address")
    }

    /// The database's URL through a proxy listening on loopback `port`.
    pub fn url_via(&self, port: u16) -> String {
        let (server, name) = self.url.rsplit_once('/').expect("database url");
        let user = server
            .split("://")
            .nth(1)
            .and_then(|s| s.split_once('@'))
            .map_or("postgres", |(user, _)| user);
        format!("postgres://{user}@127.0.0.1:{port}/{name}")
    }

    /// Drops the database (after every pool on it is closed).
    pub async fn drop_database(self) {
        use sqlx::Connection;
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}

/// A Redis channel prefix no other test uses.
pub fn unique_prefix(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "chatweb-test-{test}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings for one node of a test cluster sharing `database_url` and `redis_url`.
pub fn node_config(database_url: &str, redis_url: &str, prefix: &str) -> Config {
    Config {
        redis_url: Some(redis_url.to_owned()),
        redis_prefix: prefix.to_owned(),
        ..test_config(database_url.to_owned())
    }
}

/// Two in-process nodes on one fresh PostgreSQL database and one Redis prefix, or `None` to skip (never
/// on CI). Drop the database with `drop_database` when done.
pub async fn two_nodes(
    test: &str,
) -> Option<(
    TestDatabase,
    crate::helpers::TestApp,
    crate::helpers::TestApp,
)> {
    let redis = test_service("CHATWEB_TEST_REDIS_URL", test)?;
    let db = TestDatabase::create(test).await?;
    let prefix = unique_prefix(test);
    let a = crate::helpers::spawn_app_with(node_config(&db.url, &redis, &prefix)).await;
    let b = crate::helpers::spawn_app_with(node_config(&db.url, &redis, &prefix)).await;
    Some((db, a, b))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// Waits (bounded) until something accepts TCP connections on `port`: readiness of an external process.
pub async fn wait_listening(port: u16) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
    }
}

/// A private redis-server this test starts, stops and restarts on its own port (never the shared one).
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Starts a redis-server on a free port; `None` (skip) when redis-server is not installed, except on CI.
    pub async fn start(test: &str) -> Option<Self> {
        if std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                !on_ci(),
                "{test}: redis-server is not installed, and CI must run every test"
            );
            println!("skipping {test}: redis-server not installed");
            return None;
        }
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart().await;
        Some(server)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (if running) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and waits until it listens.
    pub async fn restart(&mut self) {
        self.stop();
        let port = self.port.to_string();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        wait_listening(self.port).await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP proxy on loopback that a test can cut (every connection dropped, new ones refused at once) and
/// restore: a database or broker "going away" without touching the shared service.
pub struct TcpProxy {
    pub port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Proxies a fresh loopback port to `target`.
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let task = tokio::spawn({
            let open = open.clone();
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees the connection closed at once
                    }
                    let mut cuts = cuts.clone();
                    cuts.borrow_and_update(); // only cuts from now on end this connection
                    tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cuts.changed() => {}
                        }
                    });
                }
            }
        });
        Self {
            port,
            open,
            cut,
            task,
        }
    }

    /// Drops every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback TCP proxy that counts the connections it accepts and can stall: while stalled it forwards
/// nothing either way and keeps every connection open, which is what a stuck Redis looks like (or a
/// network link cut under a database connection: nothing is refused, nothing arrives).
pub struct StallProxy {
    pub port: u16,
    accepted: Arc<AtomicUsize>,
    stalled: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StallProxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stalled, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn({
            let accepted = accepted.clone();
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let watch = watch.clone();
                    tokio::spawn(async move {
                        let Ok(outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        tokio::select! {
                            () = pipe(in_read, out_write, watch.clone()) => {}
                            () = pipe(out_read, in_write, watch) => {}
                        }
                    });
                }
            }
        });
        Self {
            port,
            accepted,
            stalled,
            task,
        }
    }

    /// The proxy as a Redis URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops (or resumes) forwarding, both ways, on every connection.
    pub fn stall(&self, stalled: bool) {
        self.stalled.send_replace(stalled);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, holding every byte while the proxy is stalled.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
