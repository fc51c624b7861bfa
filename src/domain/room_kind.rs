//! The vocabulary of room access: a room's [`RoomKind`] and a member's [`Role`], with their stored
//! spellings (`rooms.kind`, `room_members.role`) and their order of power.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who may read a room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// Anyone may read and write, signed in or a guest (every room before issue 18).
    #[default]
    Public,
    /// Members only; people join by being added or by an invite link.
    Private,
    /// A conversation of a fixed set of 2 to 8 accounts; no one else, ever.
    Direct,
}

impl RoomKind {
    /// As stored and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Direct => "direct",
        }
    }

    /// From its stored form; an unknown spelling is read as the strictest kind.
    pub fn from_stored(text: &str) -> Self {
        match text {
            "public" => Self::Public,
            "private" => Self::Private,
            _ => Self::Direct,
        }
    }

    /// Whether only members may read it.
    pub fn members_only(self) -> bool {
        !matches!(self, Self::Public)
    }
}

/// A person's role in a room, weakest first (so `role >= Role::Moderator` reads as it should).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and writes.
    Member,
    /// Also mutes, bans, kicks, sets slow mode, deletes any message, locks; adds members.
    Moderator,
    /// Also manages members and roles, and changes the topic.
    Owner,
}

impl Role {
    /// As stored and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Moderator => "moderator",
            Self::Owner => "owner",
        }
    }

    /// From its stored or sent form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "member" => Some(Self::Member),
            "moderator" => Some(Self::Moderator),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_roles_round_trip_and_roles_are_ordered() {
        for kind in [RoomKind::Public, RoomKind::Private, RoomKind::Direct] {
            assert_eq!(RoomKind::from_stored(kind.as_str()), kind);
        }
        assert_eq!(RoomKind::from_stored("???"), RoomKind::Direct);
        for role in [Role::Member, Role::Moderator, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(Role::Owner > Role::Moderator && Role::Moderator > Role::Member);
        assert_eq!(Role::parse("admin"), None);
    }
}
