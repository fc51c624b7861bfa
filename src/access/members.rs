//! Changing who is in a room: creating rooms and direct rooms, adding and removing members, changing roles,
//! joining by an invite link. Every change is decided against a fresh [`Grant`] here (the API, the pages
//! and the admin only translate), stored through the writer as an event of the room's sequence, and
//! audited when staff make it.

use sha2::{Digest, Sha256};

use super::{Access, Grant};
use crate::accounts::{SignedIn, secret};
use crate::domain::{ClientIdOwner, Role, RoomKind, RoomName, Username};
use crate::storage::{
    Amend, Amendment, Authority, MemberChange, MemberRow, NewInvite, NewRoom, StoreError, now_ms,
};

/// Most accounts in a direct room (the asker included).
pub const MAX_DIRECT_MEMBERS: usize = 8;
/// Longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 250;
/// Most joins one invite link may allow.
pub const MAX_INVITE_USES: u32 = 1000;
/// Longest an invite link may last.
pub const MAX_INVITE_SECS: u64 = 30 * 24 * 3600;

/// Why a change of membership was not made.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    /// The room (for whoever may not read it), the person or the invite does not exist.
    #[error("{0}")]
    NotFound(&'static str),
    /// The asker may not make this change.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The change contradicts what is stored (a name taken, added twice, the only owner).
    #[error("{0}")]
    Conflict(&'static str),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// An invite link that was used up or expired.
    #[error("this invite link was used up or has expired")]
    Gone,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for MembersError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(why) => Self::Conflict(why),
            StoreError::Forbidden(why) => Self::Forbidden(why),
            StoreError::NotFound(why) => Self::NotFound(why),
            other => Self::Store(other),
        }
    }
}

/// A new invite link: the path to hand out (holding the token, which is not kept).
#[derive(Clone, Debug)]
pub struct Invite {
    /// `/invite/<token>/`.
    pub url: String,
    /// When it stops working (ms since the epoch).
    pub expires_at_ms: i64,
}

/// Refuses whoever may not read the room as if it did not exist.
fn visible(grant: &Grant) -> Result<(), MembersError> {
    if grant.may_read() {
        Ok(())
    } else {
        Err(MembersError::NotFound("no such room"))
    }
}

/// The change `change` of the account `user_id`, named `user`.
fn member(user_id: i64, user: &Username, change: MemberChange) -> Amend {
    Amend::Member {
        user_id,
        user: user.as_str().to_owned(),
        change,
    }
}

/// A topic as kept: one line (control characters, line breaks included, become spaces), trimmed. At most
/// [`MAX_TOPIC_CHARS`] as sent, before trimming, as the API's schema says (a client checking the schema
/// and the server agree on every string).
pub fn parse_topic(topic: &str) -> Result<String, MembersError> {
    if topic.chars().count() > MAX_TOPIC_CHARS {
        return Err(MembersError::Invalid(format!(
            "a topic is at most {MAX_TOPIC_CHARS} characters"
        )));
    }
    let line: String = topic
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok(line.trim().to_owned())
}

impl Access {
    /// Creates `name` as a `kind` room (public or private) owned by `creator`.
    pub async fn create_room(
        &self,
        creator: &SignedIn,
        name: RoomName,
        kind: RoomKind,
        topic: &str,
    ) -> Result<(), MembersError> {
        if kind == RoomKind::Direct {
            return Err(MembersError::Invalid(
                "direct rooms are opened with POST /api/dms/".into(),
            ));
        }
        let new = NewRoom {
            kind,
            topic: parse_topic(topic)?,
            dm_key: None,
            members: vec![(creator.id, creator.name.clone(), Role::Owner)],
        };
        self.change(creator, &name, Amend::Create(Box::new(new)))
            .await?;
        Ok(())
    }

