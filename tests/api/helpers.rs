//! Test helpers that speak the domain: spawn a node on a fresh database, join a room, say something, read
//! the next frame. Waiting is always on an event, bounded by a timeout that only turns a hang into a failure.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chatweb::app::App;
use chatweb::config::Config;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// How long any single awaited event may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        chatweb::telemetry::init(std::io::stderr);
    } else {
        chatweb::telemetry::init(std::io::sink);
    }
});

/// A fresh directory for one test's files, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a new, empty directory under the system temp dir.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "chatweb-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A SQLite URL for a database file in this directory.
    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.0.join("db.sqlite3").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Settings for a test node: port 0, a given database, defaults otherwise.
pub fn test_config(database_url: String) -> Config {
    Config {
        port: 0,
        database_url,
        ..Config::default()
    }
}

/// A running node.
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub stats: std::sync::Arc<chatweb::stats::Stats>,
    token: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// Starts a node with `config`.
pub async fn spawn_app_with(config: Config) -> TestApp {
    LazyLock::force(&TRACING);
    let app = App::build(config).await.expect("app builds");
    let addr = app.local_addr();
    let token = app.shutdown_token();
    let stats = app.stats();
    let handle = tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        addr,
        stats,
        token,
        handle,
    }
}

/// Starts a node on the database in `dir`.
pub async fn spawn_app(dir: &TempDir) -> TestApp {
    spawn_app_with(test_config(dir.sqlite_url())).await
}

impl TestApp {
    /// `http://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The origin a browser on this node's pages would send.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// GETs `path` with an optional cookie header.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("request")
    }

    /// Opens the chat socket of `room` as a page of this node would (allowed origin, no cookie).
    pub async fn join(&self, room: &str) -> Client {
        self.join_path(&format!("/ws/chat/{room}/"), None).await
    }

    /// Opens the chat socket at `path` (which may carry `?since=`), with a nickname cookie if given.
    pub async fn join_path(&self, path: &str, nickname: Option<&str>) -> Client {
        self.handshake(path, Some(&self.origin()), nickname)
            .await
            .expect("handshake accepted")
    }

    /// Attempts a handshake with the given `Origin` (none when `None`); the error holds a refusal's status.
    pub async fn handshake(
        &self,
        path: &str,
        origin: Option<&str>,
        nickname: Option<&str>,
    ) -> Result<Client, u16> {
        handshake(self.addr, path, origin, nickname).await
    }

    /// Stops the node gracefully and waits until it has.
    pub async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(PATIENCE, self.handle)
            .await
            .expect("node stops in time")
            .expect("node task")
            .expect("node stops cleanly");
    }
}

/// Attempts a WebSocket handshake with `addr`; the error holds a refusal's HTTP status.
pub async fn handshake(
    addr: std::net::SocketAddr,
    path: &str,
    origin: Option<&str>,
    nickname: Option<&str>,
) -> Result<Client, u16> {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).expect("origin"));
    }
    if let Some(nickname) = nickname {
        let cookie = format!("chatweb_nickname={nickname}");
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(&cookie).expect("cookie"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(Client { ws }),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// Opens the chat socket at `path` of the node at `addr` with an allowed origin.
pub async fn connect(addr: std::net::SocketAddr, path: &str) -> Client {
    handshake(addr, path, Some(&format!("http://{addr}")), None)
        .await
        .expect("handshake accepted")
}

/// Like [`connect`], over a socket whose kernel receive buffer is only `recv_buffer` bytes, so that a
/// client that stops reading makes the server's writes wait almost at once.
pub async fn connect_small_buffer(
    addr: std::net::SocketAddr,
    path: &str,
    recv_buffer: u32,
) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(recv_buffer).expect("SO_RCVBUF");
    let stream = socket.connect(addr).await.expect("connect");
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{addr}")).expect("origin"),
    );
    let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .expect("handshake accepted");
    Client { ws }
}

/// A WebSocket client in a room.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Sends a JSON frame.
    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(Bytes::copy_from_slice(bytes)))
            .await
            .expect("send");
    }

    /// Sends `n` messages `<tag>-<i>` with client ids of the same text, as fast as it can, then waits for
    /// every ack; returns the acked ids in ack order.
    pub async fn send_acked(&mut self, tag: &str, n: usize) -> Vec<u64> {
        for i in 0..n {
            let text = format!("{tag}-{i}");
            self.send_json(json!({"message": text, "client_id": text}))
                .await;
        }
        let mut acked = Vec::with_capacity(n);
        while acked.len() < n {
            let frame = self.next_json().await;
            if frame["type"] == "ack" {
                acked.push(frame["id"].as_u64().expect("ack id"));
            }
        }
        acked
    }

    /// Says `text` the way a Channels client does.
    pub async fn say(&mut self, text: &str) {
        self.send_json(json!({ "message": text })).await;
    }

    /// The next JSON text frame (pings are skipped).
    pub async fn next_json(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame arrives in time")
                .expect("socket open")
                .expect("frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next frame of type `message`; panics on any other frame type.
    pub async fn next_message(&mut self) -> Value {
        let frame = self.next_json().await;
        assert_eq!(frame["type"], "message", "expected a message, got {frame}");
        frame
    }

    /// Reads `n` message frames.
    pub async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next_message().await);
        }
        out
    }

    /// Waits for the server to close the socket; returns the close code if one was sent.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("close arrives in time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// The texts of message frames.
pub fn texts(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["message"].as_str().expect("message text").to_owned())
        .collect()
}

/// The ids of message frames.
pub fn ids(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .map(|f| f["id"].as_u64().expect("message id"))
        .collect()
}

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
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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
