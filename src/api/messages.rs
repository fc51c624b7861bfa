//! `GET /api/rooms/{room}/messages`: one page of a room's history, for scrollback. Messages only (edits
//! and deletions are already applied: an edited message has its newest text, a deleted one is a
//! tombstone), oldest first, with the `before` to pass for the next older page.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody};
use super::params::{PageQuery, Room, RoomPath};
use crate::domain::rfc3339_ms;
use crate::state::AppState;
use crate::storage::{MessageKind, StoredMessage};

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
    /// Present and true for a tombstone: the message was deleted, its text is gone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    pub deleted: bool,
    /// Present and true when an edit replaced the text.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    pub edited: bool,
}

impl Message {
    fn of(room: &str, stored: StoredMessage) -> Self {
        let deleted = stored.kind == MessageKind::Deleted;
        Self {
            id: stored.seq,
            room: room.to_owned(),
            ts: rfc3339_ms(stored.ts_ms),
            user: stored.author,
            message: if deleted { String::new() } else { stored.body },
            guest: stored.guest,
            deleted,
            edited: stored.edited && !deleted,
        }
    }
}

/// Reads a page of a room's messages.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/messages",
    tag = "rooms",
    operation_id = "list_messages",
    params(RoomPath, PageQuery),
    responses(
        (status = 200, description = "Messages with ids below `before` (the newest when absent), at most `limit`, oldest first; a room without messages has an empty list", body = MessagePage),
        (status = 400, description = "`invalid_parameter`: `before` or `limit` is not an integer in range", body = ErrorBody),
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
    let found = state
        .store
        .db()
        .history_page(&room, page.before(), page.limit())
        .await?;
    let before = found
        .more
        .then(|| found.messages.first().map(|m| m.seq))
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
    }))
}
