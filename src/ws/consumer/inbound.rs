//! The client's side of a connection: its frames (sends, resumes, refusals), the store's answers to its
//! sends (acks and error frames), and the keepalive that closes a peer that stopped answering.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::Message;
use futures_util::FutureExt;
use tokio::time::Instant;

use super::{Consumer, End, Pending};
use crate::stats::Stats;
use crate::storage::{Amend, Amendment, Appended, NewMessage, StoreError};
use crate::ws::protocol::{ClientFrame, ProtocolError, ServerFrame, parse_client_frame};

impl Consumer {
    pub(super) async fn on_frame(
        &mut self,
        frame: Option<Result<Message, axum::Error>>,
    ) -> Result<(), End> {
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
                    author: self.identity.name().clone(),
                    author_id: self.identity.user_id(),
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
            Ok(ClientFrame::Typing) => {
                let name = self.identity.name().as_str();
                let guest = self.identity.user().is_none();
                self.state.presence.typing(&self.room, name, guest);
                Ok(())
            }
            Ok(ClientFrame::Edit {
                target,
                body,
                client_id,
            }) => {
                self.amend(Amend::Edit { target, body }, client_id, true)
                    .await
            }
            Ok(ClientFrame::Delete { target, client_id }) => {
                let author_only = !self.identity.is_staff();
                self.amend(Amend::Delete { target }, client_id, author_only)
                    .await
            }
            Ok(ClientFrame::Read { id }) => match self.identity.user_id() {
                Some(user_id) => {
                    // Nobody has read what they were not sent.
                    let id = id.min(self.cursor.last());
                    self.state.store.mark_read(user_id, &self.room, id);
                    Ok(())
                }
                None => {
                    self.refuse(ProtocolError::new(
                        "login_required",
                        "read state is kept for signed-in users only",
                    ))
                    .await
                }
            },
            Err(error) => self.refuse(error).await,
        }
    }

    /// Queues an edit or deletion of one of the room's messages; it is answered like a send.
    async fn amend(
        &mut self,
        action: Amend,
        client_id: Option<Arc<str>>,
        author_only: bool,
    ) -> Result<(), End> {
        if self.identity.user().is_none() {
            let error =
                ProtocolError::new("forbidden", "guests cannot edit or delete messages: log in");
            return self.refuse(ProtocolError { client_id, ..error }).await;
        }
        let amendment = Amendment {
            room: self.room.clone(),
            actor: self.identity.name().clone(),
            actor_id: self.identity.user_id(),
            action,
            author_only,
            client_id: client_id.clone(),
        };
        match self.state.store.submit_amend(amendment).await {
            Ok(outcome) => {
                self.pending.push_back(Pending { client_id, outcome });
                Ok(())
            }
            Err(error) => self.answer(client_id.as_deref(), Err(error)).await,
        }
    }

    pub(super) async fn refuse(&mut self, error: ProtocolError) -> Result<(), End> {
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
    pub(super) async fn answer(
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
                if !matches!(
                    error,
                    StoreError::RoomLocked | StoreError::NotFound(_) | StoreError::Forbidden(_)
                ) {
                    tracing::warn!(%error, "a message could not be stored");
                }
                let (code, detail) = match error {
                    StoreError::NotFound(detail) => ("not_found", *detail),
                    StoreError::Forbidden(detail) => ("forbidden", *detail),
                    StoreError::Closed => (
                        "shutting_down",
                        "the server is stopping; send it again after reconnecting",
                    ),
                    StoreError::RoomLocked => (
                        "room_locked",
                        "this room is read-only: an administrator locked it",
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

    pub(super) async fn on_ping_tick(&mut self) -> Result<(), End> {
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
}

/// The store's answer to the oldest pending send (the writer answers in order).
pub(super) async fn next_outcome(
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
