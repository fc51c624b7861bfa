//! The client's side of a connection: its frames (sends, resumes, refusals) and the keepalive that closes a
//! peer that stopped answering. The answers to its frames, in order, are `Answers`' (`answers.rs`).

use std::sync::Arc;

use axum::extract::ws::Message;
use futures_util::FutureExt;

use super::answers::{Answer, log_failure};
use super::{Consumer, End, Socket};
use crate::protocol::{ClientFrame, ErrorCode, ProtocolError, parse_client_frame, server};
use crate::stats::Stats;
use crate::storage::{Amend, Amendment, NewMessage, StoreError};

impl<S: Socket> Consumer<S> {
    pub(super) async fn on_frame(
        &mut self,
        frame: Option<Result<Message, axum::Error>>,
    ) -> Result<(), End> {
        self.outbound.heard();
        if let Some(step) = self.over_frame_budget(&frame).await {
            return step;
        }
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => return self.refuse(ProtocolError::binary()).await,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(()),
            Some(Ok(Message::Close(_))) | None => return Err(End::PeerClosed),
            Some(Err(error)) => return Err(End::Socket(error)),
        };
        match parse_client_frame(&text, self.state.config.max_message_bytes) {
            Ok(ClientFrame::Message { body, client_id }) => {
                if let Some(step) = self.over_send_limit(client_id.as_deref(), true).await {
                    return step;
                }
                // Muted, banned or too soon under slow mode: answered, nothing queued (memory only).
                if let Err(hold) = self.rules.check_send() {
                    return self
                        .answer_in_turn(server::held(&hold, client_id.as_deref()))
                        .await;
                }
                let message = NewMessage {
                    room: self.room.clone(),
                    author: self.identity.name().clone(),
                    author_id: self.identity.user_id(),
                    body,
                    client_id: client_id.clone(),
                    owner: self.owner.clone(),
                };
                match self.state.store.submit(message).await {
                    Ok(outcome) => {
                        Stats::add(&self.state.stats.messages_received, 1);
                        self.answers.await_outcome(client_id, outcome);
                        Ok(())
                    }
                    Err(error) => self.answer_failed(client_id, &error).await,
                }
            }
            Ok(ClientFrame::Resume { since }) => match self.over_replay_limit(since).await {
                Some(step) => step,
                None => self.resume(since).await,
            },
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
                if let Err(hold) = self.rules.check_edit() {
                    return self
                        .answer_in_turn(server::held(&hold, client_id.as_deref()))
                        .await;
                }
                self.amend(Amend::Edit { target, body }, client_id, true)
                    .await
            }
            Ok(ClientFrame::Delete { target, client_id }) => {
                // Staff and the room's owners and moderators, as they are now, may delete any message.
                let author_only = !self.rules.privileged();
                self.amend(Amend::Delete { target }, client_id, author_only)
                    .await
            }
            Ok(ClientFrame::Moderate { action, client_id }) => {
                let moderation = &self.state.moderation;
                let outcome = moderation.command(&self.identity, &self.room, action).await;
                let answer =
                    server::moderation_answer(self.room.as_str(), &outcome, client_id.as_deref());
                self.answer_in_turn(answer).await
            }
            Ok(ClientFrame::Read { id }) => match self.identity.user_id() {
                Some(user_id) => {
                    // Nobody has read what they were not sent.
                    let id = id.min(self.delivery.last());
                    self.state.store.mark_read(user_id, &self.room, id);
                    Ok(())
                }
                None => {
                    self.refuse(ProtocolError::new(
                        ErrorCode::LoginRequired,
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
            let error = ProtocolError::new(
                ErrorCode::Forbidden,
                "guests cannot edit or delete messages: log in",
            );
            return self.refuse(ProtocolError { client_id, ..error }).await;
        }
        if let Some(step) = self.over_send_limit(client_id.as_deref(), false).await {
            return step;
        }
        let amendment = Amendment {
            room: self.room.clone(),
            actor: self.identity.name().clone(),
            actor_id: self.identity.user_id(),
            action,
            author_only,
            client_id: client_id.clone(),
            owner: self.owner.clone(),
        };
        match self.state.store.submit_amend(amendment).await {
            Ok(outcome) => {
                self.answers.await_outcome(client_id, outcome);
                Ok(())
            }
            Err(error) => self.answer_failed(client_id, &error).await,
        }
    }

    /// Answers a send the writer did not take (`submit` failed), after every earlier answer.
    pub(super) async fn answer_failed(
        &mut self,
        client_id: Option<Arc<str>>,
        error: &StoreError,
    ) -> Result<(), End> {
        log_failure(error);
        let frame = server::store_failed(client_id.as_deref(), error);
        self.answer_in_turn(frame).await
    }

    /// Sends `frame`, an answer known now, after every earlier answer still owed.
    pub(super) async fn answer_in_turn(&mut self, frame: String) -> Result<(), End> {
        match self.answers.in_turn(frame) {
            Some(frame) => self.outbound.write(Message::Text(frame.into()), true).await,
            None => Ok(()),
        }
    }

    /// Sends an answer the queue produced (nothing for a stored send without `client_id`).
    pub(super) async fn send_answer(&mut self, answer: Answer) -> Result<(), End> {
        match answer {
            Some(frame) => {
                self.outbound
                    .write(Message::Text(String::from(frame).into()), true)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Answers a refused frame, after the answers to earlier sends.
    pub(super) async fn refuse(&mut self, error: ProtocolError) -> Result<(), End> {
        Stats::add(&self.state.stats.rejected_frames, 1);
        self.answer_in_turn(server::refused(&error)).await
    }

    pub(super) async fn on_ping_tick(&mut self) -> Result<(), End> {
        if self.outbound.silent() {
            // A long catch-up may have kept us from reading: take whatever the peer already sent.
            let max_in_flight = self.state.config.max_in_flight.max(1);
            while self.answers.len() < max_in_flight {
                match self.outbound.recv().now_or_never() {
                    Some(frame) => self.on_frame(frame).await?,
                    None => break,
                }
            }
        }
        if self.outbound.silent() {
            return Err(End::Unresponsive);
        }
        self.outbound
            .write(Message::Ping(Default::default()), true)
            .await
    }
}
