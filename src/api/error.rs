//! `ApiError`: how every `/api/` answer fails. Always a JSON body `{"error": <code>, "detail": <text>}` with
//! a stable snake_case code clients may match on, and the status the code implies; never HTML or plain
//! text, and never a 5xx for bad input. Internal causes are logged here and never shown to the client.

use axum::Json;
use axum::http::header::{ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;
use crate::storage::StoreError;

/// The stable codes of API errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 404: the room name is not a valid room name.
    InvalidRoom,
    /// 400: a query parameter is malformed or out of range.
    InvalidParameter,
    /// 401: the server is members-only and the request is a guest's, or the bearer token is unknown or
    /// revoked.
    LoginRequired,
    /// 403: the requester may not do this.
    Forbidden,
    /// 404: no such endpoint under `/api/`, or no such room (for whoever may not read it), member or user.
    NotFound,
    /// 409: the change contradicts what is stored (a room name taken, a member added twice, the only
    /// owner leaving).
    Conflict,
    /// 405: the endpoint exists but not for this method.
    MethodNotAllowed,
    /// 413: the upload is larger than the server accepts (`--max-upload-bytes`).
    TooLarge,
    /// 413: the upload would take the uploader past their daily quota (`--upload-quota-bytes`).
    QuotaExceeded,
    /// 422: an image with more pixels than the server decodes (`--max-image-pixels`).
    ImageTooLarge,
    /// 422: an image whose header cannot be read, or whose metadata is too large to check.
    InvalidImage,
    /// 422: a URL the server would call (a webhook's receiver) is not an absolute URL with a host.
    InvalidUrl,
    /// 422: a URL the server would call is not https (plain http only to a listed loopback host).
    NotHttps,
    /// 422: a URL the server would call names a host that is not allowed.
    HostNotAllowed,
    /// 422: a URL the server would call resolves to a private, loopback or link-local address that is
    /// not listed (`--webhook-hosts`).
    PrivateAddress,
    /// 422: a URL the server would call names a host that does not resolve.
    Unresolvable,
    /// 422: a push subscription's keys are not a P-256 point and a 16-byte secret.
    InvalidKey,
    /// 400: a posted message is not a non-blank string without U+0000, or its `client_id` is not a
    /// string of 1 to 64 bytes.
    InvalidMessage,
    /// 422: a posted message is longer than `--max-message-bytes`.
    MessageTooLong,
    /// 400: a posted message's `reply_to` is not a positive integer (the socket's code).
    InvalidId,
    /// 400: a posted message's `files` is not a list of at most 10 upload ids (the socket's code).
    InvalidFiles,
    /// 404: a file a posted message attaches is not an upload of the sender's to this room waiting to
    /// be attached (the socket's code).
    FileNotFound,
    /// 429: over a rate limit (`Retry-After` says when to try again).
    RateLimited,
    /// 429: the room is in slow mode (`Retry-After` says when to try again).
    SlowMode,
    /// 403: the sender is muted in the room.
    Muted,
    /// 403: the sender is banned from the room.
    Banned,
    /// 403: the room is read-only (locked).
    RoomLocked,
    /// 400: an incoming webhook's `username` (or its name) is a registered user's.
    UsernameTaken,
    /// 503: the server is stopping; send it again later.
    Unavailable,
    /// 500: the server failed (the database is unreachable, ...); the details are in its log.
    Internal,
}

impl ErrorCode {
    fn status(self) -> StatusCode {
        match self {
            Self::InvalidRoom | Self::NotFound | Self::FileNotFound => StatusCode::NOT_FOUND,
            Self::InvalidParameter
            | Self::InvalidMessage
            | Self::UsernameTaken
            | Self::InvalidId
            | Self::InvalidFiles => StatusCode::BAD_REQUEST,
            Self::MessageTooLong => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited | Self::SlowMode => StatusCode::TOO_MANY_REQUESTS,
            Self::Muted | Self::Banned | Self::RoomLocked => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::LoginRequired => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Conflict => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge | Self::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ImageTooLarge
            | Self::InvalidImage
            | Self::InvalidUrl
            | Self::NotHttps
            | Self::HostNotAllowed
            | Self::PrivateAddress
            | Self::Unresolvable
            | Self::InvalidKey => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The body of every API error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_parameter", "detail": "limit must be a whole number from 1 (above 200 counts as 200)"}))]
pub struct ErrorBody {
    /// What went wrong, as a stable code.
    pub error: ErrorCode,
    /// What went wrong, for people.
    pub detail: String,
    /// With `rate_limited`, `slow_mode` and `muted`: how long to wait before trying again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub retry_after_ms: Option<u64>,
}

/// A failed API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError(ErrorBody);

impl ApiError {
    /// An error with `code` and `detail`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self(ErrorBody {
            error: code,
            detail: detail.into(),
            retry_after_ms: None,
        })
    }

