//! The message model: what a client sends to be stored ([`NewMessage`], [`Amendment`]), what the store
//! gives back ([`StoredMessage`], [`Appended`]), and what kind of row of a room's sequence each is
//! ([`MessageKind`]): messages, tombstones, and the events that change history or membership.

use std::sync::Arc;

use crate::domain::{ClientIdOwner, MessageBody, Role, RoomKind, RoomName, Username};

use super::to_u64;

/// A message accepted from a client, not yet stored.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The room it goes to.
    pub room: RoomName,
    /// Who sent it.
    pub author: Username,
    /// What it says.
    pub body: MessageBody,
    /// The sender's idempotency key: a repeat by the same owner in the same room stores nothing new.
    pub client_id: Option<Arc<str>>,
    /// Whose `client_id`s these are (stored as `messages.sender_key` beside a `client_id`): another
    /// sender's same `client_id` is a message of its own.
    pub owner: ClientIdOwner,
    /// The author's account; `None` for a guest.
    pub author_id: Option<i64>,
    /// The thread's root, for a reply (checked before it is sent here: a root of the same room).
    pub reply_to: Option<u64>,
    /// The accounts it mentions, as the server resolved them.
    pub mentions: Mentions,
    /// The files it attaches (checked before it is sent here: uploads of its author to its room, not
    /// attached yet).
    pub files: Attached,
    /// A bot account or an incoming webhook wrote it (stored, so history says so too).
    pub bot: bool,
}

/// The files a message attaches: their upload ids, and what the message shows of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attached {
    /// The uploads' ids.
    pub ids: Vec<String>,
    /// Their [`crate::domain::FileRef`]s as `messages.files` keeps them ("" for none).
    pub json: String,
}

/// The accounts a message mentions: their ids (for their unread-mention counts) and their names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mentions {
    /// The accounts.
    pub ids: Vec<i64>,
    /// Their names, separated by spaces (as stored in `messages.mentions`; "" for none).
    pub names: String,
}

/// A stored message as read back or just committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Room sequence number: 1, 2, 3, ... with no gaps.
    pub seq: u64,
    /// Commit time, milliseconds since the Unix epoch (UTC).
    pub ts_ms: i64,
    /// Who sent it.
    pub author: String,
    /// What it says ("" once deleted, and for events).
    pub body: String,
    /// The author had no account.
    pub guest: bool,
    /// A message, a tombstone, or an event that changed earlier messages.
    pub kind: MessageKind,
    /// An edit replaced the text (the text is the newest one).
    pub edited: bool,
    /// The thread's root, for a reply.
    pub reply_to: Option<u64>,
    /// The names of the accounts it mentions, separated by spaces ("" for none).
    pub mentions: String,
    /// Its files, as `messages.files` keeps them: a JSON list of [`crate::domain::FileRef`] ("" for none).
    pub files: String,
    /// A bot account or an incoming webhook wrote it.
    pub bot: bool,
}

impl StoredMessage {
    /// The names it mentions.
    pub fn mentioned(&self) -> impl Iterator<Item = &str> {
        self.mentions.split(' ').filter(|name| !name.is_empty())
    }
}

/// What a stored row of a room's sequence is. Every row has its own room id (docs/ARCHITECTURE.md,
/// invariant 5): a deletion is an event after the message it removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A chat message.
    Message,
    /// A message whose text was deleted: its id stays, its text is gone.
    Deleted,
    /// The deletion of message `target`.
    Delete {
        /// The deleted message's id.
        target: u64,
    },
    /// The deletion of every message up to `through`.
    Clear {
        /// The last id the deletion covers.
        through: u64,
    },
    /// The edit of message `target`; the row's body is the new text.
    Edit {
        /// The edited message's id.
        target: u64,
    },
    /// A change of the room's membership; the row's body is [`MemberEvent`]'s stored form, its author
    /// who made the change.
    Member,
    /// A reaction added to or removed from message `target`; the body is `+` or `-` and the emoji.
    Reaction {
        /// The message's id.
        target: u64,
    },
    /// Message `target` pinned or unpinned; the body is `add` or `remove`.
    Pin {
        /// The message's id.
        target: u64,
    },
    /// The room's topic set; the body is the new topic.
    Topic,
}

