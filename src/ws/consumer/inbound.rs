//! The client's side of a connection: each frame it sends handed to its handler (`frames.rs`), refused
//! frames answered, and the keepalive that closes a peer that stopped answering. The answers to its frames, in order, are `Answers`' (`answers.rs`).

use std::sync::Arc;

use futures_util::FutureExt;
use tokio_tungstenite::tungstenite::{Error, Message};

use super::answers::{Answer, log_failure};
use super::{Consumer, End, Socket};
use crate::protocol::{ClientFrame, ProtocolError, answers, parse_client_frame};
use crate::stats::Stats;
use crate::storage::StoreError;

impl<S: Socket> Consumer<S> {
    /// Handles whatever the socket gave: a client frame goes to its handler, a refused one is answered.
    pub(super) async fn on_frame(
        &mut self,
        frame: Option<Result<Message, Error>>,
    ) -> Result<(), End> {
        self.outbound.heard();
        if let Some(step) = self.over_frame_budget(&frame).await {
            return step;
        }
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => return self.refuse(ProtocolError::binary()).await,
            // Tungstenite answers pings itself: its pong goes out now, with whatever waits before it.
            Some(Ok(Message::Ping(_))) => return self.outbound.send_replies().await,
            // A raw `Frame` is never read (only written).
            Some(Ok(Message::Pong(_) | Message::Frame(_))) => return Ok(()),
            Some(Ok(Message::Close(_))) | None => return Err(End::PeerClosed),
            Some(Err(error)) => return Err(End::Socket(error)),
        };
        // One handler per kind of frame (frames.rs).
        match parse_client_frame(&text, self.state.config.max_message_bytes) {
            Ok(ClientFrame::Message {
                body,
                client_id,
                reply_to,
                files,
            }) => self.on_message(body, client_id, reply_to, files).await,
            Ok(ClientFrame::React {
                target,
                emoji,
                add,
                client_id,
            }) => self.on_react(target, emoji, add, client_id).await,
            Ok(ClientFrame::Pin {
                target,
                add,
                client_id,
            }) => self.on_pin(target, add, client_id).await,
            Ok(ClientFrame::Topic { topic, client_id }) => self.on_topic(topic, client_id).await,
            Ok(ClientFrame::Resume { since }) => self.on_resume(since).await,
            Ok(ClientFrame::Typing) => {
                self.on_typing();
                Ok(())
            }
            Ok(ClientFrame::Edit {
                target,
                body,
                client_id,
            }) => self.on_edit(target, body, client_id).await,
            Ok(ClientFrame::Delete { target, client_id }) => {
                self.on_delete(target, client_id).await
            }
            Ok(ClientFrame::Moderate { action, client_id }) => {
                self.on_moderate(action, client_id).await
            }
            Ok(ClientFrame::Read { id }) => self.on_read(id).await,
            Err(error) => self.refuse(error).await,
        }
    }

    /// Answers a send the writer did not take (`submit` failed), after every earlier answer.
    pub(super) async fn answer_failed(
        &mut self,
        client_id: Option<Arc<str>>,
        error: &StoreError,
    ) -> Result<(), End> {
        log_failure(error);
        let frame = answers::store_failed(client_id.as_deref(), error);
        self.answer_in_turn(frame).await
    }

    /// Queues `frame`, an answer known now, after every earlier answer still owed (flushed by the loop,
    /// like [`Consumer::send_answer`]'s).
    pub(super) async fn answer_in_turn(&mut self, frame: String) -> Result<(), End> {
        match self.answers.in_turn(frame) {
            Some(frame) => self.outbound.write_text(frame.into(), false).await,
            None => Ok(()),
        }
    }

    /// Queues an answer the queue produced (nothing for a stored send without `client_id`). Not flushed
    /// here: the loop flushes once nothing else is ready, so the answer to a send and the message itself
    /// (both ready at the same wake, after the commit) go out in one write instead of two.
    pub(super) async fn send_answer(&mut self, answer: Answer) -> Result<(), End> {
        match answer {
            Some(frame) => {
                self.outbound
                    .write_text(String::from(frame).into(), false)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Answers a refused frame, after the answers to earlier sends.
    pub(super) async fn refuse(&mut self, error: ProtocolError) -> Result<(), End> {
        Stats::add(&self.state.stats.rejected_frames, 1);
        self.answer_in_turn(answers::refused(&error)).await
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
        self.outbound.ping().await
    }
}