    /// The direct room of `asker` and the accounts named `others` (1 to 7 of them), created when it
    /// does not exist yet: the same people always get the same room, whoever asks, in any order.
    pub async fn open_direct(
        &self,
        asker: &SignedIn,
        others: &[String],
    ) -> Result<(RoomName, Vec<MemberRow>), MembersError> {
        let mut members = vec![(asker.id, asker.name.clone())];
        for name in others {
            let user = self.user_named(name).await?;
            if !members.iter().any(|(id, _)| *id == user.0) {
                members.push(user);
            }
        }
        if members.len() < 2 {
            return Err(MembersError::Forbidden(
                "a direct room is with someone else: name at least one other person",
            ));
        }
        if members.len() > MAX_DIRECT_MEMBERS {
            return Err(MembersError::Invalid(format!(
                "a direct room has 2 to {MAX_DIRECT_MEMBERS} people, you included"
            )));
        }
        let mut ids: Vec<i64> = members.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        let key = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let dm_key = hex::encode(Sha256::digest(key.as_bytes()));
        let db = self.store.db();
        if let Some(name) = db.direct_room(&dm_key).await? {
            return self.direct_answer(&name).await;
        }
        // The name is random, not derived from the members: nobody can take it first.
        let name = format!("dm-{}", &secret::new_secret()[..24]);
        let room = RoomName::parse(&name).ok_or(MembersError::Invalid("room name".into()))?;
        let new = NewRoom {
            kind: RoomKind::Direct,
            topic: String::new(),
            dm_key: Some(dm_key.clone()),
            members: members
                .into_iter()
                .map(|(id, name)| (id, name, Role::Member))
                .collect(),
        };
        match self
            .change(asker, &room, Amend::Create(Box::new(new)))
            .await
        {
            Ok(()) => self.direct_answer(&name).await,
            // Someone opened the same room at the same moment: theirs it is.
            Err(MembersError::Conflict(_)) => match db.direct_room(&dm_key).await? {
                Some(name) => self.direct_answer(&name).await,
                None => Err(MembersError::Conflict("try again")),
            },
            Err(other) => Err(other),
        }
    }

    async fn direct_answer(&self, name: &str) -> Result<(RoomName, Vec<MemberRow>), MembersError> {
        let room = RoomName::parse(name).ok_or(MembersError::NotFound("no such room"))?;
        let members = self.store.db().members(name).await?;
        Ok((room, members))
    }

    /// Adds the account `user` to `room` with `role`, by `actor` holding `grant` there.
    pub async fn add_member(
        &self,
        actor: &SignedIn,
        grant: &Grant,
        room: &RoomName,
        user: &str,
        role: Role,
    ) -> Result<(), MembersError> {
        visible(grant)?;
        if grant.kind == RoomKind::Direct {
            return Err(MembersError::Forbidden(
                "a direct room's members never change",
            ));
        }
        if !grant.may_add_members() || (role != Role::Member && !grant.may_manage()) {
            return Err(MembersError::Forbidden(
                "only the room's owners and moderators add members, and only owners give roles",
            ));
        }
        let (user_id, user) = self.user_named(user).await?;
        let change = member(user_id, &user, MemberChange::Added(role));
        self.change_audited(actor, grant, room, change).await
    }

    /// Gives `user` the role `role` in `room`, by `actor` holding `grant` there (owners and staff).
    pub async fn set_role(
        &self,
        actor: &SignedIn,
        grant: &Grant,
        room: &RoomName,
        user: &str,
        role: Role,
    ) -> Result<(), MembersError> {
        visible(grant)?;
        if !grant.may_manage() {
            return Err(MembersError::Forbidden(
                "only the room's owners change roles",
            ));
        }
        let (user_id, user) = self.user_named(user).await?;
        let change = member(user_id, &user, MemberChange::Role(role));
        self.change_audited(actor, grant, room, change).await
    }

