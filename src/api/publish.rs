//! `POST /api/rooms/{room}/messages`: the publish API. A program posts as the user its bearer token signs
//! in (a page may too, with its session and the CSRF header), stored and delivered exactly like a
//! socket's send (`crate::posting`): the same read access, moderation, rate limits, length limit and
//! locked rooms, the same store writer and fan-out. Like a socket's send it may reply to a message
//! (`reply_to`) and attach the sender's uploads (`files`), read by the socket's own parsers and checked
//! by the same `compose`, refused with the socket's codes. Idempotent by `client_id`, as socket sends
//! are: `201 {"id"}` when stored, `200 {"id"}` with the original's id for a repeat.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::members::{Body, Caller};
use super::params::{Room, RoomPath};
use crate::accounts::Identity;
use crate::domain::{BodyError, MessageBody};
use crate::limits::{AddressKey, ClientIp, SenderKey};
use crate::moderation::Hold;
use crate::posting::once::{Door, PostError, Posted, Sender, post};
use crate::posting::{Draft, Refused};
use crate::protocol::ProtocolError;
use crate::protocol::client;
use crate::state::AppState;
use crate::storage::StoreError;

/// A message to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message": "deploy finished", "client_id": "deploy-4711", "reply_to": 41, "files": ["3f2a0c1d9b8e7f6a5b4c3d2e1f0a9b8c"]}))]
pub struct PublishBody {
    /// The text: not blank, without U+0000, at most `--max-message-bytes` bytes of UTF-8 (4096 by
    /// default; more is 422 `message_too_long`). A message that attaches `files` may leave it out or
    /// blank (as a socket's send may).
    #[schema(value_type = String, required = true, max_length = 4096, pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$")]
    pub message: Option<Value>,
    /// An idempotency key of 1 to 64 characters: a repeat stores nothing and answers the original's id.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[^\\x00]*$")]
    pub client_id: Option<Value>,
    /// The id of a message of the room this one replies to (in its thread): a positive integer, else
    /// 400 `invalid_id`; one the room does not have (or a deleted one) is 404 `not_found`.
    #[schema(value_type = Option<u64>, minimum = 1)]
    pub reply_to: Option<Value>,
    /// Up to 10 upload ids (`POST /api/rooms/{room}/files`) to attach: each an upload of the caller's
    /// to this room not attached yet, else 404 `file_not_found`; not such a list is 400 `invalid_files`.
    #[schema(schema_with = upload_ids, required = false)]
    pub files: Option<Value>,
}

/// `files` in the document: at most 10 upload ids, each 32 lowercase hex digits (or `null`).
fn upload_ids() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        // `null` is read as no files, as the socket reads it.
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9a-f]{32}$")),
        )
        .max_items(Some(crate::files::MAX_FILES_PER_MESSAGE))
        .description(Some(
            "Up to 10 upload ids (`POST /api/rooms/{room}/files`) to attach: each an upload of the \
             caller's to this room not attached yet, else 404 `file_not_found`; not such a list is 400 \
             `invalid_files`.",
        ))
        .build()
}

/// The longest `client_id`, in characters.
const MAX_CLIENT_ID_CHARS: usize = 64;

/// The published message.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct Published {
    /// Its id (the original's, for a repeat).
    pub id: u64,
}

