//! One handler per kind of client frame (docs/PROTOCOL.md, "Client to server"), each taking the frame's
//! values as parsed by `crate::protocol::client`. A send is checked against the limits and the room's
//! moderation, then made a message by `crate::posting::compose` (shared with the publish API and
//! incoming webhooks) and queued on the store; its answer is owed in turn (`Answers`).

use std::sync::Arc;

use super::limited::SendKind;
use super::{Consumer, End, Socket};
use crate::domain::{Emoji, MessageBody};
use crate::moderation::Action;
use crate::posting::{self, Draft, Poster, Refused};
use crate::protocol::{ErrorCode, ProtocolError, answers};
use crate::stats::Stats;
use crate::storage::{Amend, Amendment, Authority};

impl<S: Socket> Consumer<S> {
    /// `message`: queued on the store, answered once stored (an ack for a `client_id` send).
    pub(super) async fn on_message(
        &mut self,
        body: MessageBody,
        client_id: Option<Arc<str>>,
        reply_to: Option<u64>,
        files: Vec<String>,
    ) -> Result<(), End> {
        if let Some(step) = self
            .over_send_limit(client_id.as_deref(), SendKind::Message)
            .await
        {
            return step;
        }
        // Muted, banned or too soon under slow mode: answered, nothing queued (memory only).
        if let Err(hold) = self.rules.check_send() {
            return self
                .answer_in_turn(answers::held(&hold, client_id.as_deref()))
                .await;
        }
        let draft = Draft {
            body,
            client_id: client_id.clone(),
            reply_to,
            files,
        };
        let owner = self.owner().clone();
        let poster = Poster {
            room: &self.room,
            name: self.identity.name(),
            user_id: self.identity.user_id(),
            owner: &owner,
            privileged: self.rules.privileged(),
            bot: self.identity.user().is_some_and(|u| u.is_bot),
        };
        let message = match posting::compose(&self.state, poster, draft).await {
            Ok(message) => message,
            Err(Refused::NoThreadRoot) => {
                let error = ProtocolError::new(
                    ErrorCode::NotFound,
                    "\"reply_to\" names no message of this room, or a deleted one",
                );
                return self.refuse(ProtocolError { client_id, ..error }).await;
            }
            Err(Refused::FileNotFound) => {
                let error = ProtocolError::new(
                    ErrorCode::FileNotFound,
                    "a file of \"files\" is not an upload of yours to this room waiting to be attached",
                );
                return self.refuse(ProtocolError { client_id, ..error }).await;
            }
            Err(Refused::Store(error)) => return self.answer_failed(client_id, &error).await,
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

    /// `resume`: everything after `since` from the store, then live (within the replay limit).
    pub(super) async fn on_resume(&mut self, since: u64) -> Result<(), End> {
        match self.over_replay_limit(since).await {
            Some(step) => step,
            None => self.resume(since).await,
        }
    }

    /// `typing`: told to the room's `chatweb.v2` members (throttled per person by presence).
    pub(super) fn on_typing(&self) {
        let name = self.identity.name().as_str();
        let guest = self.identity.user().is_none();
        self.state.presence.typing(&self.room, name, guest);
    }

    /// `edit`: the author's new text for message `target`, answered like a send.
    pub(super) async fn on_edit(
        &mut self,
        target: u64,
        body: MessageBody,
        client_id: Option<Arc<str>>,
    ) -> Result<(), End> {
        let action = Amend::Edit { target, body };
        self.amend_unless_held(action, client_id, Authority::Author)
            .await
    }

    /// `delete`: message `target` deleted, answered like a send.
    pub(super) async fn on_delete(
        &mut self,
        target: u64,
        client_id: Option<Arc<str>>,
    ) -> Result<(), End> {
        // Staff and the room's owners and moderators, as they are now, may delete any message.
        self.amend(Amend::Delete { target }, client_id, self.authority())
            .await
    }

    /// A staff command (`mute`, `ban`, `kick`, `slow_mode`...): carried out and answered in turn.
    pub(super) async fn on_moderate(
        &mut self,
        action: Action,
        client_id: Option<Arc<str>>,
    ) -> Result<(), End> {
        let moderation = &self.state.moderation;
        let outcome = moderation.command(&self.identity, &self.room, action).await;
        let answer = answers::moderation_answer(self.room.as_str(), &outcome, client_id.as_deref());
        self.answer_in_turn(answer).await
    }

    /// `read`: the signed-in client's read mark, recorded in memory (the writer stores marks each second).
    pub(super) async fn on_read(&mut self, id: u64) -> Result<(), End> {
        let Some(user_id) = self.identity.user_id() else {
            let error = ProtocolError::new(
                ErrorCode::LoginRequired,
                "read state is kept for signed-in users only",
            );
            return self.refuse(error).await;
        };
        // Nobody has read what they were not sent.
        let id = id.min(self.delivery.last());
        self.state.store.mark_read(user_id, &self.room, id);
        Ok(())
    }

    /// `react` / `unreact`: one's reaction to a message, answered like a send.
    pub(super) async fn on_react(
        &mut self,
        target: u64,
        emoji: Emoji,
        add: bool,
        client_id: Option<Arc<str>>,
    ) -> Result<(), End> {
        let emoji = emoji.as_str().to_owned();
        let action = Amend::React { target, emoji, add };
        self.amend_unless_held(action, client_id, self.authority())
            .await
    }

    /// `pin` / `unpin`: for those who moderate the room, and the members of a direct room.
    pub(super) async fn on_pin(
        &mut self,
        target: u64,
        add: bool,
        client_id: Option<Arc<str>>,
    ) -> Result<(), End> {
        if !self.rules.may_pin() {
            let detail = "only the room's owners, moderators and staff pin messages";
            return self.forbid(client_id, detail).await;
        }
        self.amend(Amend::Pin { target, add }, client_id, Authority::Moderator)
            .await
    }

    /// `topic`: for those who moderate the room (not a direct one).
    pub(super) async fn on_topic(
        &mut self,
        topic: String,
        client_id: Option<Arc<str>>,
    ) -> Result<(), End> {
        if !self.rules.may_set_topic() {
            let detail = "only the room's owners, moderators and staff set its topic";
            return self.forbid(client_id, detail).await;
        }
        self.amend(Amend::Topic(topic), client_id, Authority::Moderator)
            .await
    }

    /// Refuses a frame the person may not send (`forbidden`), naming its `client_id`.
    async fn forbid(&mut self, client_id: Option<Arc<str>>, detail: &str) -> Result<(), End> {
        let error = ProtocolError::new(ErrorCode::Forbidden, detail);
        self.refuse(ProtocolError { client_id, ..error }).await
    }

    /// Queues a change a muted or banned person may not make (an edit, a reaction): held, or amended.
    async fn amend_unless_held(
        &mut self,
        action: Amend,
        client_id: Option<Arc<str>>,
        authority: Authority,
    ) -> Result<(), End> {
        if let Err(hold) = self.rules.check_edit() {
            return self
                .answer_in_turn(answers::held(&hold, client_id.as_deref()))
                .await;
        }
        self.amend(action, client_id, authority).await
    }

    /// What the person may change as they are now: any message when they moderate the room.
    fn authority(&self) -> Authority {
        if self.rules.privileged() {
            Authority::Moderator
        } else {
            Authority::Author
        }
    }

    /// Queues an edit or deletion of one of the room's messages; it is answered like a send.
    async fn amend(
        &mut self,
        action: Amend,
        client_id: Option<Arc<str>>,
        authority: Authority,
    ) -> Result<(), End> {
        if self.identity.user().is_none() {
            let detail = "guests cannot change messages (edit, delete, react, pin): log in";
            return self.forbid(client_id, detail).await;
        }
        if let Some(step) = self
            .over_send_limit(client_id.as_deref(), SendKind::Amendment)
            .await
        {
            return step;
        }
        let amendment = Amendment {
            room: self.room.clone(),
            actor: self.identity.name().clone(),
            actor_id: self.identity.user_id(),
            action,
            authority,
            client_id: client_id.clone(),
            owner: self.owner().clone(),
        };
        match self.state.store.submit_amend(amendment).await {
            Ok(outcome) => {
                self.answers.await_outcome(client_id, outcome);
                Ok(())
            }
            Err(error) => self.answer_failed(client_id, &error).await,
        }
    }
}