    /// Removes `user` from `room` (or, when `user` is the actor, leaves it), by `actor` holding
    /// `grant` there. Owners remove anyone, moderators members only.
    pub async fn remove_member(
        &self,
        actor: &SignedIn,
        grant: &Grant,
        room: &RoomName,
        user: &str,
    ) -> Result<(), MembersError> {
        visible(grant)?;
        let (user_id, user) = self.user_named(user).await?;
        if user_id == actor.id {
            if grant.kind == RoomKind::Direct {
                return Err(MembersError::Forbidden(
                    "a direct room's members never change",
                ));
            }
            let change = member(user_id, &user, MemberChange::Left);
            return self.change(actor, room, change).await;
        }
        let theirs = self
            .store
            .db()
            .room_access(room.as_str(), Some(user_id))
            .await?
            .and_then(|row| row.role);
        let allowed = grant.may_manage()
            || (grant.may_add_members() && theirs.is_none_or(|r| r < Role::Moderator));
        if !allowed {
            return Err(MembersError::Forbidden(
                "only the room's owners remove its owners and moderators; moderators remove members",
            ));
        }
        let change = member(user_id, &user, MemberChange::Removed);
        self.change_audited(actor, grant, room, change).await
    }

    /// Changes `room`'s topic, by `actor` holding `grant` there (owners and staff).
    pub async fn set_topic(
        &self,
        actor: &SignedIn,
        grant: &Grant,
        room: &RoomName,
        topic: &str,
    ) -> Result<String, MembersError> {
        visible(grant)?;
        if !grant.may_set_topic() {
            return Err(MembersError::Forbidden(
                "only the room's owners, moderators and staff set its topic",
            ));
        }
        let topic = parse_topic(topic)?;
        // An event of the room (`topic`), as the socket's topic frame stores; the same topic again
        // stores nothing.
        self.change(actor, room, Amend::Topic(topic.clone()))
            .await?;
        Ok(topic)
    }

    /// Locks `room` (read-only: sends, edits and deletions by members are refused with `room_locked`) or
    /// opens it again, by `actor` holding `grant` there (moderators, owners and staff); audited.
    pub async fn set_locked(
        &self,
        actor: &SignedIn,
        grant: &Grant,
        room: &RoomName,
        locked: bool,
    ) -> Result<(), MembersError> {
        visible(grant)?;
        if !grant.may_moderate() {
            return Err(MembersError::Forbidden(
                "only the room's owners and moderators lock it",
            ));
        }
        let db = self.store.db();
        if !db.set_room_locked(room.as_str(), locked).await? {
            return Err(MembersError::NotFound("no such room"));
        }
        let action = if locked { "room.lock" } else { "room.unlock" };
        db.audit(
            Some(actor.id),
            actor.name.as_str(),
            action,
            room.as_str(),
            "by a room's moderator or owner, or staff, through the API or the room page",
            now_ms(),
        )
        .await?;
        Ok(())
    }

    /// A new invite link to the private `room`, by `actor` holding `grant` there.
    pub async fn invite(
        &self,
        actor: &SignedIn,
        grant: &Grant,
        room: &RoomName,
        max_uses: u32,
        expires_in_secs: u64,
    ) -> Result<Invite, MembersError> {
        visible(grant)?;
        if grant.kind != RoomKind::Private {
            return Err(MembersError::Forbidden(
                "invite links are for private rooms",
            ));
        }
        if !grant.may_add_members() {
            return Err(MembersError::Forbidden(
                "only the room's owners and moderators make invite links",
            ));
        }
        if !(1..=MAX_INVITE_USES).contains(&max_uses)
            || !(60..=MAX_INVITE_SECS).contains(&expires_in_secs)
        {
            return Err(MembersError::Invalid(format!(
                "max_uses is 1 to {MAX_INVITE_USES}; expires_in_secs 60 to {MAX_INVITE_SECS}"
            )));
        }
        let token = secret::new_secret();
        let now = now_ms();
        let expires_at_ms =
            now.saturating_add(i64::try_from(expires_in_secs * 1000).unwrap_or(i64::MAX));
        let stored = self
            .store
            .db()
            .create_invite(&NewInvite {
                token_hash: &secret::digest(&token),
                room: room.as_str(),
                created_by: actor.id,
                max_uses: i64::from(max_uses),
                expires_at_ms,
                now_ms: now,
            })
            .await?;
        if !stored {
            return Err(MembersError::NotFound("no such room"));
        }
        Ok(Invite {
            url: format!("/invite/{token}/"),
            expires_at_ms,
        })
    }

