//! The one check of who may read and write a room (docs/ARCHITECTURE.md, invariant 8). The socket's
//! handshake, the room page, the API, read marks and everything later that shows room data ask
//! [`Access::grant`] and act on the [`Grant`] it returns; none of them decides by itself.
//!
//! The check is made afresh on every request (one indexed query, plus the in-memory bans), never cached
//! past a change: a membership or role change is stored before it is answered, so the next request sees
//! it. Open sockets follow changes through `src/moderation/` (each node reloads a room's roles when the
//! log says its membership changed, and closes the sockets of anyone it no longer admits).
//!
//! The rules: anyone may read a public room unless banned from it; a private room is its members'
//! (staff may enter it too, to moderate); a direct room is its members' alone, staff included. Guests
//! are never members. Whoever may not read a room learns nothing of it: the pages and the API answer 404
//! as for a room that does not exist, the socket 403.

mod members;
mod mentions;

use crate::accounts::Identity;
use crate::domain::{Role, RoomKind, RoomName};
use crate::moderation::Moderation;
use crate::storage::{Store, StoreError};

pub use members::{
    Invite, MAX_DIRECT_MEMBERS, MAX_INVITE_SECS, MAX_INVITE_USES, MAX_TOPIC_CHARS, MembersError,
    parse_topic,
};
pub use mentions::{Asked, MAX_MENTIONS, MAX_NAMED, Mentioner, asked};

/// What one person may do in one room, as decided now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The room's kind (public when it has no row yet).
    pub kind: RoomKind,
    /// The person's role in it (`None`: not a member).
    pub role: Option<Role>,
    /// Staff rights, as the request's credential says now.
    pub staff: bool,
    /// Banned from the room now.
    pub banned: bool,
    /// The room's topic ("" when none).
    pub topic: String,
    /// Anyone holds a role in the room.
    pub has_members: bool,
}

/// Why someone may not read a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// Banned from it: they are told so (403).
    Banned,
    /// Not theirs to read: they learn nothing of it, not even that it exists (404; 403 at the socket,
    /// which says nothing more).
    Hidden,
}

impl Grant {
    /// Why the person may not read the room, if they may not: what every door answers alike.
    pub fn refusal(&self) -> Option<Denied> {
        if self.banned && !self.staff {
            Some(Denied::Banned)
        } else if self.may_read() {
            None
        } else {
            Some(Denied::Hidden)
        }
    }

    /// Whether the person may read the room (and so write to it, mutes and locks aside).
    pub fn may_read(&self) -> bool {
        match self.kind {
            RoomKind::Public => !self.banned,
            RoomKind::Private => self.staff || (self.role.is_some() && !self.banned),
            RoomKind::Direct => self.role.is_some(),
        }
    }

    /// The room's roles when this grant already tells them (a public room nobody holds a role in), so
    /// the socket's seat need not read them.
    pub fn known_roles(&self) -> Option<crate::moderation::Roles> {
        (self.kind == RoomKind::Public && !self.has_members).then(crate::moderation::Roles::default)
    }

    /// Whether the person may moderate the room: mute, ban, kick, slow mode, delete any message.
    pub fn may_moderate(&self) -> bool {
        self.may_read() && (self.staff || self.role >= Some(Role::Moderator))
    }

    /// Whether the person may add members (with the `member` role; other roles need
    /// [`Grant::may_manage`]). Never in a direct room.
    pub fn may_add_members(&self) -> bool {
        self.kind != RoomKind::Direct && self.may_moderate()
    }

    /// Whether the caller may set the room's topic: whoever moderates it, in any room but a direct one.
    pub fn may_set_topic(&self) -> bool {
        self.kind != RoomKind::Direct && self.may_moderate()
    }

    /// Whether the person may manage members and roles. Never in a direct room.
    pub fn may_manage(&self) -> bool {
        self.kind != RoomKind::Direct && (self.staff || self.role == Some(Role::Owner))
    }
}

/// The check itself; cheap to clone.
#[derive(Clone)]
pub struct Access {
    store: Store,
    moderation: Moderation,
}

impl Access {
    /// A check reading `store`'s database and `moderation`'s bans (and changing membership through
    /// `store`'s writer).
    pub fn new(store: Store, moderation: Moderation) -> Self {
        Self { store, moderation }
    }

    /// What `identity` may do in `room`, now.
    pub async fn grant(&self, identity: &Identity, room: &RoomName) -> Result<Grant, StoreError> {
        let row = self
            .store
            .room_access(room.as_str(), identity.user_id())
            .await?;
        let (kind, role, topic, has_members) = match row {
            Some(row) => (row.kind, row.role, row.topic, row.has_members),
            None => (RoomKind::Public, None, String::new(), false),
        };
        Ok(Grant {
            kind,
            role,
            staff: identity.is_staff(),
            banned: self.moderation.banned(room, identity),
            topic,
            has_members,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(kind: RoomKind, role: Option<Role>, staff: bool, banned: bool) -> Grant {
        Grant {
            kind,
            role,
            staff,
            banned,
            topic: String::new(),
            has_members: role.is_some(),
        }
    }

    #[test]
    fn public_rooms_are_everyones_but_the_banned() {
        assert!(grant(RoomKind::Public, None, false, false).may_read());
        assert!(!grant(RoomKind::Public, None, false, true).may_read());
        assert!(!grant(RoomKind::Public, None, false, false).may_moderate());
        assert!(grant(RoomKind::Public, Some(Role::Moderator), false, false).may_moderate());
    }

    #[test]
    fn private_rooms_are_their_members_and_staffs() {
        assert!(!grant(RoomKind::Private, None, false, false).may_read());
        assert!(grant(RoomKind::Private, Some(Role::Member), false, false).may_read());
        assert!(!grant(RoomKind::Private, Some(Role::Member), false, true).may_read());
        assert!(grant(RoomKind::Private, None, true, false).may_read());
        assert!(!grant(RoomKind::Private, Some(Role::Member), false, false).may_add_members());
        assert!(grant(RoomKind::Private, Some(Role::Moderator), false, false).may_add_members());
        assert!(!grant(RoomKind::Private, Some(Role::Moderator), false, false).may_manage());
        assert!(grant(RoomKind::Private, Some(Role::Owner), false, false).may_manage());
    }

    #[test]
    fn direct_rooms_are_their_members_alone() {
        assert!(
            !grant(RoomKind::Direct, None, true, false).may_read(),
            "not even staff"
        );
        assert!(grant(RoomKind::Direct, Some(Role::Member), false, false).may_read());
        assert!(!grant(RoomKind::Direct, Some(Role::Owner), true, false).may_manage());
        assert!(!grant(RoomKind::Direct, Some(Role::Owner), true, false).may_add_members());
    }
}
