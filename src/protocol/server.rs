//! The frames the server sends and their encoding (docs/PROTOCOL.md, "Server to client"): every
//! frame a client can receive is a [`ServerFrame`], encoded here; the frames that answer the client's own
//! frames (acks, refusals, `moderated`) are built from the server's values in `answers.rs`.

use serde::{Deserialize, Serialize};

use super::ErrorCode;
use crate::domain::{FileRef, FileViews, rfc3339_ms};
use crate::storage::{MemberEvent, MessageKind, StoredMessage};

/// A frame the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// A chat message. Old clients read only `message` and `user`.
    Message {
        /// Room sequence number.
        id: u64,
        /// The room.
        room: &'a str,
        /// Commit time, RFC 3339 UTC.
        ts: &'a str,
        /// Sender's name.
        user: &'a str,
        /// The text.
        message: &'a str,
        /// True for messages sent from the store on join or resume rather than live.
        history: bool,
        /// The author had no account.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        guest: bool,
        /// A bot account or an incoming webhook wrote it.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        bot: bool,
        /// The text was deleted (only v2 clients get such a tombstone).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        deleted: bool,
        /// An edit replaced the text; `message` is the newest text.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        edited: bool,
        /// For a reply: its thread's root.
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
        /// The accounts it mentions, as the server resolved them.
        #[serde(skip_serializing_if = "Names::is_empty")]
        mentions: Names<'a>,
        /// For a message with files: its own text (`message` then adds a line per file, for clients
        /// that only print `message`).
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<&'a str>,
        /// Its files.
        #[serde(skip_serializing_if = "FileViews::is_empty")]
        files: FileViews<'a>,
    },
    /// A reaction to message `target` was added or removed (v2 only). The event has its own room id.
    Reaction {
        /// The event's room sequence number.
        id: u64,
        /// The room.
        room: &'a str,
        /// Commit time, RFC 3339 UTC.
        ts: &'a str,
        /// Whose reaction.
        user: &'a str,
        /// The message's id.
        target: u64,
        /// The emoji.
        emoji: &'a str,
        /// `add` or `remove`.
        action: &'a str,
        /// True when sent from the store.
        history: bool,
    },
    /// Message `target` was pinned or unpinned (v2 only). The event has its own room id.
    Pin {
        /// The event's room sequence number.
        id: u64,
        /// The room.
        room: &'a str,
        /// Commit time, RFC 3339 UTC.
        ts: &'a str,
        /// Who pinned or unpinned it.
        user: &'a str,
        /// The message's id.
        target: u64,
        /// `add` or `remove`.
        action: &'a str,
        /// True when sent from the store.
        history: bool,
    },
    /// The room's topic was set (v2 only). The event has its own room id.
    Topic {
        /// The event's room sequence number.
        id: u64,
        /// The room.
        room: &'a str,
        /// Commit time, RFC 3339 UTC.
        ts: &'a str,
        /// Who set it.
        user: &'a str,
        /// The new topic ("" when cleared).
        topic: &'a str,
        /// True when sent from the store.
        history: bool,
    },
    /// Message `target` now reads `message` (v2 only). The event has its own room id.
    Edit {
        /// The event's room sequence number.
        id: u64,
        /// The room.
        room: &'a str,
        /// Commit time, RFC 3339 UTC.
        ts: &'a str,
        /// Who edited it (its author, or staff).
        user: &'a str,
        /// The edited message's id.
        target: u64,
        /// The new text.
        message: &'a str,
        /// True when sent from the store.
        history: bool,
    },
    /// Message `target` was deleted (v2 only). The event has its own room id.
    Delete {
        /// The event's room sequence number.
        id: u64,
        /// The room.
        room: &'a str,
        /// Commit time, RFC 3339 UTC.
        ts: &'a str,
        /// Who deleted it.
        user: &'a str,
        /// The deleted message's id.
        target: u64,
        /// True when sent from the store.
        history: bool,
    },
    /// Every message up to `through` was deleted (v2 only). The event has its own room id.
    Clear {
        /// The event's room sequence number.
        id: u64,
        /// The room.
        room: &'a str,
        /// Commit time, RFC 3339 UTC.
        ts: &'a str,
        /// Who deleted them.
        user: &'a str,
        /// The last id the deletion covers.
        through: u64,
        /// True when sent from the store.
        history: bool,
    },
    /// The room's membership changed (v2 only): `user` was `added`, `removed`, `left`, or given a new
    /// `role`, by `by`. The event has its own room id.
    Member {
        /// The event's room sequence number.
        id: u64,
        /// The room.
        room: &'a str,
        /// Commit time, RFC 3339 UTC.
        ts: &'a str,
        /// The person whose membership changed.
        user: &'a str,
        /// `added`, `removed`, `left` or `role`.
        action: &'a str,
        /// Their role after the change (`member` for someone who is gone).
        role: &'a str,
        /// Who made the change.
        by: &'a str,
        /// True when sent from the store.
        history: bool,
    },
    /// Retention removed the room's history before `first`, the first id still kept, and the client
    /// asked for some of it (v2 only): the kept messages from `first` on follow, then live.
    Truncated {
        /// The room.
        room: &'a str,
        /// The first id still kept.
        first: u64,
    },
    /// The signed-in client's last-read id in the room, sent once on connect (v2 only).
    Read {
        /// The room.
        room: &'a str,
        /// The last id read (0: nothing yet).
        id: u64,
    },
    /// The sender's message with this `client_id` is stored as `id`.
    Ack {
        /// The sender's idempotency key.
        client_id: &'a str,
        /// Room sequence number.
        id: u64,
        /// True when the message had been stored before.
        duplicate: bool,
    },
    /// A send held back by moderation (`muted`, `banned`, `slow_mode`): an `error` frame that also says
    /// when to try again. Nothing was stored.
    #[serde(rename = "error")]
    Held {
        /// Why.
        code: ErrorCode,
        /// Human-readable explanation.
        detail: &'a str,
        /// The `client_id` of the held send, when it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
        /// Milliseconds until a send may be taken.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        /// When a mute ends, RFC 3339 UTC.
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<&'a str>,
    },
    /// A staff command was carried out (and audited).
    Moderated {
        /// The command: `mute`, `unmute`, `ban`, `unban`, `kick` or `slow_mode`.
        action: &'a str,
        /// The room.
        room: &'a str,
        /// The person it concerned (an account name, or a guest's nickname).
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<&'a str>,
        /// The person is a guest (a nickname).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        guest: bool,
        /// When a mute or a timed ban ends, RFC 3339 UTC.
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<&'a str>,
        /// The command's seconds (mute, timed ban, slow mode).
        #[serde(skip_serializing_if = "Option::is_none")]
        seconds: Option<u64>,
        /// The command's `client_id`, when it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
    /// A frame held back by a limit (`rate_limited`): an `error` frame that also names the limit and
    /// says when to try again. Nothing was stored or done.
    #[serde(rename = "error")]
    Limited {
        /// Always [`ErrorCode::RateLimited`].
        code: ErrorCode,
        /// Human-readable explanation.
        detail: &'a str,
        /// Which limit (`sends`, `frames`, `new_rooms`, `replays`).
        limit: &'a str,
        /// Milliseconds to wait before sending it again.
        retry_after_ms: u64,
        /// The `client_id` of the refused send, when it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
    /// Who is in the room, sent after the history (v2 only).
    Presence {
        /// The room.
        room: &'a str,
        /// The people, sorted by name (none when `partial`).
        users: &'a [Member],
        /// How many people are in the room.
        count: usize,
        /// True when the room is too big to list its people: only `count` is given.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        partial: bool,
    },
    /// A person came into the room (v2 only).
    Join {
        /// The room.
        room: &'a str,
        /// Their name.
        user: &'a str,
        /// They have no account.
        guest: bool,
    },
    /// A person's last socket in the room went (v2 only).
    Leave {
        /// The room.
        room: &'a str,
        /// Their name.
        user: &'a str,
        /// They have no account.
        guest: bool,
    },
    /// A person is typing (v2 only).
    Typing {
        /// The room.
        room: &'a str,
        /// Their name.
        user: &'a str,
        /// They have no account.
        guest: bool,
    },
    /// A refused frame or a failed operation; the connection stays open.
    Error {
        /// Why.
        code: ErrorCode,
        /// Human-readable explanation.
        detail: &'a str,
        /// The `client_id` of the message that failed, when it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<&'a str>,
    },
}

/// A person as a `presence` frame lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Their name.
    pub user: String,
    /// They have no account.
    pub guest: bool,
}

