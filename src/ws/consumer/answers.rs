//! `Answers`: what the connection owes the client for its frames, in the order it sent them, and only what
//! is known.
//!
//! Every send, edit and deletion queued on the store waits here for its outcome; an answer that is known
//! at once (a refused frame, a submit the writer did not take) waits behind the earlier ones instead of
//! overtaking them, so a client that matches answers by order (a plain client without `client_id`) is never
//! misled. When the node stops, each pending send gets its outcome if the writer gives it within the bound;
//! past it the client is told the outcome is unknown, never that the send failed: the draining writer may
//! still store it, and a client that resent it would store it twice. Nothing here touches the socket: the
//! connection writes what these methods hand back.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::{Instant, timeout_at};

use crate::protocol::answers;
use crate::storage::{Outcome, StoreError};

/// Where the store's answer to one send (its [`Outcome`]) arrives.
pub(super) type OutcomeReceiver = oneshot::Receiver<Outcome>;

/// One answer, once known: the frame to send, or nothing (a stored send without `client_id`: the client
/// sees its message arrive instead).
pub(super) type Answer = Option<Box<str>>;

/// The answers owed to the client, oldest first. The writer answers the sends in order, so only the oldest
/// is ever awaited.
#[derive(Default)]
pub(super) struct Answers {
    pending: VecDeque<Pending>,
}

/// One of the client's sends (or refused frames) not answered yet.
struct Pending {
    client_id: Option<Arc<str>>,
    state: State,
}

enum State {
    /// The writer has it; its outcome comes on this channel.
    Waiting(OutcomeReceiver),
    /// The answer is known.
    Ready(Answer),
}

impl Answers {
    /// How many answers are owed (the connection stops reading frames at `--max-in-flight`).
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Nothing is owed.
    pub(super) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Owes the answer to a send the writer took: it is known once `outcome` comes.
    pub(super) fn await_outcome(&mut self, client_id: Option<Arc<str>>, outcome: OutcomeReceiver) {
        self.pending.push_back(Pending {
            client_id,
            state: State::Waiting(outcome),
        });
    }

    /// `frame`, an answer known now, in its turn: handed back to be sent at once when nothing is owed
    /// before it, else queued behind the earlier answers (and `None` returned).
    pub(super) fn in_turn(&mut self, frame: String) -> Option<String> {
        if self.pending.is_empty() {
            return Some(frame);
        }
        self.pending.push_back(Pending {
            client_id: None,
            state: State::Ready(Some(frame.into())),
        });
        None
    }

    /// The oldest answer, once it is known; pending while nothing is owed. Cancel-safe: the send stays
    /// first in the queue until this returns.
    pub(super) async fn next(&mut self) -> Answer {
        let Some(front) = self.pending.front_mut() else {
            return std::future::pending().await;
        };
        front.settle().await;
        self.pending.pop_front().and_then(Pending::into_frame)
    }

    /// On shutdown: the oldest answer, with its outcome if the writer gives it by `deadline`, else
    /// `outcome_unknown`; `None` once nothing is owed.
    pub(super) async fn next_by(&mut self, deadline: Instant) -> Option<Answer> {
        let mut pending = self.pending.pop_front()?;
        // Past the deadline the answer stays "unknown".
        let _ = timeout_at(deadline, pending.settle()).await;
        Some(pending.into_frame())
    }
}

impl Pending {
    /// The frame the client gets once its outcome is in (after `settle`, or for a known answer).
    fn into_frame(self) -> Answer {
        match self.state {
            State::Ready(frame) => frame,
            // Only reached when the outcome never came (see `Answers::next_by`).
            State::Waiting(_) => Some(answers::outcome_unknown(self.client_id.as_deref()).into()),
        }
    }

    /// Waits for the outcome; cancel-safe (nothing changes until it is in).
    async fn settle(&mut self) {
        if let State::Waiting(outcome) = &mut self.state {
            let frame = match outcome.await {
                Ok(outcome) => outcome_frame(self.client_id.as_deref(), &outcome),
                // The writer dropped the send without answering: it may or may not be stored.
                Err(_) => Some(answers::outcome_unknown(self.client_id.as_deref())),
            };
            self.state = State::Ready(frame.map(Into::into));
        }
    }
}

