//! Defect 8 of issue 10: a client holding an HTTP request half-sent. Headers that stall are cut off after
//! `--header-timeout-secs`; SIGTERM is bounded by `--shutdown-secs` whatever clients hold open; and 500
//! half-open connections neither stop pages and chat from answering nor hold up a stop.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chatweb::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{
    PATIENCE, ProcessNode, TempDir, connect, ids, spawn_app, spawn_app_with, test_config, texts,
};

/// Time a stop may take past its bound before the test calls it unbounded (a debug build on two busy
/// cores: process exit, the writer's last commit).
const SLACK: Duration = Duration::from_secs(3);

/// How a client can hold a connection without finishing a request.
#[derive(Clone, Copy, Debug)]
enum Partial {
    /// Connected, nothing sent.
    Silent,
    /// Half a request line.
    HalfLine,
    /// A request line and headers cut off in the middle of one.
    HalfHeaders,
    /// Whole headers of a form POST whose body stops short (the CSRF check waits for the rest).
    SlowBody,
}

impl Partial {
    const ALL: [Self; 4] = [
        Self::Silent,
        Self::HalfLine,
        Self::HalfHeaders,
        Self::SlowBody,
    ];

    fn bytes(self) -> String {
        let token = "ab".repeat(32);
        match self {
            Self::Silent => String::new(),
            Self::HalfLine => "GET /chat/lobby/ HT".into(),
            Self::HalfHeaders => "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slo".into(),
            Self::SlowBody => format!(
                "POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: csrftoken={token}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n\
                 csrfmiddlewaretoken={token}&username=a"
            ),
        }
    }
}

/// Opens a connection to `addr` and sends the start of a request of kind `partial`.
async fn open(addr: SocketAddr, partial: Partial) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let bytes = partial.bytes();
    if !bytes.is_empty() {
        stream
            .write_all(bytes.as_bytes())
            .await
            .expect("send part of a request");
    }
    stream
}

/// Whether the server neither closed `stream` nor answered on it (yet).
fn held_open(stream: &TcpStream) -> bool {
    let mut byte = [0_u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Reads (and discards) whatever the server sends until it closes `stream`; panics after `PATIENCE`.
async fn until_closed(stream: &mut TcpStream, what: &str) {
    let mut buf = [0_u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_all)
        .await
        .unwrap_or_else(|_| panic!("{what}: the server kept the connection open"));
}

#[tokio::test]
async fn a_client_that_stalls_in_its_headers_is_disconnected_after_the_header_timeout() {
    let dir = TempDir::new();
    let app = spawn_app_with(Config {
        header_timeout_secs: 1,
        ..test_config(dir.sqlite_url())
    })
    .await;
    let started = Instant::now();
    let mut stalled = Vec::new();
    for partial in [Partial::Silent, Partial::HalfLine, Partial::HalfHeaders] {
        stalled.push((format!("{partial:?}"), open(app.addr, partial).await));
    }
    // A keep-alive connection that got its answer and then says nothing more is cut off the same way.
    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("send a request");
    stalled.push(("idle keep-alive".into(), idle));
    // Meanwhile a whole request is answered.
    let lobby = app.get("/", None).await;
    assert_eq!(lobby.status(), 200);
    for (what, mut stream) in stalled {
        until_closed(&mut stream, &what).await;
        let after = started.elapsed();
        assert!(
            after >= Duration::from_millis(950),
            "{what}: closed after {after:?}, before the 1 s header timeout"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn sigterm_exits_0_within_the_bound_while_requests_are_half_sent_and_a_socket_is_open() {
    const BOUND: Duration = Duration::from_secs(2);
    let dir = TempDir::new();
    // Headers may take far longer than the stop: only the bound can end these connections in time.
    let mut node = ProcessNode::start_with(&[
        "--database-url",
        &dir.sqlite_url(),
        "--shutdown-secs",
        "2",
        "--header-timeout-secs",
        "300",
    ]);
    let addr = node.addr().await;
    let mut chat = connect(addr, "/ws/chat/stop/").await;
    let acked = chat.send_acked("m", 5).await;
    let mut stalled = Vec::new();
    for partial in Partial::ALL {
        stalled.push((partial, open(addr, partial).await));
    }
    // Connections are accepted in order: once a later request is answered, the stalled ones are being
    // served (and the slow body's request is in its handler).
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("health request");
    assert_eq!(health.status(), 200);
    for (partial, stream) in &stalled {
        assert!(held_open(stream), "{partial:?} was not held open");
    }

    let (status, took) = node
        .terminate_within(BOUND + SLACK)
        .unwrap_or_else(|| panic!("SIGTERM did not stop the node within {:?}", BOUND + SLACK));
    assert!(status.success(), "exit status {status}");
    println!("stopped {took:?} after SIGTERM (bound {BOUND:?})");
    assert_eq!(chat.closed().await, Some(1001));
    for (partial, mut stream) in stalled {
        until_closed(&mut stream, &format!("{partial:?}")).await;
    }

    // What was acked before the stop is stored.
    let app = spawn_app(&dir).await;
    let mut back = app.join_path("/ws/chat/stop/?since=0", None).await;
    assert_eq!(ids(&back.messages(acked.len()).await), acked);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_half_open_connections_leave_pages_and_chat_answering_and_sigterm_bounded() {
    const HALF_OPEN: usize = 500;
    const MESSAGES: usize = 20;
    const BOUND: Duration = Duration::from_secs(3);
    let dir = TempDir::new();
    let mut node = ProcessNode::start_with(&[
        "--database-url",
        &dir.sqlite_url(),
        "--shutdown-secs",
        "3",
        "--header-timeout-secs",
        "300",
    ]);
    let addr = node.addr().await;
    let mut half_open = Vec::with_capacity(HALF_OPEN);
    for i in 0..HALF_OPEN {
        let partial = Partial::ALL[i % Partial::ALL.len()];
        half_open.push((partial, open(addr, partial).await));
    }

    // The lobby and a room page still answer.
    let lobby = reqwest::get(format!("http://{addr}/"))
        .await
        .expect("lobby request");
    assert_eq!(lobby.status(), 200);
    assert!(
        lobby
            .text()
            .await
            .expect("lobby page")
            .contains("id=\"room-name-input\"")
    );
    let room = reqwest::get(format!("http://{addr}/chat/busy/"))
        .await
        .expect("room request");
    assert_eq!(room.status(), 200);
    // And chat works: every message reaches the other member of the room.
    let mut sender = connect(addr, "/ws/chat/busy/").await;
    let mut reader = connect(addr, "/ws/chat/busy/").await;
    let acked = sender.send_acked("hi", MESSAGES).await;
    let got = reader.messages(MESSAGES).await;
    assert_eq!(ids(&got), acked);
    assert_eq!(
        texts(&got),
        (0..MESSAGES).map(|i| format!("hi-{i}")).collect::<Vec<_>>()
    );
    // The half-open connections are still there: the server neither dropped nor answered them.
    let held = half_open.iter().filter(|(_, s)| held_open(s)).count();
    assert_eq!(held, HALF_OPEN, "half-open connections held by the server");

    let (status, took) = node
        .terminate_within(BOUND + SLACK)
        .unwrap_or_else(|| panic!("SIGTERM did not stop the node within {:?}", BOUND + SLACK));
    assert!(status.success(), "exit status {status}");
    println!("stopped {took:?} after SIGTERM with {HALF_OPEN} half-open connections");
    assert_eq!(sender.closed().await, Some(1001));
    assert_eq!(reader.closed().await, Some(1001));
}