impl MessageKind {
    /// From the `kind`, `target` and `deleted` columns.
    pub(super) fn from_columns(kind: i64, target: Option<i64>, deleted: bool) -> Self {
        let target = to_u64(target.unwrap_or(0));
        match kind {
            1 => Self::Delete { target },
            2 => Self::Clear { through: target },
            3 => Self::Edit { target },
            4 => Self::Member,
            5 => Self::Reaction { target },
            6 => Self::Pin { target },
            7 => Self::Topic,
            _ if deleted => Self::Deleted,
            _ => Self::Message,
        }
    }

    /// Whether a client of the Channels protocol (which prints `user: message` for every frame) gets it.
    pub fn plain(&self) -> bool {
        matches!(self, Self::Message)
    }
}

/// A change to a room's history, stored as an event with the room's next id.
#[derive(Clone, Debug)]
pub struct Amendment {
    /// The room.
    pub room: RoomName,
    /// Who made it.
    pub actor: Username,
    /// The actor's account.
    pub actor_id: Option<i64>,
    /// What changes.
    pub action: Amend,
    /// Whose messages the actor may change.
    pub authority: Authority,
    /// The idempotency key: a repeat by the same owner in the same room stores nothing new and returns
    /// the first event.
    pub client_id: Option<Arc<str>>,
    /// Whose `client_id`s these are (as [`NewMessage::owner`]).
    pub owner: ClientIdOwner,
}

/// Whose messages an [`Amendment`]'s actor may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    /// Only their own: a member's edit or delete, refused in a locked room.
    Author,
    /// Any message: staff and the admin.
    Moderator,
}

/// The kinds of change to history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Amend {
    /// Delete one message (its text is replaced by a tombstone).
    Delete {
        /// The message's id.
        target: u64,
    },
    /// Delete every message of the room.
    Clear,
    /// Replace one message's text.
    Edit {
        /// The message's id.
        target: u64,
        /// The new text.
        body: MessageBody,
    },
    /// Change one person's membership (refused in a direct room, whose members never change).
    Member {
        /// The account.
        user_id: i64,
        /// Its name.
        user: String,
        /// What changes.
        change: MemberChange,
    },
    /// Create the room, with its kind, topic and first members (refused when the name is taken).
    Create(Box<NewRoom>),
    /// Add (`add`) or remove one person's reaction to a message (an account's only).
    React {
        /// The message's id.
        target: u64,
        /// The emoji (checked: one emoji).
        emoji: String,
        /// Added, or taken back.
        add: bool,
    },
    /// Pin (`add`) or unpin a message.
    Pin {
        /// The message's id.
        target: u64,
        /// Pinned, or unpinned.
        add: bool,
    },
    /// Set the room's topic (checked: at most 250 characters).
    Topic(String),
}

/// A change of one person's membership of a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Added with a role (refused when already a member).
    Added(Role),
    /// Removed by someone else.
    Removed,
    /// Left by themselves.
    Left,
    /// Given another role.
    Role(Role),
}

impl MemberChange {
    /// The `action` of its event.
    pub fn action(self) -> &'static str {
        match self {
            Self::Added(_) => "added",
            Self::Removed => "removed",
            Self::Left => "left",
            Self::Role(_) => "role",
        }
    }
}

/// A room to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRoom {
    /// Its kind.
    pub kind: RoomKind,
    /// Its topic.
    pub topic: String,
    /// For a direct room: the key of its member set, which finds it again.
    pub dm_key: Option<String>,
    /// Its members and their roles; the first is its creator.
    pub members: Vec<(i64, Username, Role)>,
}

/// A membership event as stored in its row's body: `<action> <role> <user>` (an account name holds no
/// space). Its author is who made the change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberEvent {
    /// `added`, `removed`, `left` or `role`.
    pub action: String,
    /// The role the person has after it (`member` for one who is gone).
    pub role: String,
    /// The person.
    pub user: String,
}

impl MemberEvent {
    /// The stored form.
    pub fn encode(action: &str, role: Role, user: &str) -> String {
        format!("{action} {} {user}", role.as_str())
    }

    /// From the stored form.
    pub fn decode(body: &str) -> Option<Self> {
        let mut parts = body.splitn(3, ' ');
        let (action, role, user) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Self {
            action: action.to_owned(),
            role: role.to_owned(),
            user: user.to_owned(),
        })
    }
}

/// The outcome of one append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The message as stored (for a repeated `client_id`, the original).
    pub message: StoredMessage,
    /// True when the `client_id` was seen before and nothing new was stored.
    pub duplicate: bool,
}

/// A room that has messages, for the lobby.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RoomSummary {
    /// The room's name.
    pub name: String,
    /// How many messages it holds (its last sequence number).
    pub messages: u64,
    /// Time of the last message, milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
}
