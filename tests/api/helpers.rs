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

    /// The directory, kept after this is dropped (for a node that outlives the test's handle on it).
    pub fn keep(self) -> PathBuf {
        let path = self.0.clone();
        std::mem::forget(self);
        path
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

/// Settings for a test node: port 0, a given database, limits off, defaults otherwise.
pub fn test_config(database_url: String) -> Config {
    // Uploads go beside a SQLite file; with PostgreSQL, into a directory of the test's own (never the
    // working directory). It is left behind, like the test's PostgreSQL database until dropped.
    let files_dir = (!database_url.starts_with("sqlite:")).then(|| TempDir::new().keep());
    Config {
        port: 0,
        file_store: chatweb::files::FileStoreArgs {
            files_dir,
            ..Default::default()
        },
        database_url,
        // Tests of everything else send and connect faster than a person; the limits' tests turn them on.
        limits: chatweb::limits::LimitSettings::off(),
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
    /// Wraps an open WebSocket.
    pub fn from_stream(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self { ws }
    }

    /// Sends a JSON frame.
    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends `frames` in one write (queued, then flushed once), so the server finds them all waiting at
    /// once: the second is read before anything the first started has had a turn.
    pub async fn send_together(&mut self, frames: &[Value]) {
        for frame in frames {
            self.ws
                .feed(Message::text(frame.to_string()))
                .await
                .expect("queue");
        }
        self.ws.flush().await.expect("send");
    }

    /// Sends a ping and waits for its pong, dropping any other frame meanwhile; returns how long it took.
    pub async fn ping(&mut self, payload: &'static [u8]) -> Duration {
        let started = tokio::time::Instant::now();
        self.ws
            .send(Message::Ping(Bytes::from_static(payload)))
            .await
            .expect("ping");
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a pong arrives in time")
                .expect("socket open")
                .expect("frame");
            if let Message::Pong(answer) = frame
                && answer.as_ref() == payload
            {
                return started.elapsed();
            }
        }
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

    /// The next JSON text frame that is not ephemeral (pings, presence, join, leave, typing and the read
    /// mark are skipped: tests of those read [`Client::next_frame`]).
    pub async fn next_json(&mut self) -> Value {
        loop {
            let frame = self.next_frame().await;
            match frame["type"].as_str() {
                Some("presence" | "join" | "leave" | "typing" | "read") => continue,
                _ => return frame,
            }
        }
    }

    /// The next answer to this client's own frames (an ack, an error, a `moderated`), skipping the room's
    /// messages and events.
    pub async fn next_answer(&mut self) -> Value {
        loop {
            let frame = self.next_frame().await;
            if is_answer(&frame) {
                return frame;
            }
        }
    }

    /// Closes the socket as a browser tab does, and waits until the server has let it go.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, self.ws.next()).await {}
    }

    /// The next frame of type `kind`, skipping any other.
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next_frame().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// The next JSON text frame, whatever its type (pings are skipped).
    pub async fn next_frame(&mut self) -> Value {
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

    /// Reads `n` frames that are history (message, edit, delete, clear), skipping acks and ephemeral frames.
    pub async fn messages_and_events(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let frame = self.next_json().await;
            if matches!(
                frame["type"].as_str(),
                Some("message" | "edit" | "delete" | "clear")
            ) {
                out.push(frame);
            }
        }
        out
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

pub use crate::services::{
    ProcessNode, RedisServer, StallProxy, TcpProxy, TestDatabase, node_config, test_service,
    two_nodes, unique_prefix,
};

/// Whether `frame` answers one of the connection's own frames (see [`Client::next_answer`]).
pub fn is_answer(frame: &Value) -> bool {
    matches!(frame["type"].as_str(), Some("ack" | "error" | "moderated"))
}
