//! Writing to the socket, always bounded: a peer that cannot take a write within the keepalive time is
//! unresponsive. Closing: answer what the store still owes on shutdown (only what is known), then the right
//! close code.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseCode, CloseFrame, Message, close_code};
use futures_util::SinkExt;
use tokio::time::{Instant, timeout};

use super::answers::{Answer, log_failure};
use super::{Consumer, End};
use crate::protocol::server;
use crate::stats::Stats;
use crate::storage::StoreError;

impl Consumer {
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
            Some(frame) => self.write(Message::Text(frame.into()), true).await,
            None => Ok(()),
        }
    }

    /// Sends an answer the queue produced (nothing for a stored send without `client_id`).
    pub(super) async fn send_answer(&mut self, answer: Answer) -> Result<(), End> {
        match answer {
            Some(frame) => {
                self.write(Message::Text(String::from(frame).into()), true)
                    .await
            }
            None => Ok(()),
        }
    }

    pub(super) async fn feed(&mut self, frame: String) -> Result<(), End> {
        self.write(Message::Text(frame.into()), false).await
    }

    pub(super) async fn flush(&mut self) -> Result<(), End> {
        match timeout(self.keepalive, self.socket.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(End::Socket(error)),
            Err(_) => Err(End::Unresponsive),
        }
    }

    /// Queues `message` on the socket without flushing and without a timeout of its own: only inside a
    /// caller's bound (a burst of live events shares one).
    pub(super) async fn feed_untimed(&mut self, message: Message) -> Result<(), End> {
        self.socket.feed(message).await.map_err(End::Socket)
    }

    /// Queues `message` on the socket (and flushes it when `flush`); a peer that cannot take it within the
    /// keepalive time is unresponsive.
    pub(super) async fn write(&mut self, message: Message, flush: bool) -> Result<(), End> {
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
    /// (its outcome if the writer gives it within half the stop's bound, else "unknown": the draining
    /// writer may still store it) and send close 1001; on a store failure, say so and close 1011.
    pub(super) async fn close(&mut self, end: &End) {
        let (code, reason) = match end {
            End::Shutdown => {
                let deadline = Instant::now() + self.state.config.shutdown_timeout() / 2;
                // Every answer owed, in order; stop at the first write the peer cannot take.
                while let Some(answer) = self.answers.next_by(deadline).await {
                    if self.send_answer(answer).await.is_err() {
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
                let frame = server::unavailable();
                let _ = self.write(Message::Text(frame.into()), true).await;
                (close_code::ERROR, "temporarily unavailable")
            }
            End::Revoked(code) => {
                let reason = if *code == crate::accounts::revocation::CLOSE_DEACTIVATED {
                    "account deactivated"
                } else {
                    "signed out"
                };
                (CloseCode::from(*code), reason)
            }
            End::Moderated(code) => (
                CloseCode::from(*code),
                crate::moderation::close_reason(*code),
            ),
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
