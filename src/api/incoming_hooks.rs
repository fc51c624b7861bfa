//! Incoming webhooks over HTTP (`crate::incoming` decides): the room owners' and staff's API to make,
//! list and revoke them, and the receiver `POST /hooks/<token>` that programs call. The receiver takes
//! Slack's payloads: a JSON body `{"text", "username"?}`, or a form whose field `payload` holds that JSON
//! (as Slack's own clients send it). It needs no CSRF header: the token in its URL is the credential.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::members::{Body, Caller};
use super::params::{Room, RoomPath};
use crate::accounts::{Guest, GuestId, Identity};
use crate::domain::rfc3339_ms;
use crate::incoming::{self, HookError};
use crate::limits::{AddressKey, ClientIp, SenderKey};
use crate::posting::Draft;
use crate::posting::once::{Door, Posted, Sender, post};
use crate::state::AppState;
use crate::storage::IncomingHookRow;

/// A new incoming webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "CI"}))]
pub struct NewIncomingHookBody {
    /// The name its messages are shown under: 1 to 32 characters, at least one an ASCII letter or digit
    /// (control and invisible characters are dropped), no registered user's.
    #[schema(min_length = 1, max_length = 32, pattern = "[A-Za-z0-9]")]
    pub name: String,
}

/// A hook just made: its URL holds its token and is shown only now.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 3, "url": "/hooks/cwh_0123..."}))]
pub struct CreatedHook {
    /// The hook's id (to revoke it).
    pub id: i64,
    /// Where to POST, relative to the server's origin: `/hooks/<token>`.
    pub url: String,
}

/// A live incoming webhook (without its token, which is never shown again).
#[derive(Debug, Serialize, ToSchema)]
pub struct IncomingHook {
    /// Its id.
    pub id: i64,
    /// The room it posts into.
    pub room: String,
    /// The name its messages are shown under.
    pub name: String,
    /// When it was made, RFC 3339 UTC.
    pub created_at: String,
}

impl From<IncomingHookRow> for IncomingHook {
    fn from(row: IncomingHookRow) -> Self {
        Self {
            id: row.id,
            room: row.room,
            name: row.name,
            created_at: rfc3339_ms(row.created_at),
        }
    }
}

/// `{id}` of a hook.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct HookPath {
    /// The hook's id.
    pub id: i64,
}

impl From<HookError> for ApiError {
    fn from(error: HookError) -> Self {
        let code = match &error {
            HookError::NotFound(_) => ErrorCode::NotFound,
            HookError::Forbidden => ErrorCode::Forbidden,
            HookError::InvalidName => ErrorCode::InvalidParameter,
            HookError::NameTaken(_) => ErrorCode::UsernameTaken,
            HookError::Store(cause) => return Self::internal(cause),
            HookError::Accounts(cause) => return Self::internal(cause),
        };
        Self::new(code, error.to_string())
    }
}

