//! The clients of one fault run (`chatweb-bench cluster-clients`, started by the harness in the clients'
//! namespace with `ip netns exec`). Every client is one WebSocket to one node and one room, and both sends
//! (each message with a `client_id`, its text the `client_id` itself) and receives; every room has clients
//! on every node. A client behaves like `static/chatweb-client.js`: when its socket closes it reconnects
//! with backoff, resumes with `?since=<last id it delivered>` (the guest cookie its first handshake got
//! keeps its `client_id`s its own across connections and nodes), and sends again every send that had no
//! answer yet, with the same `client_id`.
//!
//! It speaks to the harness over stdin and stdout, one line each: it prints `ready` once every client has
//! connected; then reads `fault <i,j,..>` (the fault begins; those nodes are the affected ones), `marker`
//! (client 0 sends one message the private database's trigger makes slow) and `heal` (the fault is over:
//! no new sends from here), waits for the cluster to converge, prints one JSON line ([`super::tally::Report`])
//! and exits. Stdin closing stops it too.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;

use super::tally::{self, ClientRecord, Outcome, RoomView, SendRecord};
use crate::client::{Frame, Ws};

/// The text that makes the private database's trigger sleep inside the insert (see `faults.rs`).
pub const MARKER: &str = "SLOWMARK";
/// A client sends no new message while this many of its sends are unanswered (a person would wait too).
const MAX_PENDING: usize = 32;
/// How long one connection attempt may take.
const CONNECT: Duration = Duration::from_secs(3);

/// Parameters of `chatweb-bench cluster-clients`.
#[derive(Clone, clap::Args)]
pub struct ClientArgs {
    /// The nodes' addresses, comma-separated (`10.213.2.11:8000,...`).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<SocketAddrV4>,
    /// Rooms; each has clients on every node.
    #[arg(long, default_value_t = 4)]
    pub rooms: usize,
    /// Clients per node and room.
    #[arg(long, default_value_t = 2)]
    pub per_node: usize,
    /// Messages each client sends per second.
    #[arg(long, default_value_t = 4.0)]
    pub rate: f64,
    /// Prefix of this run's room names.
    #[arg(long)]
    pub tag: String,
    /// Seconds after the heal within which every subscriber must have every message.
    #[arg(long, default_value_t = 10.0)]
    pub converge_secs: f64,
    /// Seconds after the heal within which every send must have its answer.
    #[arg(long, default_value_t = 15.0)]
    pub answer_secs: f64,
}

/// The fault's stage, as clients see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Before,
    Fault,
    Healed,
}

/// What every client task shares.
struct Shared {
    start: Instant,
    stage: watch::Receiver<Stage>,
    /// Per room: the highest id anyone saw acked or delivered.
    heads: Vec<AtomicU64>,
    /// Per client: every id up to this one was delivered to it.
    contiguous: Vec<AtomicU64>,
    /// Sends without an answer, over all clients.
    pending: AtomicUsize,
    /// Clients that connected at least once.
    connected: AtomicUsize,
    /// Wakes client 0 to send the marker message.
    marker: Notify,
    marker_asked: AtomicBool,
    stop: CancellationToken,
}

