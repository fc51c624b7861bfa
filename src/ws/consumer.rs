//! One task per socket (Channels' consumer): a `select!` over the client's frames, the room's live events,
//! the store's answers to this client's sends, a ping tick and the shutdown signal.
//!
//! The connection remembers `last`, the last room sequence number it delivered, and only ever delivers
//! `last + 1` next (shared/DESIGN.md, invariant 3). A live event further ahead, or a `Lagged` receiver,
//! means "read the missing range from the store first", at the socket's own pace; a slow reader holds a
//! cursor, never a queue, and is never skipped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::{FutureExt, SinkExt};
use tokio::sync::{broadcast, oneshot};
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tracing::Instrument;

use super::cursor::{Cursor, Step};
use super::protocol::{ClientFrame, ProtocolError, ServerFrame, message_frame, parse_client_frame};
use crate::app::AppState;
use crate::channels::Event;
use crate::domain::{RoomName, Username};
use crate::stats::Stats;
use crate::storage::{Appended, NewMessage, StoreError};

/// Messages read from the store per page when replaying or catching up.
const PAGE: u32 = 256;
/// Live events written before one flush.
const LIVE_BURST: usize = 64;

/// A checked handshake, ready to serve.
pub(super) struct Connection {
    pub state: AppState,
    pub room: RoomName,
    pub user: Username,
    pub since: Option<u64>,
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The client closed or went away.
    PeerClosed,
    /// The node is stopping.
    Shutdown,
    /// The peer did not answer a ping or take a write in time.
    Unresponsive,
    /// Reading or writing the socket failed.
    Socket(axum::Error),
    /// The store could not be read; the client may come back with `since`.
    Store(StoreError),
    /// The channel layer refused the subscription or closed.
    Layer(String),
}

/// A send waiting for the store's answer.
struct Pending {
    client_id: Option<Arc<str>>,
    outcome: oneshot::Receiver<Result<Appended, StoreError>>,
}

