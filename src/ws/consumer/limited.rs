//! The limits' gates on a connection (src/limits/): every frame against the connection's frame budget,
//! every send (message, edit, deletion) against the connection's and the sender's buckets and, in a room
//! the connection found empty (whether or not a catch-up is running), the address's new rooms; a resume
//! far back against the client's replays.
//! A refusal is an error frame `rate_limited` with `retry_after_ms`, answered in turn after the answers
//! to earlier sends; nothing is stored, the connection stays open.

use tokio_tungstenite::tungstenite::{Error, Message};

use super::{Consumer, End, Socket};
use crate::limits::{FrameVerdict, Refusal};
use crate::protocol::answers;
use crate::stats::Stats;

/// What a send counted by [`Consumer::over_send_limit`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SendKind {
    /// A chat message, which may create the room.
    Message,
    /// An edit or a deletion.
    Amendment,
}

impl<S: Socket> Consumer<S> {
    /// Counts `frame` against the frame budget: `Some(step)` when it must be dropped instead of handled
    /// (a close or a socket error always goes through).
    pub(super) async fn over_frame_budget(
        &mut self,
        frame: &Option<Result<Message, Error>>,
    ) -> Option<Result<(), End>> {
        let counted = matches!(
            frame,
            Some(Ok(Message::Text(_)
                | Message::Binary(_)
                | Message::Ping(_)
                | Message::Pong(_)))
        );
        if !counted {
            return None;
        }
        match self.limits.frame(&self.state.limits) {
            FrameVerdict::Pass => None,
            FrameVerdict::Drop => Some(Ok(())),
            FrameVerdict::Tell(refusal) => Some(self.rate_limited(&refusal, None).await),
        }
    }

    /// Counts a send of `kind`: `Some(step)` when it is refused.
    pub(super) async fn over_send_limit(
        &mut self,
        client_id: Option<&str>,
        kind: SendKind,
    ) -> Option<Result<(), End>> {
        // Nothing delivered: the room may have had no message when this socket joined. So too while a
        // catch-up runs (a resume into a room found empty starts one): a resume that found messages, or a
        // live event, told the limits the room is not new (`ConnectionLimits::room_has_messages`).
        let room_was_empty = kind == SendKind::Message && self.delivery.last() == 0;
        match self.limits.send(&self.state.limits, room_was_empty) {
            Ok(()) => None,
            Err(refusal) => Some(self.rate_limited(&refusal, client_id).await),
        }
    }

    /// Counts a resume from `since` if it is a full replay: `Some(step)` when it is refused (the
    /// connection goes on from where it is).
    pub(super) async fn over_replay_limit(&mut self, since: u64) -> Option<Result<(), End>> {
        if !self.state.limits.replays_limited() {
            return None;
        }
        let head = match self.state.store.last_seq(&self.room).await {
            Ok(head) => head,
            Err(error) => return Some(Err(End::Store(error))),
        };
        match self.limits.replay(&self.state.limits, since, head) {
            Ok(()) => None,
            Err(refusal) => Some(self.rate_limited(&refusal, None).await),
        }
    }

    async fn rate_limited(
        &mut self,
        refusal: &Refusal,
        client_id: Option<&str>,
    ) -> Result<(), End> {
        Stats::add(&self.state.stats.rejected_frames, 1);
        self.answer_in_turn(answers::rate_limited(refusal, client_id))
            .await
    }
}
