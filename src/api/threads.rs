//! `GET /api/rooms/{room}/messages/{id}/thread` (a thread: its root and a page of its replies) and
//! `GET /api/rooms/{room}/pins` (the room's pinned messages, newest pin first). Both give messages as
//! history does, with their aggregates as of the answer's `as_of` (docs/PROTOCOL.md).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::messages::{Message, aggregated};
use super::params::{DEFAULT_LIMIT, MAX_LIMIT, Room, RoomPath, id_and_limit, malformed, positive};
use crate::domain::{RoomName, rfc3339_ms};
use crate::state::AppState;
use crate::storage::Selection;

/// A thread: its root and a page of its replies.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Thread {
    /// The root message.
    pub root: Message,
    /// Replies after `after` (from the first when absent), oldest first, at most `limit`.
    pub replies: Vec<Message>,
    /// The `after` that gets the next page (this page's last reply's id); `null` when there is none.
    #[schema(minimum = 1, required = true)]
    pub after: Option<u64>,
    /// The room's last id when read (see the history's `as_of`).
    pub as_of: u64,
}

/// The room's pins.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Pins {
    /// Newest pin first (at most 50).
    pub pins: Vec<Pin>,
    /// The room's last id when read (see the history's `as_of`).
    pub as_of: u64,
}

/// A pinned message.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Pin {
    /// The message, as history gives it.
    pub message: Message,
    /// Who pinned it.
    pub pinned_by: String,
    /// When, RFC 3339 UTC with milliseconds.
    #[schema(format = DateTime)]
    pub pinned_at: String,
}

/// The thread's root, or any reply in it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ThreadPath {
    /// The room's name.
    pub room: String,
    /// A message's id: the root, or one of its replies.
    #[param(value_type = i64, minimum = 1)]
    pub id: String,
}

/// Which page of a thread's replies to answer.
#[derive(Clone, Copy, Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadQuery {
    /// Only replies with an id above this one: the `after` of the previous answer. Absent: from the first.
    #[param(minimum = 1)]
    pub after: Option<i64>,
    /// Most replies to answer (default 50); values above 200 count as 200.
    #[param(minimum = 1, default = 50)]
    pub limit: Option<i32>,
}

#[derive(Deserialize)]
struct RawThreadQuery {
    after: Option<String>,
    limit: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ThreadQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(raw) = Query::<RawThreadQuery>::from_request_parts(parts, state)
            .await
            .map_err(malformed)?;
        let (after, limit) = id_and_limit("after", raw.after, raw.limit)?;
        Ok(Self { after, limit })
    }
}

/// Reads a thread.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/messages/{id}/thread",
    tag = "rooms",
    operation_id = "get_thread",
    params(ThreadPath, ThreadQuery),
    responses(
        (status = 200, description = "The thread's root and its replies after `after`, oldest first, each with its aggregates as of `as_of`", body = Thread),
        (status = 400, description = "`invalid_parameter`: `id`, `after` or `limit` is not an integer in range", body = ErrorBody),
        (status = 401, description = "`login_required`: a guest on a members-only server, or a bad bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller is banned from the room", body = ErrorBody),
        (status = 404, description = "`invalid_room`: not a valid room name; `not_found`: no such message in the room, or a room only its members may read", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security((), ("session" = []), ("bearer" = [])),
)]
pub async fn get_thread(
    Viewer(identity): Viewer,
    path: Result<Path<ThreadPath>, PathRejection>,
    query: ThreadQuery,
    State(state): State<AppState>,
) -> Result<Json<Thread>, ApiError> {
    // A segment that is not UTF-8 once percent-decoded names no room either.
    let Path(path) = path.map_err(|_| ApiError::invalid_room())?;
    let room = RoomName::parse(&path.room).ok_or_else(ApiError::invalid_room)?;
    super::members::readable(&state, &identity, &room).await?;
    let id = positive(Some(&path.id), i64::MAX)
        .flatten()
        .and_then(|id| u64::try_from(id).ok())
        .ok_or_else(|| {
            ApiError::invalid_parameter("id must be a message id: a whole number from 1")
        })?;
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such message in this room");
    let root = state
        .store
        .db()
        .thread_root(&room, id, false)
        .await?
        .ok_or_else(not_found)?;
    let limit = query
        .limit
        .and_then(|n| u32::try_from(n).ok())
        .map_or(DEFAULT_LIMIT, |n| n.min(MAX_LIMIT));
    let after = query.after.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    let selection = Selection::Thread { root, after, limit };
    let found = aggregated(&state, &room, selection)
        .await?
        .ok_or_else(not_found)?;
    let mut messages = found
        .messages
        .into_iter()
        .map(|m| Message::of(room.as_str(), m));
    let root = messages.next().ok_or_else(not_found)?;
    let replies: Vec<Message> = messages.collect();
    let after = found.more.then(|| replies.last().map(|m| m.id)).flatten();
    Ok(Json(Thread {
        root,
        replies,
        after,
        as_of: found.as_of,
    }))
}

/// Reads the room's pins.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/pins",
    tag = "rooms",
    operation_id = "list_pins",
    params(RoomPath),
    responses(
        (status = 200, description = "The pinned messages, newest pin first, each with its aggregates as of `as_of`", body = Pins),
        (status = 401, description = "`login_required`: a guest on a members-only server, or a bad bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller is banned from the room", body = ErrorBody),
        (status = 404, description = "`invalid_room`: not a valid room name; `not_found`: a room only its members may read", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security((), ("session" = []), ("bearer" = [])),
)]
pub async fn list_pins(
    Viewer(identity): Viewer,
    Room(room): Room,
    State(state): State<AppState>,
) -> Result<Json<Pins>, ApiError> {
    super::members::readable(&state, &identity, &room).await?;
    let found = aggregated(&state, &room, Selection::Pins)
        .await?
        .unwrap_or_default();
    let pins = found
        .messages
        .into_iter()
        .zip(found.pins)
        .map(|(message, pin)| Pin {
            message: Message::of(room.as_str(), message),
            pinned_by: pin.pinned_by,
            pinned_at: rfc3339_ms(pin.pinned_at_ms),
        })
        .collect();
    Ok(Json(Pins {
        pins,
        as_of: found.as_of,
    }))
}