impl Shared {
    fn millis(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn raise_head(&self, room: usize, id: u64) {
        self.heads[room].fetch_max(id, Ordering::Relaxed);
    }
}

/// Runs the clients until the harness says `heal` and the cluster converged (or the bounds passed).
pub async fn run(args: ClientArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.nodes.is_empty(), "no --nodes");
    // Only the nodes of a cluster the harness made: never anything else on any network.
    for node in &args.nodes {
        anyhow::ensure!(
            super::net::is_front(*node.ip()),
            "{node} is not on the cluster's front network ({}/24)",
            super::net::front_network()
        );
    }
    let (stage_tx, stage) = watch::channel(Stage::Before);
    let clients = args.rooms * args.nodes.len() * args.per_node;
    let shared = Arc::new(Shared {
        start: Instant::now(),
        stage,
        heads: (0..args.rooms).map(|_| AtomicU64::new(0)).collect(),
        contiguous: (0..clients).map(|_| AtomicU64::new(0)).collect(),
        pending: AtomicUsize::new(0),
        connected: AtomicUsize::new(0),
        marker: Notify::new(),
        marker_asked: AtomicBool::new(false),
        stop: CancellationToken::new(),
    });
    let mut tasks = Vec::with_capacity(clients);
    let mut index = 0;
    for room in 0..args.rooms {
        for (node, addr) in args.nodes.iter().enumerate() {
            for _ in 0..args.per_node {
                let client = Client {
                    index,
                    node,
                    room,
                    room_name: format!("{}-r{room}", args.tag),
                    addr: *addr,
                    rate: args.rate,
                    shared: shared.clone(),
                };
                tasks.push(tokio::spawn(client.run()));
                index += 1;
            }
        }
    }
    let connect_deadline = Instant::now() + Duration::from_secs(30);
    while shared.connected.load(Ordering::Relaxed) < clients {
        anyhow::ensure!(
            Instant::now() < connect_deadline,
            "only {} of {clients} clients connected within 30 s",
            shared.connected.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("ready");

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut affected = Vec::new();
    let heal_at = loop {
        let Some(line) = lines.next_line().await? else {
            shared.stop.cancel();
            anyhow::bail!("the harness closed stdin before the heal");
        };
        let mut words = line.split_whitespace();
        match words.next() {
            Some("fault") => {
                affected = words
                    .next()
                    .unwrap_or("-")
                    .split(',')
                    .filter_map(|n| n.parse::<usize>().ok())
                    .collect();
                let _ = stage_tx.send(Stage::Fault);
            }
            Some("marker") => {
                shared.marker_asked.store(true, Ordering::Relaxed);
                shared.marker.notify_one();
            }
            Some("heal") => {
                let _ = stage_tx.send(Stage::Healed);
                break Instant::now();
            }
            _ => {}
        }
    };
    let (converged, answered) = converge(&shared, &args, heal_at).await;
    shared.stop.cancel();
    let mut records = Vec::with_capacity(tasks.len());
    for task in tasks {
        records.push(task.await.context("a client task failed")?);
    }
    let view = RoomView {
        rooms: args.rooms,
        affected,
        end_ms: shared.millis(),
        converge_s: converged.map(|t| t.duration_since(heal_at).as_secs_f64()),
        answered_s: answered.map(|t| t.duration_since(heal_at).as_secs_f64()),
    };
    let report = tally::report(&view, &records);
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Waits until every send is answered and every client has every id up to its room's head, or until the
/// larger bound passes. Gives when deliveries last became complete and when answers did.
async fn converge(
    shared: &Shared,
    args: &ClientArgs,
    heal_at: Instant,
) -> (Option<Instant>, Option<Instant>) {
    let bound = args.converge_secs.max(args.answer_secs);
    let deadline = heal_at + Duration::try_from_secs_f64(bound).unwrap_or(Duration::from_secs(15));
    let per_room = args.nodes.len() * args.per_node;
    let mut delivered_since = None;
    let mut answered_since = None;
    loop {
        let now = Instant::now();
        let delivered = shared.contiguous.iter().enumerate().all(|(client, seen)| {
            let room = client / per_room;
            seen.load(Ordering::Relaxed) >= shared.heads[room].load(Ordering::Relaxed)
        });
        let answered = shared.pending.load(Ordering::Relaxed) == 0;
        delivered_since = if delivered {
            delivered_since.or(Some(now))
        } else {
            None
        };
        answered_since = if answered {
            answered_since.or(Some(now))
        } else {
            None
        };
        if (delivered && answered) || now >= deadline {
            return (delivered_since, answered_since);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One client: its place and what it shares.
struct Client {
    index: usize,
    node: usize,
    room: usize,
    room_name: String,
    addr: SocketAddrV4,
    rate: f64,
    shared: Arc<Shared>,
}

/// A send without its answer yet.
struct Pending {
    client_id: String,
    record: usize,
}

impl Client {
    /// Connects, sends and receives until stopped; reconnects and resends whenever the socket ends.
    async fn run(self) -> ClientRecord {
        let mut record = ClientRecord::new(self.node, self.room);
        let mut pending: Vec<Pending> = Vec::new();
        let mut cookie: Option<String> = None;
        let mut first = true;
        let mut backoff = Duration::from_millis(100);
        let period = Duration::from_secs_f64(1.0 / self.rate.max(0.01));
        let mut sent = 0u64;
        while !self.shared.stop.is_cancelled() {
            let ws = tokio::select! {
                ws = self.connect(record.last, &mut cookie) => ws,
                () = self.shared.stop.cancelled() => break,
            };
            let mut ws = match ws {
                Ok(ws) => ws,
                Err(_) => {
                    record.failed_connects += 1;
                    let jitter = Duration::from_millis((self.index as u64 * 37) % 100);
                    tokio::select! {
                        () = tokio::time::sleep(backoff + jitter) => {}
                        () = self.shared.stop.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            if first {
                first = false;
                self.shared.connected.fetch_add(1, Ordering::Relaxed);
            } else {
                record.reconnects += 1;
            }
            // Everything unanswered goes again, with the same client_id.
            let mut alive = true;
            for p in &pending {
                if ws
                    .send(send_frame(&record.sends[p.record].text, &p.client_id))
                    .await
                    .is_err()
                {
                    alive = false;
                    break;
                }
                record.resends += 1;
            }
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while alive {
                let sending = *self.shared.stage.borrow() != Stage::Healed;
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            self.on_frame(&text, &mut record, &mut pending);
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => alive = false,
                        Some(Ok(_)) => {}
                    },
                    _ = tick.tick(), if sending && pending.len() < MAX_PENDING => {
                        sent += 1;
                        let client_id = format!("c{}-{sent}", self.index);
                        alive = self.send(&mut ws, client_id.clone(), client_id, &mut record, &mut pending).await;
                    }
                    () = self.shared.marker.notified(), if self.index == 0 => {
                        if self.shared.marker_asked.swap(false, Ordering::Relaxed) {
                            sent += 1;
                            let client_id = format!("c{}-{sent}", self.index);
                            let text = format!("{MARKER} {client_id}");
                            alive = self.send(&mut ws, client_id, text, &mut record, &mut pending).await;
                        }
                    }
                    () = self.shared.stop.cancelled() => {
                        let _ = ws.close(None).await;
                        record.unanswered = pending.len() as u64;
                        return record;
                    }
                }
            }
        }
        record.unanswered = pending.len() as u64;
        record
    }

    /// Sends one message and notes it as pending; false when the socket failed (it goes again later).
    async fn send(
        &self,
        ws: &mut Ws,
        client_id: String,
        text: String,
        record: &mut ClientRecord,
        pending: &mut Vec<Pending>,
    ) -> bool {
        let during = *self.shared.stage.borrow() == Stage::Fault;
        record.sends.push(SendRecord {
            sent_ms: self.shared.millis(),
            during,
            answered_ms: None,
            outcome: None,
            text: text.clone(),
        });
        pending.push(Pending {
            client_id: client_id.clone(),
            record: record.sends.len() - 1,
        });
        self.shared.pending.fetch_add(1, Ordering::Relaxed);
        ws.send(send_frame(&text, &client_id)).await.is_ok()
    }

    /// Handles one frame from the server.
    fn on_frame(&self, text: &str, record: &mut ClientRecord, pending: &mut Vec<Pending>) {
        let Some(frame) = Frame::parse(text) else {
            return;
        };
        match frame.kind.as_deref() {
            Some("message") => {
                let Some(id) = frame.id else { return };
                record.deliver(id, frame.message.as_deref().unwrap_or_default());
                self.shared.raise_head(self.room, id);
                self.shared.contiguous[self.index].store(record.contiguous(), Ordering::Relaxed);
            }
            Some("ack") | Some("error") => {
                let Some(client_id) = frame.client_id.as_deref() else {
                    if frame.kind.as_deref() == Some("error") {
                        record.bare_errors += 1;
                    }
                    return;
                };
                let Some(at) = pending.iter().position(|p| p.client_id == client_id) else {
                    return; // the answer to a resend that was answered already
                };
                let p = pending.remove(at);
                self.shared.pending.fetch_sub(1, Ordering::Relaxed);
                let send = &mut record.sends[p.record];
                send.answered_ms = Some(self.shared.millis());
                send.outcome = Some(match (frame.kind.as_deref(), frame.id) {
                    (Some("ack"), Some(id)) => {
                        self.shared.raise_head(self.room, id);
                        Outcome::Acked(id)
                    }
                    _ => Outcome::Error(error_code(text)),
                });
            }
            _ => {}
        }
    }

    /// One WebSocket handshake with this client's node and room, resuming after `since`; keeps the guest
    /// cookie the server gives.
    async fn connect(&self, since: u64, cookie: &mut Option<String>) -> anyhow::Result<Ws> {
        let attempt = async {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            let url = format!(
                "ws://{}/ws/chat/{}/?since={since}",
                self.addr, self.room_name
            );
            let mut request = url.into_client_request()?;
            let headers = request.headers_mut();
            headers.insert(
                "Origin",
                HeaderValue::from_str(&format!("http://{}", self.addr))?,
            );
            if let Some(cookie) = cookie.as_deref() {
                headers.insert("Cookie", HeaderValue::from_str(cookie)?);
            }
            let (ws, response) = tokio_tungstenite::client_async(request, stream).await?;
            for value in response.headers().get_all("set-cookie") {
                let value = value.to_str().unwrap_or_default();
                if let Some(pair) = value.split(';').next()
                    && pair.starts_with("chatweb_guest=")
                {
                    *cookie = Some(pair.to_owned());
                }
            }
            anyhow::Ok(ws)
        };
        tokio::time::timeout(CONNECT, attempt)
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("connecting timed out")))
    }
}

/// A send frame of our protocol.
fn send_frame(text: &str, client_id: &str) -> Message {
    let frame = serde_json::json!({ "type": "message", "message": text, "client_id": client_id });
    Message::Text(frame.to_string().into())
}

/// The `code` of an error frame.
fn error_code(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}