/// The frame answering a send once its outcome is in; a store failure is logged once, here.
fn outcome_frame(client_id: Option<&str>, outcome: &Outcome) -> Option<String> {
    if let Err(error) = outcome {
        log_failure(error);
    }
    answers::outcome(client_id, outcome)
}

/// Logs a send the store failed, unless the failure is the client's (a locked room, a missing or
/// forbidden target).
pub(super) fn log_failure(error: &StoreError) {
    if !matches!(
        error,
        StoreError::RoomLocked | StoreError::NotFound(_) | StoreError::Forbidden(_)
    ) {
        tracing::warn!(%error, "a message could not be stored");
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use serde_json::Value;

    use super::*;
    use crate::storage::{Appended, MessageKind, StoredMessage};

    fn stored(seq: u64) -> Outcome {
        Ok(Appended {
            message: StoredMessage {
                bot: false,
                seq,
                ts_ms: 0,
                author: "ada".into(),
                body: "hi".into(),
                guest: false,
                kind: MessageKind::Message,
                edited: false,
                reply_to: None,
                mentions: String::new(),
                files: String::new(),
            },
            duplicate: false,
        })
    }

    fn waiting(answers: &mut Answers, client_id: &str) -> oneshot::Sender<Outcome> {
        let (tx, rx) = oneshot::channel();
        answers.await_outcome(Some(client_id.into()), rx);
        tx
    }

    fn json(answer: Answer) -> Value {
        serde_json::from_str(&answer.expect("a frame")).expect("json")
    }

    #[tokio::test]
    async fn answers_go_out_in_the_order_of_the_frames_even_when_a_later_one_is_known_first() {
        let mut answers = Answers::default();
        let first = waiting(&mut answers, "a");
        let second = waiting(&mut answers, "b");
        second.send(stored(8)).expect("open");
        assert!(
            answers.next().now_or_never().is_none(),
            "the second may not overtake the first"
        );
        first.send(stored(7)).expect("open");
        assert_eq!(json(answers.next().await)["client_id"], "a");
        assert_eq!(json(answers.next().await)["client_id"], "b");
        assert!(answers.is_empty());
    }

    #[tokio::test]
    async fn a_known_answer_waits_behind_the_pending_ones_and_goes_at_once_when_none_is() {
        let mut answers = Answers::default();
        assert_eq!(answers.in_turn("now".into()).as_deref(), Some("now"));
        let first = waiting(&mut answers, "a");
        assert_eq!(answers.in_turn("refused".into()), None, "queued");
        assert_eq!(answers.len(), 2);
        first.send(stored(1)).expect("open");
        assert_eq!(json(answers.next().await)["type"], "ack");
        assert_eq!(answers.next().await.as_deref(), Some("refused"));
    }

    #[tokio::test]
    async fn a_stored_send_without_client_id_is_answered_by_nothing() {
        let mut answers = Answers::default();
        let (tx, rx) = oneshot::channel();
        answers.await_outcome(None, rx);
        tx.send(stored(1)).expect("open");
        assert_eq!(answers.next().await, None);
        assert!(answers.is_empty());
    }

    #[tokio::test]
    async fn at_shutdown_an_outcome_that_does_not_come_is_unknown_never_a_failure() {
        let mut answers = Answers::default();
        let _never = waiting(&mut answers, "a");
        let failed = waiting(&mut answers, "b");
        failed.send(Err(StoreError::RoomLocked)).expect("open");
        // Passed already: only what is known now is told.
        let deadline = Instant::now();
        let unknown = json(answers.next_by(deadline).await.expect("owed"));
        assert_eq!(
            (unknown["code"].as_str(), unknown["client_id"].as_str()),
            (Some("outcome_unknown"), Some("a"))
        );
        let locked = json(answers.next_by(deadline).await.expect("owed"));
        assert_eq!(locked["code"], "room_locked");
        assert!(answers.next_by(deadline).await.is_none());
    }
}
