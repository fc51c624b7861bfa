//! `GET /api/rooms/`: the rooms with messages the caller may see listed (the public ones, and the private
//! and direct ones they are a member of), most recently active first, each with its kind and the caller's
//! role, who is in it now and, for a signed-in user who has read in it, how many messages they have not
//! read.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody};
use crate::domain::rfc3339_ms;
use crate::domain::{Role, RoomKind, RoomName};
use crate::state::AppState;

/// Most rooms one answer lists.
pub const MAX_ROOMS: u32 = 200;

/// The rooms, most recently active first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RoomList {
    /// At most 200 rooms that have messages, most recently active first.
    pub rooms: Vec<RoomEntry>,
}

/// One room of the list.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "lobby", "kind": "public", "role": null, "topic": "", "last_id": 42, "last_activity": "2026-12-01T11:00:00.000Z", "members": 3, "unread": 5, "mentions": 1}))]
pub struct RoomEntry {
    /// The room's name.
    pub name: String,
    /// Its kind: `public`, `private` or `direct`.
    pub kind: RoomKind,
    /// The caller's role in it (`null`: not a member).
    #[schema(required = true)]
    pub role: Option<Role>,
    /// Its topic ("" when none).
    pub topic: String,
    /// The room's last id (of a message or an event): a socket that resumes from it misses nothing.
    #[schema(minimum = 1)]
    pub last_id: u64,
    /// When the room last changed, RFC 3339 UTC with milliseconds.
    #[schema(format = DateTime)]
    pub last_activity: String,
    /// People in the room now (one per person, whatever their number of tabs).
    pub members: u64,
    /// For a signed-in user with a read mark in the room: the messages after it that are not theirs and
    /// not deleted, counted up to 1000 (1000 means "1000 or more"). `null` for guests and for rooms the
    /// user has never read.
    #[schema(required = true, maximum = 1000)]
    pub unread: Option<u64>,
    /// For a signed-in user: the messages after their read mark (from the room's beginning when they never
    /// read it) that mention them and are not deleted, counted up to 1000; 0 for guests.
    #[schema(maximum = 1000)]
    pub mentions: u64,
}

/// Lists the rooms.
#[utoipa::path(
    get,
    path = "/api/rooms/",
    tag = "rooms",
    operation_id = "list_rooms",
    responses(
        (status = 200, description = "The rooms, most recently active first", body = RoomList),
        (status = 401, description = "`login_required`: a guest on a members-only server, or a bad bearer token", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security((), ("session" = []), ("bearer" = [])),
)]
pub async fn list_rooms(
    Viewer(identity): Viewer,
    State(state): State<AppState>,
) -> Result<Json<RoomList>, ApiError> {
    let rooms = state
        .store
        .db()
        .room_activity(identity.user_id(), MAX_ROOMS)
        .await?;
    let mut entries = Vec::with_capacity(rooms.len());
    for room in rooms {
        let name = RoomName::parse(&room.name);
        let members = name
            .as_ref()
            .map_or(0, |name| state.presence.member_count(name));
        let (mut unread, mut mentions) = (room.unread, room.mentions);
        // A mark from the last second is not in the database yet: count from it instead.
        if let (Some(user_id), Some(name)) = (identity.user_id(), name.as_ref())
            && let Some(mark) = state.store.pending_mark(user_id, name)
        {
            let db = state.store.db();
            unread = Some(db.unread_after(user_id, name, mark).await?);
            mentions = db.mentions_after(user_id, name, mark).await?;
        }
        entries.push(RoomEntry {
            kind: room.kind,
            role: room.role,
            topic: room.topic,
            last_id: room.last_seq,
            last_activity: rfc3339_ms(room.updated_at_ms),
            members: u64::try_from(members).unwrap_or(u64::MAX),
            unread,
            mentions,
            name: room.name,
        });
    }
    Ok(Json(RoomList { rooms: entries }))
}