/// Serves `socket` until the peer leaves, stops answering, or the node stops.
pub(super) async fn run(socket: WebSocket, conn: Connection) {
    let span = tracing::info_span!("ws", room = %conn.room, user = %conn.user);
    async move {
        let stats = conn.state.stats.clone();
        Stats::add(&stats.connections, 1);
        let mut consumer = Consumer {
            socket,
            keepalive: conn.state.config.keepalive(),
            state: conn.state,
            room: conn.room,
            user: conn.user,
            cursor: Cursor::default(),
            pending: VecDeque::new(),
            last_heard: Instant::now(),
        };
        let end = consumer.serve(conn.since).await;
        // Boxed: rare paths keep their state on the heap only while they run, so an idle
        // connection's task stays small (issue 5 measures bytes per connection).
        Box::pin(consumer.close(&end)).await;
        tracing::debug!(?end, "connection ended");
        stats
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    .instrument(span)
    .await;
}

struct Consumer {
    socket: WebSocket,
    state: AppState,
    room: RoomName,
    user: Username,
    keepalive: Duration,
    /// The last room sequence number delivered to this client.
    cursor: Cursor,
    /// This client's sends, oldest first; the writer answers them in order.
    pending: VecDeque<Pending>,
    /// When the peer last sent anything (a pong included).
    last_heard: Instant,
}

impl Consumer {
    async fn serve(&mut self, since: Option<u64>) -> End {
        // Subscribe first, then read the store: nothing committed in between can be missed.
        let mut live = match self.state.channels.subscribe(&self.room).await {
            Ok(live) => live,
            Err(error) => return End::Layer(error.to_string()),
        };
        let start = match since {
            Some(since) => Box::pin(self.resume(since)).await,
            None => Box::pin(self.join()).await,
        };
        if let Err(end) = start {
            return end;
        }
        let mut ping = tokio::time::interval(self.keepalive / 3);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ping.reset();
        let shutdown = self.state.shutdown.clone();
        // Registered once: re-creating it on every wake would lock the token's waiter list, shared by
        // every connection of the node.
        let stopping = shutdown.cancelled();
        tokio::pin!(stopping);
        let max_in_flight = self.state.config.max_in_flight.max(1);
        loop {
            let step = tokio::select! {
                biased;
                () = &mut stopping => Err(End::Shutdown),
                (client_id, outcome) = next_outcome(&mut self.pending), if !self.pending.is_empty() => {
                    self.answer(client_id.as_deref(), outcome).await
                }
                // The client's frames before live events: a busy room must not starve its pongs.
                frame = self.socket.recv(), if self.pending.len() < max_in_flight => {
                    Box::pin(self.on_frame(frame)).await
                }
                event = live.recv() => self.on_live(event, &mut live).await,
                _ = ping.tick() => Box::pin(self.on_ping_tick()).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// A plain join: the recent history, marked as such.
    async fn join(&mut self) -> Result<(), End> {
        let history = self.state.config.history;
        let recent = self
            .state
            .store
            .recent(&self.room, history)
            .await
            .map_err(End::Store)?;
        match recent.last() {
            Some(newest) => {
                for message in &recent {
                    self.feed(message_frame(self.room.as_str(), message, true))
                        .await?;
                }
                self.cursor = Cursor::at(newest.seq);
                Stats::add(&self.state.stats.deliveries, recent.len() as u64);
                self.flush().await
            }
            // The room was empty when read: everything from 1 on comes live (or by catch-up). Reading
            // its head now instead would skip messages committed since the read.
            None if history > 0 => Ok(()),
            // No history wanted: start after whatever the room holds now.
            None => {
                let head = self.state.store.last_seq(&self.room).await;
                self.cursor = Cursor::at(head.map_err(End::Store)?);
                Ok(())
            }
        }
    }

    /// Replays everything after `since` (clamped to the room's head), then live.
    async fn resume(&mut self, since: u64) -> Result<(), End> {
        let head = self
            .state
            .store
            .last_seq(&self.room)
            .await
            .map_err(End::Store)?;
        self.cursor = Cursor::at(since.min(head));
        self.catch_up(true).await
    }

    /// Delivers everything in the store after `last`, page by page, at the socket's pace.
    async fn catch_up(&mut self, history: bool) -> Result<(), End> {
        loop {
            // A long replay must not hold up a stop.
            if self.state.shutdown.is_cancelled() {
                return Err(End::Shutdown);
            }
            let page = self
                .state
                .store
                .after(&self.room, self.cursor.last(), PAGE)
                .await
                .map_err(End::Store)?;
            for message in &page {
                self.feed(message_frame(self.room.as_str(), message, history))
                    .await?;
                self.cursor.delivered(message.seq);
            }
            Stats::add(&self.state.stats.deliveries, page.len() as u64);
            self.flush().await?;
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }

    async fn on_live(
        &mut self,
        event: Result<Event, broadcast::error::RecvError>,
        live: &mut broadcast::Receiver<Event>,
    ) -> Result<(), End> {
        let mut next = event;
        for taken in 1..=LIVE_BURST {
            match next {
                Ok(event) => self.offer(event).await?,
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(
                        skipped,
                        last = self.cursor.last(),
                        "fell behind the live stream; catching up from the store"
                    );
                    Stats::add(&self.state.stats.catch_ups, 1);
                    Box::pin(self.catch_up(false)).await?;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(End::Layer("room stream closed".into()));
                }
            }
            if taken == LIVE_BURST {
                break; // the rest waits in the ring for the next turn of the loop
            }
            next = match live.try_recv() {
                Ok(event) => Ok(event),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    Err(broadcast::error::RecvError::Lagged(n))
                }
                Err(_) => break,
            };
        }
        self.flush().await
    }

    /// Delivers a live event if it is the next one; heals a gap from the store first.
    async fn offer(&mut self, event: Event) -> Result<(), End> {
        match self.cursor.step(event.seq) {
            Step::Skip => return Ok(()),
            Step::Deliver => {}
            Step::CatchUp => {
                Stats::add(&self.state.stats.catch_ups, 1);
                Box::pin(self.catch_up(false)).await?;
                // The event was committed before it was published, so the catch-up read it. If the
                // store does not have it, the store is the truth: drop the event, never leave a gap.
                if self.cursor.step(event.seq) != Step::Deliver {
                    if self.cursor.step(event.seq) == Step::CatchUp {
                        tracing::warn!(
                            seq = event.seq,
                            last = self.cursor.last(),
                            "dropping a live event the store does not have"
                        );
                    }
                    return Ok(());
                }
            }
        }
        self.cursor.delivered(event.seq);
        Stats::add(&self.state.stats.deliveries, 1);
        self.write(Message::Text(event.frame), false).await
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Result<(), End> {
        self.last_heard = Instant::now();
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => return self.refuse(ProtocolError::binary()).await,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(()),
            Some(Ok(Message::Close(_))) | None => return Err(End::PeerClosed),
            Some(Err(error)) => return Err(End::Socket(error)),
        };
        match parse_client_frame(&text, self.state.config.max_message_bytes) {
            Ok(ClientFrame::Message { body, client_id }) => {
                let message = NewMessage {
                    room: self.room.clone(),
                    author: self.user.clone(),
                    body,
                    client_id: client_id.clone(),
                };
                match self.state.store.submit(message).await {
                    Ok(outcome) => {
                        Stats::add(&self.state.stats.messages_received, 1);
                        self.pending.push_back(Pending { client_id, outcome });
                        Ok(())
                    }
                    Err(error) => self.answer(client_id.as_deref(), Err(error)).await,
                }
            }
            Ok(ClientFrame::Resume { since }) => self.resume(since).await,
            Err(error) => self.refuse(error).await,
        }
    }

    async fn refuse(&mut self, error: ProtocolError) -> Result<(), End> {
        Stats::add(&self.state.stats.rejected_frames, 1);
        let frame = ServerFrame::Error {
            code: error.code,
            detail: &error.detail,
            client_id: error.client_id.as_deref(),
        };
        self.write(Message::Text(frame.encode().into()), true).await
    }

    /// Tells the sender how its message fared: an ack once stored (only for clients that sent a
    /// `client_id`; plain Channels clients see their message arrive instead), an error frame otherwise.
    async fn answer(
        &mut self,
        client_id: Option<&str>,
        outcome: Result<Appended, StoreError>,
    ) -> Result<(), End> {
        let frame = match (&outcome, client_id) {
            (Ok(_), None) => return Ok(()),
            (Ok(appended), Some(client_id)) => ServerFrame::Ack {
                client_id,
                id: appended.message.seq,
                duplicate: appended.duplicate,
            },
            (Err(error), client_id) => {
                tracing::warn!(%error, "a message could not be stored");
                let (code, detail) = match error {
                    StoreError::Closed => (
                        "shutting_down",
                        "the server is stopping; send it again after reconnecting",
                    ),
                    _ => (
                        "store_unavailable",
                        "the message was not stored; send it again",
                    ),
                };
                ServerFrame::Error {
                    code,
                    detail,
                    client_id,
                }
            }
        };
        self.write(Message::Text(frame.encode().into()), true).await
    }

    async fn on_ping_tick(&mut self) -> Result<(), End> {
        if self.last_heard.elapsed() > self.keepalive {
            // A long catch-up may have kept us from reading: take whatever the peer already sent.
            let max_in_flight = self.state.config.max_in_flight.max(1);
            while self.pending.len() < max_in_flight {
                match self.socket.recv().now_or_never() {
                    Some(frame) => self.on_frame(frame).await?,
                    None => break,
                }
            }
        }
        if self.last_heard.elapsed() > self.keepalive {
            return Err(End::Unresponsive);
        }
        self.write(Message::Ping(Default::default()), true).await
    }

    async fn feed(&mut self, frame: String) -> Result<(), End> {
        self.write(Message::Text(frame.into()), false).await
    }

    async fn flush(&mut self) -> Result<(), End> {
        match timeout(self.keepalive, self.socket.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(End::Socket(error)),
            Err(_) => Err(End::Unresponsive),
        }
    }

    /// Queues `message` on the socket (and flushes it when `flush`); a peer that cannot take it within the
    /// keepalive time is unresponsive.
    async fn write(&mut self, message: Message, flush: bool) -> Result<(), End> {
        let sent = if flush {
            timeout(self.keepalive, self.socket.send(message)).await
        } else {
            timeout(self.keepalive, self.socket.feed(message)).await
        };
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(End::Socket(error)),
            Err(_) => Err(End::Unresponsive),
        }
    }

    /// Ends the connection according to `end`: on shutdown, answer what the store still owes this client
    /// and send close 1001; on a store failure, say so and close 1011.
    async fn close(&mut self, end: &End) {
        let (code, reason) = match end {
            End::Shutdown => {
                let bound = self.state.config.shutdown_timeout() / 2;
                while let Some(pending) = self.pending.pop_front() {
                    let outcome = match timeout(bound, pending.outcome).await {
                        Ok(Ok(outcome)) => outcome,
                        _ => Err(StoreError::Closed),
                    };
                    if self
                        .answer(pending.client_id.as_deref(), outcome)
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                (close_code::AWAY, "server shutting down")
            }
            End::Store(_) | End::Layer(_) => {
                match end {
                    End::Store(error) => {
                        tracing::warn!(%error, "closing: the store could not be read")
                    }
                    End::Layer(reason) => {
                        tracing::warn!(%reason, "closing: the room stream failed")
                    }
                    _ => {}
                }
                let frame = ServerFrame::Error {
                    code: "unavailable",
                    detail: "messages could not be delivered right now; reconnect with since",
                    client_id: None,
                };
                let _ = self.write(Message::Text(frame.encode().into()), true).await;
                (close_code::ERROR, "temporarily unavailable")
            }
            End::Unresponsive => {
                Stats::add(&self.state.stats.keepalive_closes, 1);
                return;
            }
            End::Socket(error) => {
                tracing::debug!(%error, "socket failed");
                return;
            }
            End::PeerClosed => {
                // The WebSocket layer queued the reply to the peer's Close: send it.
                let _ = timeout(Duration::from_secs(1), self.socket.flush()).await;
                return;
            }
        };
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = timeout(Duration::from_secs(1), self.socket.send(close)).await;
    }
}

/// The store's answer to the oldest pending send (the writer answers in order).
async fn next_outcome(
    pending: &mut VecDeque<Pending>,
) -> (Option<Arc<str>>, Result<Appended, StoreError>) {
    let Some(front) = pending.front_mut() else {
        return std::future::pending().await;
    };
    let outcome = (&mut front.outcome)
        .await
        .unwrap_or(Err(StoreError::Closed));
    let client_id = pending.pop_front().and_then(|p| p.client_id);
    (client_id, outcome)
}
