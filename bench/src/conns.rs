//! The idle-connections scenario: N WebSocket connections spread over R rooms, opened at most
//! `--concurrency` handshakes at a time from several source addresses, then held open (each read by a task
//! so pings get their pongs). Reports the connect rate and the server's resident memory before and after,
//! per connection. With `--history N`, each room first gets N messages, so that every connection joins a
//! room with history (chatweb sends it, the relay sends none) and holds whatever writing it left behind.

use crate::scenario::Scenario;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::client::Endpoint;
use crate::procfs::Proc;
use crate::report::{Outcome, Progress, per_second, round3};
use crate::server::{Kind, Server};

/// Parameters of `chatweb-bench conns`.
#[derive(Clone, clap::Args, serde::Serialize)]
pub struct ConnsArgs {
    /// Connections to open (this process and the server each hold one socket per connection).
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Rooms the connections are spread over.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Handshakes in progress at once (above the servers' listen backlog of 128, SYNs get dropped).
    #[arg(long, default_value_t = crate::client::HANDSHAKES)]
    pub concurrency: usize,
    /// Seconds to hold the connections idle before reading the server's memory.
    #[arg(long, default_value_t = 2.0)]
    pub hold: f64,
    /// Messages sent to each room before the connections open (their join's history).
    #[arg(long, default_value_t = 0)]
    pub history: usize,
}

impl Scenario for ConnsArgs {
    const NAME: &'static str = "conns";
    const HEADLINE: &'static str = "kb_per_connection";

    /// The CI size.
    fn quick(&mut self) {
        self.connections = 200;
        self.rooms = 10;
        self.hold = 0.5;
    }

    /// Connections the run opens.
    fn connections(&self) -> u64 {
        self.connections as u64
    }

    async fn run(
        &self,
        server: &Server,
        sources: u8,
        deadline: Instant,
    ) -> anyhow::Result<Outcome> {
        run(server, self, sources, deadline).await
    }
}

/// Runs the scenario against `server`.
pub async fn run(
    server: &Server,
    args: &ConnsArgs,
    sources: u8,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let endpoint = Arc::new(Endpoint::new(server.addr, sources, 4 * 1024)?);
    let tag = crate::client::run_tag();
    let rooms = args.rooms.max(1);
    let names = (0..args.connections)
        .map(|i| format!("c{tag}-{}", i % rooms))
        .collect();
    if args.history > 0 {
        for room in 0..rooms {
            fill(&endpoint, &format!("c{tag}-{room}"), args.history).await?;
        }
    }
    let rss_before = server.proc.map(Proc::rss_kb).transpose()?;
    let progress = Progress::start(format!("{:?} conns", server.kind), args.connections as u64);
    let counter = progress.counter();
    let started = Instant::now();
    let results = endpoint
        .connect_many(names, args.concurrency, deadline, || {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .await?;
    let connect_time = started.elapsed();
    progress.finish().await;

    let stop = CancellationToken::new();
    let closed = Arc::new(AtomicU64::new(0));
    let texts = Arc::new(AtomicU64::new(0));
    // Each connection says once it has read its join's history (`--history`), so that memory is read
    // after every history was written. The relay keeps none.
    let (served_tx, mut served) = tokio::sync::mpsc::unbounded_channel::<()>();
    let history = match server.kind {
        Kind::Chatweb => args.history as u64,
        Kind::Relay => 0,
    };
    let mut readers = Vec::with_capacity(results.len());
    let mut failed = 0u64;
    for result in results {
        let mut ws = match result {
            Ok(ws) => ws,
            Err(error) => {
                if failed == 0 {
                    eprintln!("conns: a connection failed: {error:#}");
                }
                failed += 1;
                continue;
            }
        };
        let (stop, closed, texts) = (stop.clone(), closed.clone(), texts.clone());
        let served_tx = served_tx.clone();
        readers.push(tokio::spawn(async move {
            let mut read = 0u64;
            loop {
                tokio::select! {
                    message = ws.next() => match message {
                        Some(Ok(Message::Close(_)) | Err(_)) | None => {
                            closed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Some(Ok(Message::Text(_))) => {
                            texts.fetch_add(1, Ordering::Relaxed);
                            read += 1;
                            if read == history {
                                let _ = served_tx.send(());
                            }
                        }
                        Some(Ok(_)) => {}
                    },
                    () = stop.cancelled() => return,
                }
            }
        }));
    }
    let open = readers.len() as u64;
    drop(served_tx);
    let mut with_history = 0u64;
    if history > 0 {
        while with_history < open {
            match tokio::time::timeout_at(deadline, served.recv()).await {
                Ok(Some(())) => with_history += 1,
                Ok(None) | Err(_) => break,
            }
        }
    }
    let hold_until = (Instant::now()
        + Duration::try_from_secs_f64(args.hold.clamp(0.0, 3600.0)).unwrap_or_default())
    .min(deadline);
    tokio::time::sleep_until(hold_until).await;
    let rss_after = server.proc.map(Proc::rss_kb).transpose()?;
    let client_rss = Proc::This.rss_kb().ok();
    let closed = closed.load(Ordering::Relaxed);
    stop.cancel();
    for reader in readers {
        reader.await.context("a connection's reader panicked")?;
    }

    let per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) if open > 0 => {
            Some(round3(after.saturating_sub(before) as f64 / open as f64))
        }
        _ => None,
    };
    let mut fields = serde_json::Map::new();
    fields.insert("kb_per_connection".into(), json!(per_connection));
    fields.insert("connected".into(), json!(open));
    fields.insert("failed".into(), json!(failed));
    fields.insert("closed_by_server".into(), json!(closed));
    fields.insert(
        "text_frames_received".into(),
        json!(texts.load(Ordering::Relaxed)),
    );
    fields.insert("joined_with_history".into(), json!(with_history));
    fields.insert(
        "connects_per_s".into(),
        json!(per_second(open, connect_time)),
    );
    fields.insert("server_rss_before_kb".into(), json!(rss_before));
    fields.insert("server_rss_after_kb".into(), json!(rss_after));
    fields.insert("client_rss_kb".into(), json!(client_rss));
    Ok(Outcome {
        fields,
        headline: per_connection,
        clean: failed == 0 && closed == 0 && (history == 0 || with_history == open),
    })
}

/// Sends `count` messages of about 150 bytes to `room` on one connection and reads them back (each is
/// stored before it is echoed, so every later join gets them as history).
async fn fill(endpoint: &Endpoint, room: &str, count: usize) -> anyhow::Result<()> {
    let mut ws = endpoint.connect(room).await?;
    let text = "h".repeat(128);
    for n in 0..count {
        let frame = json!({ "message": format!("{n} {text}") }).to_string();
        ws.send(Message::Text(frame.into())).await?;
    }
    let mut echoed = 0;
    while echoed < count {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => echoed += 1,
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error).context("filling a room's history"),
            None => anyhow::bail!("the server closed a room's filling connection"),
        }
    }
    ws.close(None).await.ok();
    Ok(())
}