    /// The same error, telling the client to wait `ms` before trying again (also as `Retry-After`,
    /// in whole seconds rounded up).
    pub fn retry_after(mut self, ms: u64) -> Self {
        self.0.retry_after_ms = Some(ms);
        self
    }

    /// The room name in the path is not a valid room name.
    pub fn invalid_room() -> Self {
        Self::new(
            ErrorCode::InvalidRoom,
            "no such room: a room name is 1 to 64 letters, digits, '-', '_' or '.'",
        )
    }

    /// A query parameter is malformed.
    pub fn invalid_parameter(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, detail)
    }

    /// A credential is needed (members-only server, or a bad token).
    pub fn login_required(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::LoginRequired, detail)
    }

    /// The server failed; `error` is logged, the client sees only that it failed.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "API request failed");
        Self::new(
            ErrorCode::Internal,
            "the server failed to answer; try again later",
        )
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.0.error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.error;
        let retry_after = self.0.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1));
        let mut response = (code.status(), Json(self.0)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        match code {
            ErrorCode::LoginRequired => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ErrorCode::MethodNotAllowed => {
                headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            }
            _ => {}
        }
        response
    }
}

impl From<crate::access::MembersError> for ApiError {
    fn from(error: crate::access::MembersError) -> Self {
        use crate::access::MembersError;
        let code = match &error {
            MembersError::NotFound(_) | MembersError::Gone => ErrorCode::NotFound,
            MembersError::Forbidden(_) => ErrorCode::Forbidden,
            MembersError::Conflict(_) => ErrorCode::Conflict,
            MembersError::Invalid(_) => ErrorCode::InvalidParameter,
            MembersError::Store(cause) => return Self::internal(cause),
        };
        Self::new(code, error.to_string())
    }
}

/// A URL the SSRF guard refused: 422 with the guard's own code.
impl From<crate::outbound::OutboundError> for ApiError {
    fn from(error: crate::outbound::OutboundError) -> Self {
        use crate::outbound::OutboundError;
        let code = match &error {
            OutboundError::InvalidUrl => ErrorCode::InvalidUrl,
            OutboundError::NotHttps => ErrorCode::NotHttps,
            OutboundError::HostNotAllowed(_) => ErrorCode::HostNotAllowed,
            OutboundError::PrivateAddress(_) => ErrorCode::PrivateAddress,
            OutboundError::Unresolvable(_) => ErrorCode::Unresolvable,
        };
        Self::new(code, error.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal(&error)
    }
}

/// The page-side errors of shared extractors (the identity), as API errors.
impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::NotFound(what) => Self::new(ErrorCode::NotFound, format!("{what} not found")),
            AppError::BadRequest(detail) => Self::invalid_parameter(detail),
            AppError::Unauthorized(detail) => Self::login_required(detail),
            AppError::Forbidden(detail) => Self::new(ErrorCode::Forbidden, detail),
            AppError::ForbiddenOrigin => Self::new(ErrorCode::Forbidden, "origin not allowed"),
            AppError::Internal(error) => Self::internal(&format!("{error:#}")),
        }
    }
}

/// `ANY /api/...` that names no endpoint.
pub async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint; /api/openapi.json lists them",
    )
}

/// The 405 of an endpoint that serves the methods `allow` lists.
pub fn allow(
    allow: &'static str,
) -> impl Fn() -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    move || {
        let mut response = ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("this endpoint only answers {allow}"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        std::future::ready(response)
    }
}

/// A method an endpoint does not serve (every endpoint is `GET`, and `HEAD`).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint only answers GET (and HEAD)",
    )
}
