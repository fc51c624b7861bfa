//! Hostile clients against the real binary (its own process, so its memory can be read): random and
//! malformed frames, invalid UTF-8 in text frames, fragmented frames, oversized frames, binary frames,
//! pings with payloads, closes with bad codes, reserved opcodes, and a client that never reads while the
//! room is busy. The server never crashes or hangs, the honest clients in the room get everything in
//! order, and its memory comes back near where it started once the hostile clients have gone.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{TempDir, connect, connect_small_buffer};
use crate::services::ProcessNode;

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// How long one hostile session may take before the server counts as hung.
const SESSION_BOUND: Duration = Duration::from_secs(20);
/// Messages the honest writer sends while the hostile clients run.
const HONEST: usize = 1000;
/// Rounds of every kind of hostile session.
const ROUNDS: usize = 6;

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A small deterministic generator (xorshift): the same hostile input on every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A random string of valid UTF-8: ASCII, control characters, JSON punctuation, wide characters.
    fn text(&mut self, max: u64) -> String {
        const PIECES: &[&str] = &[
            "{", "}", "[", "]", "\"", ":", ",", "\\", "message", "type", "since", "id", "edit",
            "read", "\u{0}", "\u{1}", "\u{7f}", "\u{202e}", "\u{200b}", "\u{feff}", "é", "😀",
            "null", "1e400", "-1", "true", " ", "\n",
        ];
        let len = self.below(max) + 1;
        (0..len)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }
}

/// Frames that are valid JSON in the wrong shape, or not JSON at all.
fn malformed(noise: &mut Noise) -> String {
    match noise.below(10) {
        0 => noise.text(60),
        1 => json!({"type": noise.text(8)}).to_string(),
        2 => json!({"message": [1, 2, {"x": null}]}).to_string(),
        3 => format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
        4 => json!({"type": "resume", "since": 1e300}).to_string(),
        5 => json!({"type": "edit", "id": -4, "message": noise.text(20)}).to_string(),
        6 => json!({"type": "delete", "id": u64::MAX}).to_string(),
        7 => json!({"message": "x", "client_id": "c".repeat(500)}).to_string(),
        8 => json!({"type": "read", "id": "seven"}).to_string(),
        _ => "\"just a string\"".to_owned(),
    }
}

async fn open(addr: SocketAddr, path: &str) -> Socket {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{addr}")).expect("origin"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake")
        .0
}

/// Reads until the server closes or the socket fails; panics if that takes longer than the bound.
async fn until_closed(socket: &mut Socket) {
    tokio::time::timeout(SESSION_BOUND, async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await
    .expect("the server closes a connection it refused");
}

/// Sends a ping with `payload` and waits for its pong, reading past anything else: the connection is
/// alive and its frames are being read.
async fn still_answers(socket: &mut Socket, payload: &[u8]) {
    socket
        .send(Message::Ping(payload.to_vec().into()))
        .await
        .expect("ping");
    tokio::time::timeout(SESSION_BOUND, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Pong(data))) if data.as_ref() == payload => return,
                Some(Ok(_)) => continue,
                other => panic!("the connection should stay open: {other:?}"),
            }
        }
    })
    .await
    .expect("the pong arrives in time");
}

/// One hostile session of `kind`.
async fn hostile(addr: SocketAddr, kind: u64, seed: u64) {
    let mut noise = Noise(seed | 1);
    let mut socket = open(addr, "/ws/chat/den/").await;
    match kind {
        // Garbage and wrong shapes: each gets an error frame, the connection stays.
        0 => {
            for _ in 0..100 {
                let frame = malformed(&mut noise);
                socket.send(Message::text(frame)).await.expect("send");
            }
            still_answers(&mut socket, b"after garbage").await;
        }
        // Invalid UTF-8 in a text frame: a protocol error, the server closes.
        1 => {
            let frame = Frame::message(vec![0xc3, 0x28, 0xff], OpCode::Data(Data::Text), true);
            let _ = socket.send(Message::Frame(frame)).await;
            until_closed(&mut socket).await;
        }
        // A message in three fragments with a ping between them: stored like any other.
        2 => {
            let body = json!({"message": format!("fragmented {seed}"), "client_id": format!("frag-{seed}")})
                .to_string();
            let (a, rest) = body.split_at(5);
            let (b, c) = rest.split_at(rest.len() / 2);
            for frame in [
                Frame::message(a.as_bytes().to_vec(), OpCode::Data(Data::Text), false),
                Frame::ping(b"between".to_vec()),
                Frame::message(b.as_bytes().to_vec(), OpCode::Data(Data::Continue), false),
                Frame::message(c.as_bytes().to_vec(), OpCode::Data(Data::Continue), true),
            ] {
                socket.send(Message::Frame(frame)).await.expect("fragment");
            }
            tokio::time::timeout(SESSION_BOUND, async {
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Text(text))) if text.contains("\"ack\"") => return,
                        Some(Ok(_)) => continue,
                        other => panic!("the fragmented message is acked: {other:?}"),
                    }
                }
            })
            .await
            .expect("ack in time");
        }
        // A frame far over the limit, and a fragmented message whose parts are each small but whose
        // sum is over it: the server closes, having buffered no more than its limit.
        3 => {
            if seed.is_multiple_of(2) {
                let huge = "x".repeat(2 * 1024 * 1024);
                let _ = socket.send(Message::text(huge)).await;
            } else {
                let part = vec![b'y'; 64 * 1024];
                let _ = socket
                    .send(Message::Frame(Frame::message(
                        part.clone(),
                        OpCode::Data(Data::Text),
                        false,
                    )))
                    .await;
                for _ in 0..40 {
                    if socket
                        .send(Message::Frame(Frame::message(
                            part.clone(),
                            OpCode::Data(Data::Continue),
                            false,
                        )))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
            until_closed(&mut socket).await;
        }
        // Binary frames: an error frame each, the connection stays.
        4 => {
            for i in 0..50u8 {
                socket
                    .send(Message::Binary(vec![i; 100].into()))
                    .await
                    .expect("binary");
            }
            still_answers(&mut socket, b"after binary").await;
        }
        // Pings with the largest payload a control frame may carry.
        5 => {
            for i in 0..20u8 {
                still_answers(&mut socket, &[i; 125]).await;
            }
        }
        // Closes with codes no one may send, or a one-byte close payload.
        6 => {
            let payload: Vec<u8> = match seed % 3 {
                0 => 999u16.to_be_bytes().to_vec(),
                1 => 1005u16.to_be_bytes().to_vec(),
                _ => vec![3],
            };
            let header = FrameHeader {
                is_final: true,
                opcode: OpCode::Control(Control::Close),
                ..FrameHeader::default()
            };
            let frame = Frame::from_payload(header, payload.into());
            let _ = socket.send(Message::Frame(frame)).await;
            until_closed(&mut socket).await;
        }
        // A reserved opcode.
        _ => {
            let frame = Frame::message(b"?".to_vec(), OpCode::Data(Data::Reserved(3)), true);
            let _ = socket.send(Message::Frame(frame)).await;
            until_closed(&mut socket).await;
        }
    }
}

