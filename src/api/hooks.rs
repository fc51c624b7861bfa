//! Outgoing webhooks over the API (issue 21): register a receiver for a room (its owners and staff) or
//! for every room (staff), list them, remove one, and read its recent deliveries. The secret that signs
//! the batches is answered once, at registration. Every decision is `crate::hooks::Webhooks`'s (which
//! asks the one access check); this file turns JSON into its calls and its answers into JSON.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::members::{Body, Caller};
use super::params::{Room, RoomPath};
use crate::domain::rfc3339_ms;
use crate::hooks::{EventName, HookError, Scope};
use crate::state::AppState;
use crate::storage::{DeliveryRow, HookRow};

impl From<HookError> for ApiError {
    fn from(error: HookError) -> Self {
        match error {
            HookError::NotFound(detail) => Self::new(ErrorCode::NotFound, detail),
            HookError::Forbidden(detail) => Self::new(ErrorCode::Forbidden, detail),
            HookError::Invalid(detail) => Self::invalid_parameter(detail),
            HookError::Refused(refused) => refused.into(),
            HookError::Store(cause) => Self::internal(&cause),
        }
    }
}

/// A hook to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://ci.example.com/chatweb", "events": ["message_created", "member_added"]}))]
pub struct NewHookBody {
    /// Where batches are POSTed: https, a public host (or one of `--webhook-hosts`). Whether it may be
    /// asked depends on its addresses: a refused one gets 422 with the reason's code.
    #[schema(max_length = 2048)]
    pub url: String,
    /// What it hears (each name once or more; at least one).
    #[schema(min_items = 1)]
    pub events: Vec<HookEvent>,
}

/// An event a hook may hear (docs/PROTOCOL.md, "Outgoing webhooks").
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookEvent {
    /// A message was stored.
    MessageCreated,
    /// A message was edited.
    MessageEdited,
    /// A message (or every message up to one) was deleted.
    MessageDeleted,
    /// Someone became a member.
    MemberAdded,
    /// Someone was removed, or left.
    MemberRemoved,
    /// The room's first socket anywhere arrived (it had nobody).
    RoomOccupied,
    /// The room's last socket anywhere went.
    RoomVacated,
}

impl From<HookEvent> for EventName {
    fn from(event: HookEvent) -> Self {
        match event {
            HookEvent::MessageCreated => Self::MessageCreated,
            HookEvent::MessageEdited => Self::MessageEdited,
            HookEvent::MessageDeleted => Self::MessageDeleted,
            HookEvent::MemberAdded => Self::MemberAdded,
            HookEvent::MemberRemoved => Self::MemberRemoved,
            HookEvent::RoomOccupied => Self::RoomOccupied,
            HookEvent::RoomVacated => Self::RoomVacated,
        }
    }
}

/// A hook just registered.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 3, "secret": "whsec_4f1c..."}))]
pub struct RegisteredHook {
    /// Its id.
    pub id: i64,
    /// The secret its batches are signed with (`X-Chatweb-Signature`), shown this once.
    pub secret: String,
}

/// A hook (never with its secret).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 3, "room": "lobby", "url": "https://ci.example.com/chatweb", "events": ["message_created"], "created_by": "ada", "created": "2026-12-07T11:00:00.000Z"}))]
pub struct Hook {
    /// Its id.
    pub id: i64,
    /// Its room (`null`: every room but direct ones).
    #[schema(required = true)]
    pub room: Option<String>,
    /// Where batches are POSTed.
    pub url: String,
    /// What it hears.
    pub events: Vec<String>,
    /// Who registered it.
    pub created_by: String,
    /// When, RFC 3339 UTC.
    pub created: String,
}

impl From<HookRow> for Hook {
    fn from(row: HookRow) -> Self {
        Self {
            id: row.id,
            room: row.room.map(|(_, name)| name),
            url: row.url,
            events: EventName::list(&row.events)
                .into_iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            created_by: row.creator,
            created: rfc3339_ms(row.created_at_ms),
        }
    }
}

/// One attempt to deliver a batch.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"at": "2026-12-07T11:00:01.000Z", "room": "lobby", "first_id": 41, "last_id": 42, "events": 2, "result": "delivered", "status": 200, "detail": "", "attempt": 1}))]
pub struct Delivery {
    /// When, RFC 3339 UTC.
    pub at: String,
    /// The room of the batch.
    pub room: String,
    /// The first id of the room the batch covers (for a batch of `room_occupied`/`room_vacated` events,
    /// the first occupancy event's number).
    pub first_id: u64,
    /// The last id it covers.
    pub last_id: u64,
    /// Events in it.
    pub events: u32,
    /// `delivered`, `failed` (retried) or `gave_up` (passed over after `--webhook-give-up-secs`).
    pub result: String,
    /// The receiver's HTTP status (0: no answer).
    pub status: u16,
    /// What went wrong ("" when delivered).
    pub detail: String,
    /// Which attempt at this batch (1 for the first).
    pub attempt: u32,
}

impl From<DeliveryRow> for Delivery {
    fn from(row: DeliveryRow) -> Self {
        Self {
            at: rfc3339_ms(row.at_ms),
            room: row.room,
            first_id: row.first_seq,
            last_id: row.last_seq,
            events: row.events,
            result: row.result,
            status: row.status,
            detail: row.detail,
            attempt: row.attempt,
        }
    }
}