/// Posts a message as the caller.
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/messages",
    tag = "rooms",
    operation_id = "publish_message",
    params(RoomPath),
    request_body = PublishBody,
    responses(
        (status = 201, description = "Stored and delivered", body = Published),
        (status = 200, description = "A repeat of a stored `client_id`: the original's id, nothing new stored", body = Published),
        (status = 400, description = "`invalid_message`: `message` missing or blank without `files`, holding U+0000, or a bad `client_id`; `invalid_id`: `reply_to` not a positive integer; `invalid_files`: `files` not a list of at most 10 upload ids; `invalid_parameter`: not a JSON object", body = ErrorBody),
        (status = 401, description = "`login_required`: no bearer token (or session), or a bad one", body = ErrorBody),
        (status = 403, description = "`banned`, `muted`, `room_locked`; `forbidden`: the CSRF header is missing (session callers)", body = ErrorBody),
        (status = 404, description = "`invalid_room`; `not_found`: a room the caller may not read, or a `reply_to` it does not have; `file_not_found`: a file not the caller's upload to this room waiting to be attached", body = ErrorBody),
        (status = 422, description = "`message_too_long`: over `--max-message-bytes`", body = ErrorBody),
        (status = 429, description = "`rate_limited` or `slow_mode`, with `Retry-After`", body = ErrorBody),
        (status = 503, description = "`unavailable`: the server is stopping", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub async fn publish(
    Caller(caller): Caller,
    Room(room): Room,
    ClientIp(ip): ClientIp,
    State(state): State<AppState>,
    Body(body): Body<PublishBody>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let client_id = client_id(body.client_id)?;
    // The socket's own parsers: the same rules, the same codes.
    let reply_to = client::parse_reply_to(body.reply_to, &client_id).map_err(refused)?;
    let files = client::parse_files(body.files, &client_id).map_err(refused)?;
    let text = if client::says_nothing(body.message.as_ref(), &files) {
        MessageBody::empty()
    } else {
        message_body(body.message, state.config.max_message_bytes)?
    };
    let draft = Draft {
        body: text,
        client_id,
        reply_to,
        files,
    };
    let bot = caller.is_bot;
    let key = SenderKey::User(caller.id);
    let identity = Identity::User(caller);
    let sender = Sender {
        identity: &identity,
        key,
        address: ip.map_or_else(AddressKey::unknown, AddressKey::of),
        door: Door::Reader,
        bot,
    };
    match post(&state, &sender, &room, draft).await? {
        Posted::Created(id) => Ok((StatusCode::CREATED, Json(Published { id }))),
        Posted::Repeat(id) => Ok((StatusCode::OK, Json(Published { id }))),
    }
}

/// A refusal of the socket's parsers, with its code.
fn refused(error: ProtocolError) -> ApiError {
    let code = match error.code {
        crate::protocol::ErrorCode::InvalidId => ErrorCode::InvalidId,
        crate::protocol::ErrorCode::InvalidFiles => ErrorCode::InvalidFiles,
        _ => ErrorCode::InvalidParameter,
    };
    ApiError::new(code, error.detail)
}

/// The text of a posted message, checked as a socket's is.
pub(crate) fn message_body(value: Option<Value>, limit: usize) -> Result<MessageBody, ApiError> {
    let Some(Value::String(text)) = value else {
        return Err(ApiError::new(
            ErrorCode::InvalidMessage,
            "the body needs a string \"message\"",
        ));
    };
    MessageBody::parse(&text, limit).map_err(|error| match error {
        BodyError::TooLong { .. } => ApiError::new(ErrorCode::MessageTooLong, error.to_string()),
        BodyError::Empty | BodyError::Nul => {
            ApiError::new(ErrorCode::InvalidMessage, error.to_string())
        }
    })
}

/// A `client_id`: absent, or a string of 1 to 64 characters without U+0000 (the socket counts 64 bytes;
/// the store keeps either).
fn client_id(value: Option<Value>) -> Result<Option<std::sync::Arc<str>>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id))
            if !id.is_empty()
                && id.chars().count() <= MAX_CLIENT_ID_CHARS
                && !id.contains('\0') =>
        {
            Ok(Some(id.into()))
        }
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidMessage,
            format!(
                "\"client_id\" must be a string of 1 to {MAX_CLIENT_ID_CHARS} characters without U+0000"
            ),
        )),
    }
}

impl From<PostError> for ApiError {
    fn from(error: PostError) -> Self {
        match error {
            PostError::Hidden => ApiError::new(ErrorCode::NotFound, "no such room"),
            PostError::Banned | PostError::Held(Hold::Banned) => {
                ApiError::new(ErrorCode::Banned, "you are banned from this room")
            }
            PostError::Held(Hold::Muted { until_ms }) => {
                let until = crate::domain::rfc3339_ms(until_ms);
                let wait = u64::try_from(until_ms - crate::storage::now_ms()).unwrap_or(0);
                ApiError::new(
                    ErrorCode::Muted,
                    format!("you are muted in this room until {until}"),
                )
                .retry_after(wait)
            }
            PostError::Held(Hold::SlowMode { retry_after }) => {
                let ms = u64::try_from(retry_after.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
                ApiError::new(
                    ErrorCode::SlowMode,
                    format!("this room is in slow mode: wait {ms} ms before sending again"),
                )
                .retry_after(ms)
            }
            PostError::Limited(refusal) => {
                ApiError::new(ErrorCode::RateLimited, refusal.limit.detail())
                    .retry_after(refusal.retry_after_ms())
            }
            PostError::Refused(Refused::NoThreadRoot) => ApiError::new(
                ErrorCode::NotFound,
                "\"reply_to\" names no message of this room, or a deleted one",
            ),
            PostError::Refused(Refused::FileNotFound) => ApiError::new(
                ErrorCode::FileNotFound,
                "a file of \"files\" is not an upload of yours to this room waiting to be attached",
            ),
            PostError::Refused(Refused::Store(error)) => ApiError::internal(&error),
            PostError::Store(StoreError::RoomLocked) => ApiError::new(
                ErrorCode::RoomLocked,
                "this room is read-only: an administrator locked it",
            ),
            PostError::Store(StoreError::Closed) => ApiError::new(
                ErrorCode::Unavailable,
                "the server is stopping; send it again later",
            ),
            PostError::Store(error) => ApiError::internal(&error),
        }
    }
}
