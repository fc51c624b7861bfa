//! The bare relay that chatweb is compared with (`chatweb-bench relay`, a hidden subcommand the bench spawns
//! as a child process): an axum server with chatweb's socket route, one tokio broadcast channel per room and
//! no storage at all. Each `{"message": ...}` gets the room's next id and is broadcast as a frame of the same
//! shape and size as chatweb's, serialised once and shared by every receiver. A receiver that lags behind
//! the channel just skips what it missed, as a bare relay does; `GET /stats` counts those skipped
//! deliveries. It prints its address on stdout and exits when its stdin closes (the bench is gone).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Frames written before one flush, like chatweb's consumer.
const BURST: usize = 64;

/// Settings of the relay.
#[derive(Clone, clap::Args)]
pub struct RelayArgs {
    /// Port on 127.0.0.1; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Messages each room's broadcast channel buffers (chatweb's `--room-buffer` default).
    #[arg(long, default_value_t = 1024)]
    room_buffer: usize,
    /// WebSocket read buffer per connection (chatweb's setting).
    #[arg(long, default_value_t = 4 * 1024)]
    read_buffer_bytes: usize,
    /// WebSocket write buffer per connection (chatweb's `--send-buffer-bytes` default).
    #[arg(long, default_value_t = 16 * 1024)]
    write_buffer_bytes: usize,
}

struct Relay {
    args: RelayArgs,
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    /// Deliveries skipped because a receiver lagged.
    skipped: AtomicU64,
}

struct Room {
    name: String,
    sender: broadcast::Sender<Utf8Bytes>,
    /// The last id given; locked while a frame is numbered and sent, so ids go out in order.
    last_id: Mutex<u64>,
}

#[derive(Deserialize)]
struct Incoming {
    message: String,
}

/// chatweb's message frame, field for field.
#[derive(Serialize)]
struct Outgoing<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: u64,
    room: &'a str,
    ts: &'a str,
    user: &'static str,
    message: &'a str,
    history: bool,
}

/// Serves until stdin closes.
pub async fn run(args: RelayArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
        .await
        .context("binding the relay")?;
    let addr = listener.local_addr()?;
    println!("{addr}");
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let relay = Arc::new(Relay {
        args,
        rooms: Mutex::default(),
        skipped: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/ws/chat/{room}/", get(socket))
        .route("/stats", get(stats))
        .with_state(relay);
    axum::serve(listener, app)
        .await
        .context("serving the relay")
}

async fn stats(State(relay): State<Arc<Relay>>) -> Response {
    let skipped = relay.skipped.load(Ordering::Relaxed);
    axum::Json(serde_json::json!({ "skipped": skipped })).into_response()
}

async fn socket(
    State(relay): State<Arc<Relay>>,
    Path(room): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let room = relay.room(&room);
    upgrade
        .read_buffer_size(relay.args.read_buffer_bytes)
        .write_buffer_size(relay.args.write_buffer_bytes)
        .on_upgrade(move |socket| serve(socket, relay, room))
}

impl Relay {
    fn room(&self, name: &str) -> Arc<Room> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(Room {
                    name: name.to_owned(),
                    sender: broadcast::channel(self.args.room_buffer.max(1)).0,
                    last_id: Mutex::new(0),
                })
            })
            .clone()
    }
}

impl Room {
    /// Numbers `message`, encodes its frame once and hands the shared bytes to every receiver.
    fn publish(&self, message: &str) {
        let ts = now_rfc3339_ms();
        let mut last_id = self.last_id.lock().unwrap_or_else(PoisonError::into_inner);
        *last_id += 1;
        let frame = Outgoing {
            kind: "message",
            id: *last_id,
            room: &self.name,
            ts: &ts,
            user: "anonymous",
            message,
            history: false,
        };
        // Serialising a struct of strings and numbers cannot fail.
        let text = serde_json::to_string(&frame).unwrap_or_default();
        let _ = self.sender.send(Utf8Bytes::from(text));
    }
}

/// One connection: its frames are published, the room's frames are written to it.
async fn serve(mut socket: WebSocket, relay: Arc<Relay>, room: Arc<Room>) {
    let mut live = room.sender.subscribe();
    loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(incoming) = serde_json::from_str::<Incoming>(&text) {
                        room.publish(&incoming.message);
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    // Send the reply tungstenite queued, completing the closing handshake.
                    let _ = socket.flush().await;
                    return;
                }
                Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            event = live.recv() => {
                let mut next = event;
                for written in 1..=BURST {
                    match next {
                        Ok(frame) => {
                            if socket.feed(Message::Text(frame)).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            relay.skipped.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                    if written == BURST {
                        break;
                    }
                    next = match live.try_recv() {
                        Ok(frame) => Ok(frame),
                        Err(broadcast::error::TryRecvError::Lagged(n)) => {
                            Err(broadcast::error::RecvError::Lagged(n))
                        }
                        Err(_) => break,
                    };
                }
                if socket.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Now as RFC 3339 UTC with milliseconds, formatted by chatweb's own code.
fn now_rfc3339_ms() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    chatweb::domain::rfc3339_ms(ms)
}