/// `{id}` in a hook's path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct HookPath {
    /// The hook's id.
    pub id: String,
}

/// A hook's id from the path; anything but a number is a hook that does not exist.
pub struct HookId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for HookId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(path) = Path::<HookPath>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::new(ErrorCode::NotFound, "no such hook"))?;
        path.id
            .parse()
            .map(Self)
            .map_err(|_| ApiError::new(ErrorCode::NotFound, "no such hook"))
    }
}

async fn register(
    state: &AppState,
    caller: Caller,
    scope: Scope,
    body: NewHookBody,
) -> Result<(StatusCode, Json<RegisteredHook>), ApiError> {
    let events: Vec<String> = body
        .events
        .into_iter()
        .map(|event| EventName::from(event).as_str().to_owned())
        .collect();
    let registered = state
        .webhooks
        .register(&caller.0, &scope, &body.url, &events)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredHook {
            id: registered.id,
            secret: registered.secret,
        }),
    ))
}

/// Registers an outgoing webhook for a room.
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/hooks/outgoing",
    tag = "hooks",
    operation_id = "create_room_hook",
    params(RoomPath),
    request_body = NewHookBody,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = RegisteredHook),
        (status = 400, description = "`invalid_parameter`: unknown events, a bad body, too many hooks", body = ErrorBody),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an owner of the room nor staff, or the CSRF header is missing", body = ErrorBody),
        (status = 404, description = "`invalid_room` or `not_found`: no such room the caller may read (or it has no messages yet)", body = ErrorBody),
        (status = 422, description = "`invalid_url`, `not_https`, `private_address`, `unresolvable`: the URL is refused", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn create_room_hook(
    caller: Caller,
    Room(room): Room,
    State(state): State<AppState>,
    Body(body): Body<NewHookBody>,
) -> Result<(StatusCode, Json<RegisteredHook>), ApiError> {
    register(&state, caller, Scope::Room(room), body).await
}

/// Registers an outgoing webhook for every room but direct ones (staff).
#[utoipa::path(
    post,
    path = "/api/hooks/outgoing",
    tag = "hooks",
    operation_id = "create_hook",
    request_body = NewHookBody,
    responses(
        (status = 201, description = "Registered; the secret is shown this once", body = RegisteredHook),
        (status = 400, description = "`invalid_parameter`: unknown events, a bad body, too many hooks", body = ErrorBody),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 403, description = "`forbidden`: not staff, or the CSRF header is missing", body = ErrorBody),
        (status = 422, description = "`invalid_url`, `not_https`, `private_address`, `unresolvable`: the URL is refused", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn create_hook(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<NewHookBody>,
) -> Result<(StatusCode, Json<RegisteredHook>), ApiError> {
    register(&state, caller, Scope::All, body).await
}

/// Lists a room's outgoing webhooks.
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/hooks/outgoing",
    tag = "hooks",
    operation_id = "list_room_hooks",
    params(RoomPath),
    responses(
        (status = 200, description = "The room's hooks, oldest first", body = Vec<Hook>),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an owner of the room nor staff", body = ErrorBody),
        (status = 404, description = "`invalid_room` or `not_found`: no such room the caller may read", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn list_room_hooks(
    Caller(caller): Caller,
    Room(room): Room,
    State(state): State<AppState>,
) -> Result<Json<Vec<Hook>>, ApiError> {
    let hooks = state.webhooks.list(&caller, &Scope::Room(room)).await?;
    Ok(Json(hooks.into_iter().map(Hook::from).collect()))
}

/// Lists the outgoing webhooks of every room (staff).
#[utoipa::path(
    get,
    path = "/api/hooks/outgoing",
    tag = "hooks",
    operation_id = "list_hooks",
    responses(
        (status = 200, description = "The hooks of every room, oldest first", body = Vec<Hook>),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 403, description = "`forbidden`: not staff", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn list_hooks(
    Caller(caller): Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Hook>>, ApiError> {
    let hooks = state.webhooks.list(&caller, &Scope::All).await?;
    Ok(Json(hooks.into_iter().map(Hook::from).collect()))
}

/// Removes an outgoing webhook: it delivers nothing more.
#[utoipa::path(
    delete,
    path = "/api/hooks/outgoing/{id}",
    tag = "hooks",
    operation_id = "delete_hook",
    params(HookPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 403, description = "`forbidden`: the CSRF header is missing", body = ErrorBody),
        (status = 404, description = "`not_found`: no such hook the caller may manage", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn delete_hook(
    Caller(caller): Caller,
    HookId(id): HookId,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    state.webhooks.delete(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An outgoing webhook's recent deliveries and failures.
#[utoipa::path(
    get,
    path = "/api/hooks/outgoing/{id}/deliveries",
    tag = "hooks",
    operation_id = "list_hook_deliveries",
    params(HookPath),
    responses(
        (status = 200, description = "The last 50 attempts, newest first", body = Vec<Delivery>),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such hook the caller may manage", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn list_deliveries(
    Caller(caller): Caller,
    HookId(id): HookId,
    State(state): State<AppState>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let deliveries = state.webhooks.deliveries(&caller, id).await?;
    Ok(Json(deliveries.into_iter().map(Delivery::from).collect()))
}
