//! `GET /api/rooms/{room}/messages`: one page of a room's history, for scrollback. Messages only (edits
//! and deletions are already applied: an edited message has its newest text, a deleted one is a
//! tombstone), oldest first, with the `before` to pass for the next older page. Each message carries what
//! its replies, reactions and pin add up to, as of the page's `as_of` (docs/PROTOCOL.md); a thread and
//! the room's pins are read the same way (`threads.rs`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody};
use super::params::{PageQuery, Room, RoomPath};
use crate::domain::{RoomName, rfc3339_ms};
use crate::state::AppState;
use crate::stats::Stats;
use crate::storage::{Aggregated, Aggregates, MessageKind, Selection, StoredMessage};

/// One page of a room's messages.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// The room.
    pub room: String,
    /// At most `limit` messages, oldest first.
    pub messages: Vec<Message>,
    /// The `before` that gets the next older page (the id of this page's first message); `null` when
    /// there is no older message.
    #[schema(minimum = 1, required = true)]
    pub before: Option<u64>,
    /// Asked with `around`: the id of the page's last message when newer ones exist (ask `around` it to
    /// read on), else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, required = false)]
    pub after: Option<u64>,
    /// The room's last id when the page was read: the aggregates count every event up to it, so a
    /// client applies only later events to these messages.
    pub as_of: u64,
}

/// A message, as in the socket's `message` frame (without `type` and `history`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 7, "room": "lobby", "ts": "2026-12-01T11:00:00.000Z", "user": "ada", "message": "hi", "edited": true}))]
pub struct Message {
    /// Its id: the room's sequence number.
    #[schema(minimum = 1)]
    pub id: u64,
    /// The room.
    pub room: String,
    /// When it was stored, RFC 3339 UTC with milliseconds.
    #[schema(format = DateTime)]
    pub ts: String,
    /// Its author's name.
    pub user: String,
    /// Its text (the newest, when edited; "" when deleted).
    pub message: String,
    /// Present and true when the author had no account.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    pub guest: bool,
    /// Present and true when a bot account or an incoming webhook wrote it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    pub bot: bool,
    /// Present and true for a tombstone: the message was deleted, its text is gone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    pub deleted: bool,
    /// Present and true when an edit replaced the text.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    pub edited: bool,
    /// For a reply: its thread's root.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, minimum = 1)]
    pub reply_to: Option<u64>,
    /// The accounts it mentions, as the server resolved them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub mentions: Vec<String>,
    /// For a thread's root: how many replies it has (deleted ones included).
    #[serde(skip_serializing_if = "is_zero")]
    #[schema(required = false, minimum = 1)]
    pub replies: u64,
    /// For a thread's root: its newest reply's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, minimum = 1)]
    pub last_reply_id: Option<u64>,
    /// Its reactions, each emoji in the order it was first used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub reactions: Vec<Reaction>,
    /// Present and true when it is pinned.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    pub pinned: bool,
    /// Its files (none once it is deleted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub files: Vec<super::files::FileInfo>,
}

/// One emoji's reactions to a message.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// How many people reacted with it (exact).
    pub count: u64,
    /// Who, in the order they reacted: the first 20.
    pub users: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Message {
    /// A stored message of `room` with its aggregates.
    pub(super) fn of(room: &str, (stored, aggregates): (StoredMessage, Aggregates)) -> Self {
        let deleted = stored.kind == MessageKind::Deleted;
        Self {
            id: stored.seq,
            room: room.to_owned(),
            ts: rfc3339_ms(stored.ts_ms),
            mentions: stored.mentioned().map(str::to_owned).collect(),
            user: stored.author,
            message: if deleted { String::new() } else { stored.body },
            guest: stored.guest,
            bot: stored.bot,
            deleted,
            edited: stored.edited && !deleted,
            reply_to: stored.reply_to,
            replies: aggregates.replies,
            last_reply_id: aggregates.last_reply_id,
            reactions: aggregates
                .reactions
                .into_iter()
                .map(|r| Reaction {
                    emoji: r.emoji,
                    count: r.count,
                    users: r.users,
                })
                .collect(),
            pinned: aggregates.pinned,
            files: crate::domain::FileRef::list(&stored.files)
                .iter()
                .map(super::files::FileInfo::from)
                .collect(),
        }
    }
}

/// Reads `selection` of `room` with its aggregates, counting the queries in the node's stats.
pub(super) async fn aggregated(
    state: &AppState,
    room: &RoomName,
    selection: Selection,
) -> Result<Option<Aggregated>, ApiError> {
    let stats = &state.stats;
    let count = || Stats::add(&stats.history_queries, 1);
    Ok(state.store.db().aggregated(room, selection, &count).await?)
}

/// Reads a page of a room's messages.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/messages",
    tag = "rooms",
    operation_id = "list_messages",
    params(RoomPath, PageQuery),
    responses(
        (status = 200, description = "Messages with ids below `before` (the newest when absent; or around `around`), at most `limit`, oldest first, each with its replies, reactions and pin as of `as_of`; a room without messages has an empty list", body = MessagePage),
        (status = 400, description = "`invalid_parameter`: `before`, `around` or `limit` is not an integer in range", body = ErrorBody),
        (status = 401, description = "`login_required`: a guest on a members-only server, or a bad bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller is banned from the room", body = ErrorBody),
        (status = 404, description = "`invalid_room`: not a valid room name; `not_found`: a room only its members may read", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security((), ("session" = []), ("bearer" = [])),
)]
pub async fn list_messages(
    Viewer(identity): Viewer,
    Room(room): Room,
    page: PageQuery,
    State(state): State<AppState>,
) -> Result<Json<MessagePage>, ApiError> {
    super::members::readable(&state, &identity, &room).await?;
    let selection = match page.around() {
        Some(id) => Selection::Around {
            id,
            limit: page.limit(),
        },
        None => Selection::Page {
            before: page.before(),
            limit: page.limit(),
        },
    };
    let found = aggregated(&state, &room, selection)
        .await?
        .unwrap_or_default();
    let before = found
        .more
        .then(|| found.messages.first().map(|(m, _)| m.seq))
        .flatten();
    let after = found
        .newer
        .then(|| found.messages.last().map(|(m, _)| m.seq))
        .flatten();
    let messages = found
        .messages
        .into_iter()
        .map(|m| Message::of(room.as_str(), m))
        .collect();
    Ok(Json(MessagePage {
        room: room.as_str().to_owned(),
        messages,
        before,
        after,
        as_of: found.as_of,
    }))
}
