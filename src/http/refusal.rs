//! What a page's form shows when `src/access/` refuses a change: the status the page is served with and
//! the sentence it shows (the lobby's room and direct-message forms, the room's members panel). A store
//! failure is not a refusal: it stays an error, logged once and answered with a bare 500.

use axum::http::StatusCode;

use crate::access::MembersError;
use crate::error::AppError;

/// A refused change, as a page shows it.
#[derive(Debug)]
pub struct Refusal {
    /// The page's status (400, 403, 404, 409, 410).
    pub status: StatusCode,
    /// Shown to the person as is (autoescaped).
    pub message: String,
}

impl Refusal {
    /// A refusal of bad input (400) with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// `error` as a page shows it, or the internal error it is.
    pub fn of(error: MembersError) -> Result<Self, AppError> {
        let status = match &error {
            MembersError::NotFound(_) => StatusCode::NOT_FOUND,
            MembersError::Forbidden(_) => StatusCode::FORBIDDEN,
            MembersError::Conflict(_) => StatusCode::CONFLICT,
            MembersError::Invalid(_) => StatusCode::BAD_REQUEST,
            MembersError::Gone => StatusCode::GONE,
            MembersError::Store(_) => {
                return Err(AppError::Internal(
                    anyhow::Error::new(error).context("changing a room's members"),
                ));
            }
        };
        Ok(Self {
            status,
            message: sentence(&error.to_string()),
        })
    }
}

/// `text` with a capital first letter and a full stop, as the pages write their messages.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_status_and_read_as_sentences() {
        let refusal =
            Refusal::of(MembersError::Conflict("a room of that name exists")).expect("a refusal");
        assert_eq!(refusal.status, StatusCode::CONFLICT);
        assert_eq!(refusal.message, "A room of that name exists.");
        let refusal = Refusal::of(MembersError::NotFound("no such user")).expect("a refusal");
        assert_eq!(refusal.status, StatusCode::NOT_FOUND);
        assert!(Refusal::of(MembersError::Store(crate::storage::StoreError::Closed)).is_err());
    }
}
