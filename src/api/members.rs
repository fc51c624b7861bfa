//! The API that changes rooms (issue 18): create a room, open a direct room, list, add and remove members,
//! change roles and the topic, make invite links. Session + CSRF header, or a bearer token. Every decision
//! is [`crate::access`]'s; this file only turns JSON into its calls and its answers into JSON.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody};
use super::params::{Room, RoomPath};
use crate::access::{Denied, Grant, MAX_INVITE_SECS, MAX_INVITE_USES};
use crate::accounts::Identity;
use crate::accounts::SignedIn;
use crate::domain::rfc3339_ms;
use crate::domain::{Role, RoomKind, RoomName};
use crate::state::AppState;
use crate::storage::MemberRow;

/// A JSON object body whose every refusal is an [`ApiError`] (`invalid_parameter`). Only an object: serde
/// would also read a struct from an array of its fields, which no client means.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(request, state)
            .await
            .map_err(|rejection: JsonRejection| {
                ApiError::invalid_parameter(rejection.body_text())
            })?;
        if !value.is_object() {
            return Err(ApiError::invalid_parameter(
                "the body must be a JSON object",
            ));
        }
        serde_json::from_value(value)
            .map(Self)
            .map_err(|error| ApiError::invalid_parameter(format!("the body: {error}")))
    }
}

/// A signed-in caller (guests may not change rooms) whose state-changing request passed the CSRF check:
/// signed in by a bearer token alone, or carrying the `csrftoken` cookie's value in `X-CSRFToken`.
pub struct Caller(pub std::sync::Arc<SignedIn>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = match Viewer::from_request_parts(parts, state).await?.0 {
            Identity::User(user) => user,
            Identity::Guest(_) => {
                return Err(ApiError::login_required(
                    "log in, or send Authorization: Bearer <token>, to change rooms",
                ));
            }
        };
        let safe = matches!(parts.method, Method::GET | Method::HEAD);
        if !safe && !crate::accounts::csrf::header_check(&parts.headers) {
            return Err(ApiError::new(
                super::ErrorCode::Forbidden,
                "CSRF verification failed: send the csrftoken cookie's value in the X-CSRFToken header",
            ));
        }
        Ok(Self(user))
    }
}

/// `{user}` in a member's path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The room's name (read through [`Room`]; here for the OpenAPI document).
    #[allow(dead_code)]
    pub room: String,
    /// The member's account name.
    pub user: String,
}

/// A room as its creator or member sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "plans", "kind": "private", "topic": "Q3", "role": "owner", "members": [{"user": "ada", "role": "owner"}]}))]
pub struct RoomInfo {
    /// The room's name (served at `/chat/<name>/` and `/ws/chat/<name>/`).
    pub name: String,
    /// Its kind.
    pub kind: RoomKind,
    /// Its topic ("" when none).
    pub topic: String,
    /// Read-only: its members' sends, edits and deletions are refused (`room_locked`).
    pub locked: bool,
    /// The caller's role.
    #[schema(required = true)]
    pub role: Option<Role>,
    /// Its members.
    pub members: Vec<Member>,
}

/// One member of a room.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"user": "ada", "role": "owner"}))]
pub struct Member {
    /// The account's name.
    pub user: String,
    /// Its role.
    pub role: Role,
}

impl From<MemberRow> for Member {
    fn from(row: MemberRow) -> Self {
        Self {
            user: row.username,
            role: row.role,
        }
    }
}

/// A room to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoomBody {
    /// The name: 1 to 64 letters or digits of any script, `-`, `_` or `.`.
    #[schema(min_length = 1, max_length = 64, example = "plans")]
    pub name: String,
    /// `public` (the default) or `private`; direct rooms come from `POST /api/dms/`.
    #[serde(default)]
    pub kind: NewRoomKind,
    /// At most 250 characters.
    #[serde(default)]
    #[schema(max_length = 250)]
    pub topic: String,
}

/// The kinds of room `POST /api/rooms/` creates.
#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NewRoomKind {
    /// Anyone may read and write.
    #[default]
    Public,
    /// Members only.
    Private,
}

impl From<NewRoomKind> for RoomKind {
    fn from(kind: NewRoomKind) -> Self {
        match kind {
            NewRoomKind::Public => Self::Public,
            NewRoomKind::Private => Self::Private,
        }
    }
}