/// Names kept separated by spaces (as `messages.mentions` holds them), written as a JSON list.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a>(pub &'a str);

impl Names<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Names<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.split(' ').filter(|name| !name.is_empty()))
    }
}

impl ServerFrame<'_> {
    /// The frame as JSON text.
    pub fn encode(&self) -> String {
        // Serialising these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A message's text followed by a line per file (its name and URL): what a client that prints only
/// `message` shows of a message with files.
fn with_file_lines(text: &str, files: &[FileRef]) -> String {
    let mut out = text.to_owned();
    for file in files {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&file.plain_line());
    }
    out
}

/// Encodes a stored row of `room` (a message, a tombstone or an event) as its frame.
pub fn message_frame(room: &str, message: &StoredMessage, history: bool) -> String {
    let ts = &rfc3339_ms(message.ts_ms);
    let (id, user) = (message.seq, message.author.as_str());
    let event = match message.kind {
        MessageKind::Member => MemberEvent::decode(&message.body).unwrap_or_default(),
        _ => MemberEvent::default(),
    };
    let files = FileRef::list(&message.files);
    let with_files;
    match message.kind {
        MessageKind::Message | MessageKind::Deleted => ServerFrame::Message {
            id,
            room,
            ts,
            user,
            message: if files.is_empty() {
                &message.body
            } else {
                with_files = with_file_lines(&message.body, &files);
                &with_files
            },
            history,
            guest: message.guest,
            bot: message.bot,
            deleted: message.kind == MessageKind::Deleted,
            edited: message.edited,
            reply_to: message.reply_to,
            mentions: Names(&message.mentions),
            text: (!files.is_empty()).then_some(message.body.as_str()),
            files: FileViews(&files),
        },
        MessageKind::Reaction { target } => {
            // `+` or `-`, then the emoji.
            let (action, emoji) = match message.body.strip_prefix('-') {
                Some(emoji) => ("remove", emoji),
                None => ("add", message.body.strip_prefix('+').unwrap_or_default()),
            };
            ServerFrame::Reaction {
                id,
                room,
                ts,
                user,
                target,
                emoji,
                action,
                history,
            }
        }
        MessageKind::Pin { target } => ServerFrame::Pin {
            id,
            room,
            ts,
            user,
            target,
            action: if message.body == "remove" {
                "remove"
            } else {
                "add"
            },
            history,
        },
        MessageKind::Topic => ServerFrame::Topic {
            id,
            room,
            ts,
            user,
            topic: &message.body,
            history,
        },
        MessageKind::Edit { target } => ServerFrame::Edit {
            id,
            room,
            ts,
            user,
            target,
            message: &message.body,
            history,
        },
        MessageKind::Delete { target } => ServerFrame::Delete {
            id,
            room,
            ts,
            user,
            target,
            history,
        },
        MessageKind::Clear { through } => ServerFrame::Clear {
            id,
            room,
            ts,
            user,
            through,
            history,
        },
        MessageKind::Member => ServerFrame::Member {
            id,
            room,
            ts,
            user: &event.user,
            action: &event.action,
            role: &event.role,
            by: user,
            history,
        },
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn message_frames_carry_the_channels_fields_and_ours() {
        let stored = StoredMessage {
            bot: false,
            seq: 3,
            ts_ms: 0,
            author: "ada".into(),
            body: "<script>\"hi\"</script>".into(),
            guest: false,
            kind: MessageKind::Message,
            edited: false,
            reply_to: None,
            mentions: String::new(),
            files: String::new(),
        };
        let value: Value =
            serde_json::from_str(&message_frame("lobby", &stored, true)).expect("json");
        assert_eq!(value["type"], "message");
        assert_eq!(value["id"], 3);
        assert_eq!(value["user"], "ada");
        assert_eq!(value["message"], "<script>\"hi\"</script>");
        assert_eq!(value["history"], true);
        assert!(value.get("guest").is_none(), "only guests' messages say so");
        assert!(value.get("deleted").is_none());
    }

    #[test]
    fn tombstones_and_deletions_have_their_own_frames() {
        let mut stored = StoredMessage {
            bot: false,
            seq: 4,
            ts_ms: 0,
            author: "mod".into(),
            body: String::new(),
            guest: true,
            kind: MessageKind::Deleted,
            edited: false,
            reply_to: None,
            mentions: String::new(),
            files: String::new(),
        };
        let value: Value = serde_json::from_str(&message_frame("r", &stored, true)).expect("json");
        assert_eq!(
            (value["deleted"].as_bool(), value["guest"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(value["message"], "");
        stored.kind = MessageKind::Delete { target: 2 };
        let value: Value = serde_json::from_str(&message_frame("r", &stored, false)).expect("json");
        assert_eq!(
            (
                value["type"].as_str(),
                value["id"].as_u64(),
                value["target"].as_u64()
            ),
            (Some("delete"), Some(4), Some(2))
        );
        assert!(
            value.get("message").is_none(),
            "not printable as a chat line"
        );
    }

    #[test]
    fn presence_frames_list_people_or_only_count_them() {
        let users = [Member {
            user: "ada".into(),
            guest: false,
        }];
        let frame = ServerFrame::Presence {
            room: "r",
            users: &users,
            count: 1,
            partial: false,
        };
        assert_eq!(
            frame.encode(),
            r#"{"type":"presence","room":"r","users":[{"user":"ada","guest":false}],"count":1}"#
        );
        let typing = ServerFrame::Typing {
            room: "r",
            user: "ada",
            guest: true,
        };
        assert_eq!(
            typing.encode(),
            r#"{"type":"typing","room":"r","user":"ada","guest":true}"#
        );
    }
}
