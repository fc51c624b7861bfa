//! Answers to the client's sends, in the order it sent them, and only what is known.
//!
//! Every send, edit and deletion queued on the store waits in the connection's `pending` queue for its
//! outcome; an answer that is known at once (a refused frame, a submit the writer did not take) waits behind
//! the earlier ones instead of overtaking them, so a client that matches answers by order (a plain client
//! without `client_id`) is never misled. When the node stops, each pending send gets its outcome if the
//! writer gives it within the bound; past it the client is told the outcome is unknown, never that the send
//! failed: the draining writer may still store it, and a client that resent it would store it twice.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::Message;
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout_at};

use super::{Consumer, End};
use crate::protocol::server;
use crate::storage::{Outcome, StoreError};

/// Where the store's answer to one send (its [`Outcome`]) arrives.
pub(super) type OutcomeReceiver = oneshot::Receiver<Outcome>;

/// One of the client's sends (or refused frames) not answered yet.
pub(super) struct Pending {
    client_id: Option<Arc<str>>,
    state: State,
}

enum State {
    /// The writer has it; its outcome comes on this channel.
    Waiting(OutcomeReceiver),
    /// The answer is known: this frame (none for a stored send without `client_id`).
    Ready(Option<Box<str>>),
}

impl Pending {
    /// A send the writer took; answered once its outcome comes.
    pub(super) fn waiting(client_id: Option<Arc<str>>, outcome: OutcomeReceiver) -> Self {
        Self {
            client_id,
            state: State::Waiting(outcome),
        }
    }

    /// The frame the client gets once its outcome is in (after `settle`, or for a known answer).
    fn into_frame(self) -> Option<Box<str>> {
        match self.state {
            State::Ready(frame) => frame,
            // Only reached when the outcome never came (see `settle_by`).
            State::Waiting(_) => Some(server::outcome_unknown(self.client_id.as_deref()).into()),
        }
    }

    /// Waits for the outcome; cancel-safe (nothing changes until it is in).
    async fn settle(&mut self) {
        if let State::Waiting(outcome) = &mut self.state {
            let frame = match outcome.await {
                Ok(outcome) => outcome_frame(self.client_id.as_deref(), &outcome),
                // The writer dropped the send without answering: it may or may not be stored.
                Err(_) => Some(server::outcome_unknown(self.client_id.as_deref())),
            };
            self.state = State::Ready(frame.map(Into::into));
        }
    }

    /// Waits for the outcome until `deadline`; past it the answer stays "unknown".
    async fn settle_by(&mut self, deadline: Instant) {
        let _ = timeout_at(deadline, self.settle()).await;
    }
}

/// The answer to the oldest pending send, once it is known (the writer answers in order). Cancel-safe: the
/// send stays first in the queue until this returns.
pub(super) async fn next_answer(pending: &mut VecDeque<Pending>) -> Option<Box<str>> {
    let Some(front) = pending.front_mut() else {
        return std::future::pending().await;
    };
    front.settle().await;
    pending.pop_front().and_then(Pending::into_frame)
}

/// The frame answering a send once its outcome is in; a store failure is logged once, here.
fn outcome_frame(client_id: Option<&str>, outcome: &Outcome) -> Option<String> {
    if let Err(error) = outcome {
        log_failure(error);
    }
    server::outcome(client_id, outcome)
}

/// Logs a send the store failed, unless the failure is the client's (a locked room, a missing or
/// forbidden target).
fn log_failure(error: &StoreError) {
    if !matches!(
        error,
        StoreError::RoomLocked | StoreError::NotFound(_) | StoreError::Forbidden(_)
    ) {
        tracing::warn!(%error, "a message could not be stored");
    }
}

impl Consumer {
    /// Queues the answer to a send the writer took.
    pub(super) fn await_outcome(&mut self, client_id: Option<Arc<str>>, outcome: OutcomeReceiver) {
        self.pending.push_back(Pending::waiting(client_id, outcome));
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

    /// Sends `frame`, an answer known now, after every earlier answer still pending.
    pub(super) async fn answer_in_turn(&mut self, frame: String) -> Result<(), End> {
        if self.pending.is_empty() {
            return self.write(Message::Text(frame.into()), true).await;
        }
        self.pending.push_back(Pending {
            client_id: None,
            state: State::Ready(Some(frame.into())),
        });
        Ok(())
    }

    /// Sends an answer the queue produced (nothing for a stored send without `client_id`).
    pub(super) async fn send_answer(&mut self, frame: Option<Box<str>>) -> Result<(), End> {
        match frame {
            Some(frame) => {
                self.write(Message::Text(String::from(frame).into()), true)
                    .await
            }
            None => Ok(()),
        }
    }

    /// On shutdown: answers every pending send in order, each with its outcome if the writer gives it by
    /// `deadline`, else as unknown. Stops at the first write the peer cannot take.
    pub(super) async fn answer_pending_by(&mut self, deadline: Instant) -> Result<(), End> {
        while let Some(mut pending) = self.pending.pop_front() {
            pending.settle_by(deadline).await;
            self.send_answer(pending.into_frame()).await?;
        }
        Ok(())
    }
}