/// A JSON number that is a whole number (`312.0` counts: JSON does not tell them apart).
fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    let value = number
        .as_u64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..1e15).contains(f))
                .map(|f| f as u64)
        })
        .ok_or_else(|| D::Error::custom("expected a whole number"))?;
    T::try_from(value).map_err(|_| D::Error::custom("the number is out of range"))
}

/// The people of a direct room.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectBody {
    /// The other people's account names (1 to 7).
    #[schema(min_items = 1, max_items = 7, example = json!(["bob"]))]
    pub users: Vec<String>,
}

/// A member to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberBody {
    /// The account's name.
    pub user: String,
    /// Its role (default `member`; any other is for owners to give).
    #[serde(default = "member")]
    pub role: Role,
}

fn member() -> Role {
    Role::Member
}

/// A new role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// The role.
    pub role: Role,
}

/// A new topic.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicBody {
    /// A new topic, at most 250 characters ("" clears it): owners, moderators and staff.
    #[serde(default)]
    #[schema(max_length = 250)]
    pub topic: Option<String>,
    /// Lock the room (read-only for its members) or open it: moderators and owners.
    #[serde(default)]
    pub locked: Option<bool>,
}

/// What an invite link allows.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    /// How many people may join with it (1 to 1000; default 1).
    #[serde(default = "one", deserialize_with = "whole")]
    #[schema(minimum = 1, maximum = 1000)]
    pub max_uses: u32,
    /// How long it works, in seconds (60 to 30 days; default a day).
    #[serde(default = "day", deserialize_with = "whole")]
    #[schema(minimum = 60, maximum = 2592000)]
    pub expires_in_secs: u64,
}

fn one() -> u32 {
    1
}

fn day() -> u64 {
    86_400
}

/// A new invite link.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"url": "/invite/4f1c.../", "expires": "2026-12-08T11:00:00.000Z", "max_uses": 10}))]
pub struct InviteLink {
    /// The link's path; the token in it is shown once and not kept.
    pub url: String,
    /// When it stops working, RFC 3339 UTC.
    pub expires: String,
    /// How many may join with it.
    pub max_uses: u32,
}

/// `identity`'s grant in `room`, refusing whoever may not read it: 404 as for no room (they learn
/// nothing of it), 403 for someone banned from it.
pub(super) async fn readable(
    state: &AppState,
    identity: &Identity,
    room: &RoomName,
) -> Result<Grant, ApiError> {
    let grant = state.access.grant(identity, room).await?;
    match grant.refusal() {
        Some(Denied::Banned) => Err(ApiError::new(
            super::ErrorCode::Forbidden,
            "you are banned from this room",
        )),
        Some(Denied::Hidden) => Err(ApiError::new(super::ErrorCode::NotFound, "no such room")),
        None => Ok(grant),
    }
}

async fn info(state: &AppState, room: &RoomName, role: Option<Role>) -> Result<RoomInfo, ApiError> {
    let db = state.store.db();
    let access = db.room_access(room.as_str(), None).await?;
    let members = db.members(room.as_str()).await?;
    Ok(RoomInfo {
        name: room.as_str().to_owned(),
        kind: access.as_ref().map(|a| a.kind).unwrap_or_default(),
        locked: access.as_ref().is_some_and(|a| a.locked),
        topic: access.map(|a| a.topic).unwrap_or_default(),
        role,
        members: members.into_iter().map(Member::from).collect(),
    })
}

