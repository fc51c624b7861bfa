//! `AppError`: what an HTTP handler can fail with, and the status each maps to. Internal causes are logged
//! once here and never shown to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An HTTP handler's failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The thing named does not exist (or cannot exist, like an invalid room name).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is malformed; the text is shown to the client as is.
    #[error("{0}")]
    BadRequest(String),
    /// The handshake's origin is not allowed.
    #[error("origin not allowed")]
    ForbiddenOrigin,
    /// The request needs a valid credential.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The requester may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Anything else: logged, answered with a bare 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::ForbiddenOrigin | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                return (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong").into_response();
            }
        };
        (status, self.to_string()).into_response()
    }
}

impl From<crate::accounts::AccountError> for AppError {
    fn from(error: crate::accounts::AccountError) -> Self {
        use crate::accounts::AccountError;
        match error {
            AccountError::NotFound(what) => Self::NotFound(what),
            AccountError::Store(e) => Self::Internal(anyhow::Error::new(e)),
            AccountError::Internal(e) => Self::Internal(e),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

impl From<crate::storage::StoreError> for AppError {
    fn from(error: crate::storage::StoreError) -> Self {
        match error {
            crate::storage::StoreError::NotFound(what) => Self::NotFound(what),
            crate::storage::StoreError::Forbidden(what) => Self::Forbidden(what),
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}