/// Makes an incoming webhook for the room (its owners and staff).
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/hooks/incoming",
    tag = "hooks",
    operation_id = "create_incoming_hook",
    params(RoomPath),
    request_body = NewIncomingHookBody,
    responses(
        (status = 201, description = "Made; the URL (with its token) is shown only now", body = CreatedHook),
        (status = 400, description = "`invalid_parameter`: a name without an ASCII letter or digit, or a bad body; `username_taken`: the name is a registered user's", body = ErrorBody),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an owner or staff, a direct room, or the CSRF header is missing", body = ErrorBody),
        (status = 404, description = "`invalid_room`; `not_found`: a room the caller may not read", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn create_incoming_hook(
    Caller(caller): Caller,
    Room(room): Room,
    State(state): State<AppState>,
    Body(body): Body<NewIncomingHookBody>,
) -> Result<(StatusCode, Json<CreatedHook>), ApiError> {
    let identity = Identity::User(caller);
    let hook = incoming::create(&state, &identity, &room, &body.name).await?;
    let url = format!("/hooks/{}", hook.token);
    Ok((StatusCode::CREATED, Json(CreatedHook { id: hook.id, url })))
}

/// Lists the room's live incoming webhooks (its owners and staff).
#[utoipa::path(
    get,
    path = "/api/rooms/{room}/hooks/incoming",
    tag = "hooks",
    operation_id = "list_incoming_hooks",
    params(RoomPath),
    responses(
        (status = 200, description = "The live hooks, oldest first, without their tokens", body = [IncomingHook]),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an owner or staff", body = ErrorBody),
        (status = 404, description = "`invalid_room`; `not_found`: a room the caller may not read", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn list_incoming_hooks(
    Caller(caller): Caller,
    Room(room): Room,
    State(state): State<AppState>,
) -> Result<Json<Vec<IncomingHook>>, ApiError> {
    let hooks = incoming::list(&state, &Identity::User(caller), &room).await?;
    Ok(Json(hooks.into_iter().map(IncomingHook::from).collect()))
}

/// Revokes an incoming webhook: its URL answers 404 from now on.
#[utoipa::path(
    delete,
    path = "/api/hooks/incoming/{id}",
    tag = "hooks",
    operation_id = "revoke_incoming_hook",
    params(HookPath),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`login_required`", body = ErrorBody),
        (status = 403, description = "`forbidden`: the CSRF header is missing", body = ErrorBody),
        (status = 404, description = "`not_found`: no such live hook, or not the caller's to manage", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn revoke_incoming_hook(
    Caller(caller): Caller,
    path: Result<Path<HookPath>, PathRejection>,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    // An id that is no integer names no hook.
    let Ok(Path(HookPath { id })) = path else {
        return Err(HookError::NotFound("incoming webhook").into());
    };
    incoming::revoke(&state, &Identity::User(caller), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a Slack-style payload holds (anything else in it is ignored).
#[derive(Debug, Deserialize)]
struct Payload {
    text: Option<Value>,
    username: Option<String>,
}

/// A message posted by a hook.
#[derive(Debug, Serialize)]
pub struct HookPosted {
    /// Slack's answer says `ok`.
    pub ok: bool,
    /// The message's id.
    pub id: u64,
}

/// `POST /hooks/{token}`: posts `text` into the hook's room under its name (or `username`).
pub async fn receive(
    Path(token): Path<String>,
    ClientIp(ip): ClientIp,
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<HookPosted>, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such incoming webhook");
    let hook = incoming::find(&state, &token)
        .await?
        .ok_or_else(not_found)?;
    let payload = payload(request, &state).await?;
    let typed = payload.username.as_deref().unwrap_or(&hook.name);
    let name = incoming::display_name(&state, typed).await?;
    let room = crate::domain::RoomName::parse(&hook.room).ok_or_else(not_found)?;
    let draft = Draft {
        body: super::publish::message_body(payload.text, state.config.max_message_bytes)?,
        client_id: None,
        reply_to: None,
        files: Vec::new(),
    };
    // Held as a guest of that name would be: a mute or ban of the name holds the hook.
    let identity = Identity::Guest(Guest {
        name,
        name_taken: false,
        id: GuestId::default(),
    });
    let sender = Sender {
        identity: &identity,
        key: SenderKey::Hook(hook.id),
        address: ip.map_or_else(AddressKey::unknown, AddressKey::of),
        door: Door::Hook,
        bot: true,
    };
    let (Posted::Created(id) | Posted::Repeat(id)) = post(&state, &sender, &room, draft).await?;
    Ok(Json(HookPosted { ok: true, id }))
}

/// The payload: JSON, or a form whose `payload` field holds the JSON. A form without that field is read
/// as JSON too (`curl -d '{"text": ...}'` sends JSON labelled as a form).
async fn payload(request: Request, state: &AppState) -> Result<Payload, ApiError> {
    let form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let invalid = |detail: String| ApiError::invalid_parameter(detail);
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| invalid(rejection.body_text()))?;
    let field = form
        .then(|| {
            url::form_urlencoded::parse(&bytes)
                .find(|(name, _)| name == "payload")
                .map(|(_, json)| json.into_owned())
        })
        .flatten();
    let value: Value = match field {
        Some(json) => {
            serde_json::from_str(&json).map_err(|e| invalid(format!("\"payload\": {e}")))?
        }
        None => serde_json::from_slice(&bytes).map_err(|e| {
            invalid(format!(
                "the body is JSON, or a form with the field \"payload\": {e}"
            ))
        })?,
    };
    if !value.is_object() {
        return Err(invalid("the payload must be a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|e| invalid(format!("the payload: {e}")))
}