#[tokio::test]
async fn hostile_clients_hurt_no_one_and_leave_no_memory_behind() {
    let dir = TempDir::new();
    let mut node = ProcessNode::start(&dir);
    let addr = node.addr().await;
    let pid = node.pid();

    let reader = connect(addr, "/ws/chat/den/").await;
    let mut writer = connect(addr, "/ws/chat/den/").await;
    // One round of everything first, so the start figure includes what any connection warms up.
    for kind in 0..8 {
        hostile(addr, kind, 7 + kind).await;
    }
    let started = rss_kib(pid);

    // A client that never reads while the room is busy.
    let stalled = connect_small_buffer(addr, "/ws/chat/den/", 4096).await;
    // The honest reader reads all along, up to the last honest message.
    let reading = tokio::spawn(async move {
        let mut reader = reader;
        let last_text = format!("honest-{}", HONEST - 1);
        let mut seen = Vec::new();
        loop {
            let frame = reader.next_message().await;
            let done = frame["message"] == last_text.as_str();
            seen.push(frame);
            if done {
                return (reader, seen);
            }
        }
    });
    let honest = tokio::spawn(async move {
        let ids = writer.send_acked("honest", HONEST).await;
        (writer, ids)
    });
    let mut sessions = tokio::task::JoinSet::new();
    for round in 0..ROUNDS as u64 {
        for kind in 0..8 {
            sessions.spawn(hostile(addr, kind, 1000 * round + kind + 1));
        }
    }
    while let Some(session) = sessions.join_next().await {
        session.expect("a hostile session ends as expected");
    }
    let (_writer, acked) = honest.await.expect("honest writer");
    assert_eq!(acked.len(), HONEST);

    // The reader got every message up to the last honest one, honest and fragmented alike, once, in
    // order, with no gap.
    let (reader, seen) = reading.await.expect("honest reader");
    let ids: Vec<u64> = seen.iter().map(|f| f["id"].as_u64().expect("id")).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "in order, no gap"
    );
    assert_eq!(
        ids.last(),
        acked.last(),
        "the last honest message is the last acked"
    );
    let honest_seen = seen
        .iter()
        .filter(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("honest-"))
        })
        .count();
    assert_eq!(
        honest_seen, HONEST,
        "every honest message reached the reader"
    );
    drop(stalled);

    // Still serving: a page and a chat round trip.
    let page = reqwest::get(format!("http://{addr}/"))
        .await
        .expect("lobby");
    assert_eq!(page.status(), 200);
    let mut late = connect(addr, "/ws/chat/den/?since=0").await;
    assert_eq!(late.next_message().await["id"], 1);

    // Memory: back near the start once the hostile clients have gone (freed memory may stay with the
    // allocator, so "near" is generous: within 24 MiB of the warmed-up figure).
    drop((late, reader));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut ended = rss_kib(pid);
    while ended > started + 24 * 1024 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ended = rss_kib(pid);
    }
    println!("hostile clients: RSS {started} KiB warmed up, {ended} KiB after");
    assert!(
        ended <= started + 24 * 1024,
        "RSS {started} KiB before the hostile clients, {ended} KiB after"
    );
    let status = node.terminate();
    assert!(status.success(), "stops cleanly: {status:?}");
}
