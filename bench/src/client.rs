//! The client side of the wire: WebSocket connections to a room (bound round-robin to source addresses
//! 127.0.0.2, 127.0.0.3, ... so that many connections do not exhaust one address's ephemeral ports, and
//! with the `Origin` chatweb requires; live clients also carry a session cookie and ask for `chatweb.v2`),
//! the frames clients send in either protocol, and the fields receivers read from server frames (`type`,
//! `id`, `message`, the ack's `client_id`).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use chatweb::accounts::cookies::{GUEST_COOKIE, SESSION_COOKIE};
use chatweb::protocol::V2_PROTOCOL;
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::wire::{self, Wire};

/// Handshakes in progress at once while a scenario sets up. Both servers listen with the standard library's
/// backlog of 128: more simultaneous connection attempts than that overflow it, and each dropped SYN costs a
/// one-second retransmission.
pub const HANDSHAKES: usize = 100;

/// A client WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// Which protocol clients speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// The Django Channels tutorial's: `{"message": text}`, no acks, never resumes.
    Plain,
    /// chatweb's: each message carries a `client_id` and is acknowledged once stored.
    Ours,
}

/// Encodes a chat message frame; `client_id` only in our protocol. `text` must need no JSON escaping.
pub fn message_frame(protocol: Protocol, text: &str, client_id: &str) -> String {
    match protocol {
        Protocol::Plain => format!(r#"{{"message":"{text}"}}"#),
        Protocol::Ours => {
            format!(r#"{{"type":"message","message":"{text}","client_id":"{client_id}"}}"#)
        }
    }
}

/// The fields of a server frame the bench reads; the rest is skipped.
#[derive(Deserialize)]
pub struct Frame<'a> {
    /// `message`, `ack` or `error`.
    #[serde(rename = "type", borrow)]
    pub kind: Option<Cow<'a, str>>,
    /// The room sequence number (messages and acks).
    pub id: Option<u64>,
    /// The text of a message.
    #[serde(borrow)]
    pub message: Option<Cow<'a, str>>,
    /// The key of an acknowledged (or refused) send.
    #[serde(borrow)]
    pub client_id: Option<Cow<'a, str>>,
    /// Whether an ack is for a repeated `client_id`.
    pub duplicate: Option<bool>,
}

impl<'a> Frame<'a> {
    /// Parses a text frame; `None` when it is not JSON of the expected shape.
    pub fn parse(text: &'a str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// [`Frame::parse`], plus the measured message's number and send time (see [`payload`]).
    pub fn parse_measured(text: &'a str) -> Option<(Self, Option<(u64, u64)>)> {
        let frame = Self::parse(text)?;
        let measured = frame.message.as_deref().and_then(parse_payload);
        Some((frame, measured))
    }

    /// [`Frame::parse_measured`], with a fast path for the frames that make up nearly all of a fan-out
    /// run: message frames as chatweb and the relay encode them (`{"type":"message","id":N,...,
    /// "message":"<number>:<send time>:...`). It reads the id and the two numbers and nothing else, so
    /// the frame it returns has no `message` text. A full JSON parse of every delivery would make the
    /// client, not the server, the bound of a fast run. Anything else is parsed in full.
    pub fn scan(text: &'a str) -> Option<(Self, Option<(u64, u64)>)> {
        Self::scan_message(text).or_else(|| Self::parse_measured(text))
    }

    fn scan_message(text: &'a str) -> Option<(Self, Option<(u64, u64)>)> {
        let rest = text.strip_prefix(r#"{"type":"message","id":"#)?.as_bytes();
        let (id, digits) = leading_number(rest)?;
        // Byte searches: `str::find` with a pattern costs more than the rest of the scan.
        const KEY: &[u8] = br#""message":""#;
        let mut from = digits;
        let start = loop {
            let quote = from + rest[from..].iter().position(|&b| b == b'"')?;
            if rest[quote..].starts_with(KEY) {
                break quote + KEY.len();
            }
            from = quote + 1;
        };
        // `<number>:<send time>:` needs no unescaping, whatever follows it.
        let measured = (|| {
            let body = &rest[start..];
            let (seq, n) = leading_number(body)?;
            let body = body[n..].strip_prefix(b":")?;
            let (sent, n) = leading_number(body)?;
            body[n..].starts_with(b":").then_some((seq, sent))
        })();
        let frame = Self {
            kind: Some(Cow::Borrowed("message")),
            id: Some(id),
            message: None,
            client_id: None,
            duplicate: None,
        };
        Some((frame, measured))
    }

    /// Whether this is a chat message (the only frames plain clients look at).
    pub fn is_message(&self) -> bool {
        self.kind.as_deref() == Some("message")
    }
}

/// One connection to open: its room and, for a live client, the session it is signed in with and whether
/// it asks for the `chatweb.v2` subprotocol.
#[derive(Clone, Debug)]
pub struct Dial {
    /// The room's name.
    pub room: String,
    /// The value of a `sessionid` cookie: the connection is that user's.
    pub session: Option<Arc<str>>,
    /// Ask for `chatweb.v2` (the handshake fails unless the server selects it).
    pub v2: bool,
}

impl From<String> for Dial {
    /// A plain, anonymous connection to `room`.
    fn from(room: String) -> Self {
        Self {
            room,
            session: None,
            v2: false,
        }
    }
}

/// Text of a measured message: its number and send time, padded with `x` to `size` bytes.
pub fn payload(seq: u64, sent_nanos: u64, size: usize) -> String {
    let mut text = format!("{seq}:{sent_nanos}:");
    if text.len() < size {
        text.extend(std::iter::repeat_n('x', size - text.len()));
    }
    text
}

/// The decimal number at the start of `bytes` and how many digits it took.
fn leading_number(bytes: &[u8]) -> Option<(u64, usize)> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let value = bytes[..digits]
        .iter()
        .fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'));
    Some((value, digits))
}

/// The number and send time in a measured message's text; `None` for any other text.
pub fn parse_payload(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.splitn(3, ':');
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((seq, sent))
}

/// A short tag that makes this run's room names new even on a server that already has rooms.
pub fn run_tag() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{}-{}", std::process::id(), secs % 1_000_000)
}

/// Where clients connect, and from which source addresses.
pub struct Endpoint {
    addr: SocketAddr,
    origin: HeaderValue,
    sources: Vec<IpAddr>,
    next_source: AtomicUsize,
    config: WebSocketConfig,
}

impl Endpoint {
    /// Clients of `addr`, spread over `sources` source addresses from 127.0.0.2 on (IPv4 targets only),
    /// each with a read buffer of `read_buffer` bytes.
    pub fn new(addr: SocketAddr, sources: u8, read_buffer: usize) -> anyhow::Result<Self> {
        crate::server::ensure_loopback(addr.ip())?;
        let origin = match addr {
            SocketAddr::V4(_) => format!("http://127.0.0.1:{}", addr.port()),
            SocketAddr::V6(_) => format!("http://[::1]:{}", addr.port()),
        };
        let sources = match addr {
            SocketAddr::V4(_) => (0..sources)
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2u8.saturating_add(i))))
                .collect(),
            SocketAddr::V6(_) => Vec::new(),
        };
        Ok(Self {
            addr,
            origin: HeaderValue::from_str(&origin)?,
            sources,
            next_source: AtomicUsize::new(0),
            config: WebSocketConfig::default()
                .read_buffer_size(read_buffer)
                .write_buffer_size(0),
        })
    }

    /// Opens a plain, anonymous WebSocket to `room`.
    pub async fn connect(&self, room: &str) -> anyhow::Result<Ws> {
        self.dial(&Dial::from(room.to_owned())).await
    }

    /// Opens the WebSocket `dial` describes, with the lean reader of [`crate::wire`].
    pub async fn dial_wire(&self, dial: &Dial) -> anyhow::Result<Wire> {
        let path = format!("/ws/chat/{}/", dial.room);
        let cookie = dial
            .session
            .as_ref()
            .map(|session| format!("{SESSION_COOKIE}={session}"));
        let protocol = dial.v2.then_some(V2_PROTOCOL);
        self.open_wire(&path, cookie.as_deref(), protocol).await
    }

    /// Opens a plain, anonymous WebSocket to `room` that resumes after `since` (`?since=N`), with the
    /// lean reader of [`crate::wire`].
    pub async fn resume_wire(&self, room: &str, since: u64) -> anyhow::Result<Wire> {
        self.open_wire(&format!("/ws/chat/{room}/?since={since}"), None, None)
            .await
    }

    /// Opens a WebSocket at `path` (with its query), sending `cookie` as the `Cookie` header and asking
    /// for `protocol`, with the lean reader of [`crate::wire`].
    async fn open_wire(
        &self,
        path: &str,
        cookie: Option<&str>,
        protocol: Option<&str>,
    ) -> anyhow::Result<Wire> {
        let stream = self.tcp().await?;
        let host = self.addr.to_string();
        let origin = self.origin.to_str().context("origin")?;
        let request = wire::Request {
            host: &host,
            path,
            origin,
            cookie,
            protocol,
        };
        Wire::connect(stream, &request)
            .await
            .with_context(|| format!("WebSocket handshake with {}", self.addr))
    }

    /// A TCP connection to the server from the next source address, with Nagle off.
    async fn tcp(&self) -> anyhow::Result<TcpStream> {
        let socket = match self.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if !self.sources.is_empty() {
            let i = self.next_source.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            let source = SocketAddr::new(self.sources[i], 0);
            socket
                .bind(source)
                .with_context(|| format!("binding a client socket to {source}"))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Opens a plain WebSocket to `room` as the guest whose `chatweb_guest` cookie is `guest` (32 hex
    /// digits): a guest that keeps its cookie across reconnects keeps its `client_id`s, so a resend after
    /// a reconnect is recognised.
    pub async fn connect_as_guest(&self, room: &str, guest: &str) -> anyhow::Result<Ws> {
        let cookie = format!("{GUEST_COOKIE}={guest}");
        self.dial_with(&Dial::from(room.to_owned()), Some(&cookie))
            .await
    }

    /// Opens the WebSocket `dial` describes.
    pub async fn dial(&self, dial: &Dial) -> anyhow::Result<Ws> {
        let cookie = dial
            .session
            .as_ref()
            .map(|session| format!("{SESSION_COOKIE}={session}"));
        self.dial_with(dial, cookie.as_deref()).await
    }

    /// Opens the WebSocket `dial` describes, with `cookie` as its `Cookie` header.
    async fn dial_with(&self, dial: &Dial, cookie: Option<&str>) -> anyhow::Result<Ws> {
        let stream = self.tcp().await?;
        let room = &dial.room;
        let mut request = format!("ws://{}/ws/chat/{room}/", self.addr).into_client_request()?;
        let headers = request.headers_mut();
        headers.insert("Origin", self.origin.clone());
        if let Some(cookie) = cookie {
            headers.insert("Cookie", HeaderValue::from_str(cookie)?);
        }
        if dial.v2 {
            // tungstenite refuses the handshake when the server does not select it.
            headers.insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(V2_PROTOCOL),
            );
        }
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(self.config))
                .await
                .with_context(|| format!("WebSocket handshake with {}", self.addr))?;
        Ok(ws)
    }

    /// Opens one connection per entry of `rooms` (room names or [`Dial`]s), at most `concurrency`
    /// handshakes at a time, giving up at `deadline`. The answers come in the order of `rooms`; `done` is
    /// called after each.
    pub async fn connect_many<D: Into<Dial>>(
        self: &Arc<Self>,
        rooms: Vec<D>,
        concurrency: usize,
        deadline: Instant,
        done: impl Fn(),
    ) -> anyhow::Result<Vec<anyhow::Result<Ws>>> {
        self.connect_many_by(
            rooms,
            concurrency,
            deadline,
            done,
            |endpoint, dial| async move { endpoint.dial(&dial).await },
        )
        .await
    }

    /// [`Endpoint::connect_many`] with the lean reader of [`crate::wire`].
    pub async fn connect_many_wire(
        self: &Arc<Self>,
        rooms: Vec<Dial>,
        concurrency: usize,
        deadline: Instant,
    ) -> anyhow::Result<Vec<anyhow::Result<Wire>>> {
        self.connect_many_by(
            rooms,
            concurrency,
            deadline,
            || {},
            |endpoint, dial| async move { endpoint.dial_wire(&dial).await },
        )
        .await
    }

    async fn connect_many_by<D, T, F, Fut>(
        self: &Arc<Self>,
        rooms: Vec<D>,
        concurrency: usize,
        deadline: Instant,
        done: impl Fn(),
        connect: F,
    ) -> anyhow::Result<Vec<anyhow::Result<T>>>
    where
        D: Into<Dial>,
        T: Send + 'static,
        F: Fn(Arc<Self>, Dial) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = Vec::with_capacity(rooms.len());
        for dial in rooms {
            let dial = dial.into();
            let permit = tokio::time::timeout_at(deadline, permits.clone().acquire_owned())
                .await
                .context("timed out while connecting")??;
            let endpoint = self.clone();
            let connect = connect.clone();
            tasks.push(tokio::spawn(async move {
                let ws = tokio::time::timeout_at(deadline, connect(endpoint, dial))
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out while connecting")));
                drop(permit);
                ws
            }));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(task.await.context("a connecting task failed")?);
            done();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_at_the_asked_size() {
        let text = payload(42, 123_456_789, 100);
        assert_eq!(text.len(), 100);
        assert_eq!(parse_payload(&text), Some((42, 123_456_789)));
        assert_eq!(parse_payload(&payload(7, 9, 1)), Some((7, 9)));
        assert_eq!(parse_payload("warmup"), None);
    }

    #[test]
    fn frames_give_their_kind_id_and_message() {
        let text = r#"{"type":"message","id":7,"room":"r","ts":"t","user":"u","message":"1:2:x","history":false}"#;
        let frame = Frame::parse(text).expect("a frame");
        assert!(frame.is_message());
        assert_eq!(frame.id, Some(7));
        assert_eq!(frame.message.as_deref(), Some("1:2:x"));
        let ack = Frame::parse(r#"{"type":"ack","client_id":"c","id":3,"duplicate":false}"#)
            .expect("an ack");
        assert!(!ack.is_message());
        assert_eq!(ack.client_id.as_deref(), Some("c"));
    }

    #[test]
    fn the_fast_path_reads_what_a_full_parse_reads() {
        let frames = [
            r#"{"type":"message","id":7,"room":"r","ts":"t","user":"u","message":"1:2:x","history":false}"#,
            r#"{"type":"message","id":12,"room":"r","ts":"t","user":"u","message":"9:8:xx","history":false,"guest":true}"#,
            r#"{"type":"message","id":3,"room":"r","ts":"t","user":"u","message":"a \"q\" b"}"#,
            r#"{"type":"message","id":4,"room":"r","ts":"t","user":"u","message":"warmup"}"#,
            r#"{"type":"ack","client_id":"c","id":3,"duplicate":false}"#,
            r#"{"type":"presence","users":[],"count":0}"#,
        ];
        for text in frames {
            let (fast, fast_measured) = Frame::scan(text).expect("scanned");
            let (full, full_measured) = Frame::parse_measured(text).expect("parsed");
            assert_eq!(fast.kind, full.kind, "{text}");
            assert_eq!(fast.id, full.id, "{text}");
            assert_eq!(fast_measured, full_measured, "{text}");
            if !fast.is_message() {
                assert_eq!(fast.client_id, full.client_id, "{text}");
            }
        }
        assert!(Frame::scan("not json").is_none());
        assert_eq!(leading_number(b"123:4"), Some((123, 3)));
        assert_eq!(leading_number(b":4"), None);
    }

    #[test]
    fn message_frames_are_json() {
        for protocol in [Protocol::Plain, Protocol::Ours] {
            let text = message_frame(protocol, "1:2:xx", "c-1");
            let value: serde_json::Value = serde_json::from_str(&text).expect("json");
            assert_eq!(value["message"], "1:2:xx");
        }
    }
}