/// Creates a room owned by the caller.
#[utoipa::path(
    post,
    path = "/api/rooms/",
    tag = "rooms",
    operation_id = "create_room",
    request_body = NewRoomBody,
    responses(
        (status = 201, description = "Created; the caller owns it", body = RoomInfo),
        (status = 400, description = "`invalid_parameter`: a bad kind, topic or body", body = ErrorBody),
        (status = 401, description = "`login_required`: guests cannot create rooms", body = ErrorBody),
        (status = 403, description = "`forbidden`: the CSRF header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`invalid_room`: the name is not a valid room name", body = ErrorBody),
        (status = 409, description = "`conflict`: a room of that name exists", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn create_room(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Body(body): Body<NewRoomBody>,
) -> Result<(StatusCode, Json<RoomInfo>), ApiError> {
    let name = RoomName::parse(&body.name).ok_or_else(ApiError::invalid_room)?;
    state
        .access
        .create_room(&caller, name.clone(), body.kind.into(), &body.topic)
        .await?;
    let info = info(&state, &name, Some(Role::Owner)).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// Opens (or finds) the direct room of the caller and the people named.
#[utoipa::path(
    post,
    path = "/api/dms/",
    tag = "rooms",
    operation_id = "open_direct",
    request_body = DirectBody,
    responses(
        (status = 200, description = "The direct room of these people (the same whoever asks, in any order)", body = RoomInfo),
        (status = 400, description = "`invalid_parameter`: more than 8 people, or a bad body", body = ErrorBody),
        (status = 401, description = "`login_required`: guests have no direct rooms", body = ErrorBody),
        (status = 403, description = "`forbidden`: nobody else named, or the CSRF header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`not_found`: no such user", body = ErrorBody),
        (status = 409, description = "`conflict`: opened at the same moment elsewhere; try again", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn open_direct(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Body(body): Body<DirectBody>,
) -> Result<Json<RoomInfo>, ApiError> {
    if body.users.len() > crate::access::MAX_DIRECT_MEMBERS {
        return Err(ApiError::invalid_parameter("at most 7 other people"));
    }
    let (room, _) = state.access.open_direct(&caller, &body.users).await?;
    Ok(Json(info(&state, &room, Some(Role::Member)).await?))
}

/// Changes a room's topic or locks it (moderators, owners and staff); a new topic is an event of the room.
#[utoipa::path(
    patch,
    path = "/api/rooms/{room}",
    tag = "rooms",
    operation_id = "update_room",
    params(RoomPath),
    request_body = TopicBody,
    responses(
        (status = 200, description = "The room, as changed", body = RoomInfo),
        (status = 400, description = "`invalid_parameter`: a bad topic or body", body = ErrorBody),
        (status = 401, description = "`login_required`: guests cannot change rooms", body = ErrorBody),
        (status = 403, description = "`forbidden`: the topic is for owners, locking for moderators and owners; or the CSRF header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`invalid_room` or `not_found`: no such room the caller may read", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn update_room(
    Caller(caller): Caller,
    Room(room): Room,
    State(state): State<AppState>,
    Body(body): Body<TopicBody>,
) -> Result<Json<RoomInfo>, ApiError> {
    let grant = readable(&state, &Identity::User(caller.clone()), &room).await?;
    if let Some(topic) = &body.topic {
        state
            .access
            .set_topic(&caller, &grant, &room, topic)
            .await?;
    }
    if let Some(locked) = body.locked {
        state
            .access
            .set_locked(&caller, &grant, &room, locked)
            .await?;
    }
    Ok(Json(info(&state, &room, grant.role).await?))
}

/// Lists a room's members and their roles (for whoever may read the room: in a public room, anyone,
/// guests included; it lists the people who hold a role there).
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/members",
    tag = "rooms",
    operation_id = "list_members",
    params(RoomPath),
    responses(
        (status = 200, description = "The members, owners first", body = [Member]),
        (status = 401, description = "`login_required`: a guest on a members-only server, or a bad bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: the caller is banned from the room", body = ErrorBody),
        (status = 404, description = "`invalid_room` or `not_found`: no such room the caller may read", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security((), ("session" = []), ("bearer" = [])),
)]
pub async fn list_members(
    Viewer(identity): Viewer,
    Room(room): Room,
    State(state): State<AppState>,
) -> Result<Json<Vec<Member>>, ApiError> {
    readable(&state, &identity, &room).await?;
    let members = state.store.db().members(room.as_str()).await?;
    Ok(Json(members.into_iter().map(Member::from).collect()))
}

/// Adds a member (owners and moderators; roles above member: owners).
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/members",
    tag = "rooms",
    operation_id = "add_member",
    params(RoomPath),
    request_body = AddMemberBody,
    responses(
        (status = 201, description = "Added", body = Member),
        (status = 400, description = "`invalid_parameter`: a bad body", body = ErrorBody),
        (status = 401, description = "`login_required`: guests cannot change rooms", body = ErrorBody),
        (status = 403, description = "`forbidden`: not allowed to (a direct room's members never change), or the CSRF header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`invalid_room` or `not_found`: no such room the caller may read, or no such user", body = ErrorBody),
        (status = 409, description = "`conflict`: already a member", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn add_member(
    Caller(caller): Caller,
    Room(room): Room,
    State(state): State<AppState>,
    Body(body): Body<AddMemberBody>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let grant = readable(&state, &Identity::User(caller.clone()), &room).await?;
    state
        .access
        .add_member(&caller, &grant, &room, &body.user, body.role)
        .await?;
    let member = Member {
        user: body.user.trim().to_owned(),
        role: body.role,
    };
    Ok((StatusCode::CREATED, Json(member)))
}

/// Changes a member's role (owners).
#[utoipa::path(
    patch,
    path = "/api/rooms/{room}/members/{user}",
    tag = "rooms",
    operation_id = "update_member",
    params(MemberPath),
    request_body = RoleBody,
    responses(
        (status = 200, description = "Changed", body = Member),
        (status = 400, description = "`invalid_parameter`: a bad body", body = ErrorBody),
        (status = 401, description = "`login_required`: guests cannot change rooms", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an owner, or the CSRF header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`invalid_room` or `not_found`: no such room the caller may read, user or member", body = ErrorBody),
        (status = 409, description = "`conflict`: the only owner cannot step down", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn update_member(
    Caller(caller): Caller,
    Room(room): Room,
    Path(path): Path<MemberPath>,
    State(state): State<AppState>,
    Body(body): Body<RoleBody>,
) -> Result<Json<Member>, ApiError> {
    let grant = readable(&state, &Identity::User(caller.clone()), &room).await?;
    state
        .access
        .set_role(&caller, &grant, &room, &path.user, body.role)
        .await?;
    Ok(Json(Member {
        user: path.user,
        role: body.role,
    }))
}

/// Removes a member (owners; moderators remove members), or leaves (anyone, themselves).
#[utoipa::path(
    delete,
    path = "/api/rooms/{room}/members/{user}",
    tag = "rooms",
    operation_id = "remove_member",
    params(MemberPath),
    responses(
        (status = 204, description = "Removed (their sockets in the room close with 4403 on every node)"),
        (status = 401, description = "`login_required`: guests cannot change rooms", body = ErrorBody),
        (status = 403, description = "`forbidden`: not allowed to, or the CSRF header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`invalid_room` or `not_found`: no such room the caller may read, user or member", body = ErrorBody),
        (status = 409, description = "`conflict`: the only owner cannot leave", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn remove_member(
    Caller(caller): Caller,
    Room(room): Room,
    Path(path): Path<MemberPath>,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    let grant = readable(&state, &Identity::User(caller.clone()), &room).await?;
    state
        .access
        .remove_member(&caller, &grant, &room, &path.user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes an invite link to a private room (owners and moderators).
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/invites",
    tag = "rooms",
    operation_id = "create_invite",
    params(RoomPath),
    request_body = InviteBody,
    responses(
        (status = 201, description = "The link (its token is shown once)", body = InviteLink),
        (status = 400, description = "`invalid_parameter`: uses or lifetime out of range, or a bad body", body = ErrorBody),
        (status = 401, description = "`login_required`: guests cannot invite", body = ErrorBody),
        (status = 403, description = "`forbidden`: not a private room, not allowed to, or the CSRF header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`invalid_room` or `not_found`: no such room the caller may read", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn create_invite(
    Caller(caller): Caller,
    Room(room): Room,
    State(state): State<AppState>,
    Body(body): Body<InviteBody>,
) -> Result<(StatusCode, Json<InviteLink>), ApiError> {
    let grant = readable(&state, &Identity::User(caller.clone()), &room).await?;
    if body.max_uses > MAX_INVITE_USES || body.expires_in_secs > MAX_INVITE_SECS {
        return Err(ApiError::invalid_parameter(
            "max_uses is 1 to 1000; expires_in_secs 60 to 2592000",
        ));
    }
    let invite = state
        .access
        .invite(&caller, &grant, &room, body.max_uses, body.expires_in_secs)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InviteLink {
            url: invite.url,
            expires: rfc3339_ms(invite.expires_at_ms),
            max_uses: body.max_uses,
        }),
    ))
}