    /// The room an invite token admits to, if the token is one we issued and still works.
    pub async fn invited_room(&self, token: &str) -> Result<RoomName, MembersError> {
        if !secret::well_formed(token) {
            return Err(MembersError::NotFound("no such invite link"));
        }
        let invite = self
            .store
            .db()
            .invite(&secret::digest(token))
            .await?
            .ok_or(MembersError::NotFound("no such invite link"))?;
        if invite.uses >= invite.max_uses || invite.expires_at_ms <= now_ms() {
            return Err(MembersError::Gone);
        }
        RoomName::parse(&invite.room).ok_or(MembersError::NotFound("no such invite link"))
    }

    /// Joins `user` to the room of the invite `token` (a member already just goes in); one use.
    pub async fn join(&self, user: &SignedIn, token: &str) -> Result<RoomName, MembersError> {
        let room = self.invited_room(token).await?;
        let db = self.store.db();
        let already = db
            .room_access(room.as_str(), Some(user.id))
            .await?
            .is_some_and(|row| row.role.is_some());
        if already {
            return Ok(room);
        }
        let hash = secret::digest(token);
        if !db.take_invite(&hash, now_ms()).await? {
            return Err(MembersError::Gone);
        }
        let change = member(user.id, &user.name, MemberChange::Added(Role::Member));
        match self.change(user, &room, change).await {
            Ok(()) => Ok(room),
            Err(MembersError::Conflict(_)) => {
                db.return_invite(&hash).await?;
                Ok(room)
            }
            Err(error) => {
                db.return_invite(&hash).await?;
                Err(error)
            }
        }
    }

    /// The account named `name`: its id and name.
    async fn user_named(&self, name: &str) -> Result<(i64, Username), MembersError> {
        let typed = name.trim();
        let parsed =
            Username::parse_account(typed).map_err(|_| MembersError::NotFound("no such user"))?;
        let user = self
            .store
            .db()
            .user_named(typed, &parsed)
            .await?
            .filter(|u| u.is_active)
            .ok_or(MembersError::NotFound("no such user"))?;
        Ok((user.id, Username::from_stored(&user.username)))
    }

    /// Stores a change as `actor`'s event of `room`.
    async fn change(
        &self,
        actor: &SignedIn,
        room: &RoomName,
        action: Amend,
    ) -> Result<(), MembersError> {
        self.store
            .amend(Amendment {
                room: room.clone(),
                actor: actor.name.clone(),
                actor_id: Some(actor.id),
                action,
                authority: Authority::Moderator,
                client_id: None,
                owner: ClientIdOwner::user(actor.id),
            })
            .await?;
        Ok(())
    }

    /// [`Access::change`], audited when the actor is staff.
    async fn change_audited(
        &self,
        actor: &SignedIn,
        grant: &Grant,
        room: &RoomName,
        action: Amend,
    ) -> Result<(), MembersError> {
        let detail = match &action {
            Amend::Member { user, change, .. } => format!("{} {user}", change.action()),
            _ => String::new(),
        };
        self.change(actor, room, action).await?;
        // Every change a staff member makes is audited, whatever their role in the room.
        if grant.staff {
            self.store
                .db()
                .audit(
                    Some(actor.id),
                    actor.name.as_str(),
                    "room.members",
                    room.as_str(),
                    &detail,
                    now_ms(),
                )
                .await?;
        }
        Ok(())
    }
}
