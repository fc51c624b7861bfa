//! The inputs of the API: the `{room}` of a path and the paging query. Both are extractors whose every
//! refusal is an [`ApiError`] (axum's own rejections are plain text), and both derive the OpenAPI
//! description of what they accept, so the document states exactly the rules enforced here.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use crate::domain::RoomName;

/// Messages a page holds when the request does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most messages one page holds; a larger `limit` counts as this.
pub const MAX_LIMIT: u32 = 200;

/// The `{room}` of a path, as sent.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RoomPath {
    /// The room's name: 1 to 64 characters, each a letter or digit of any script, `-`, `_` or `.`.
    /// Any other name is `invalid_room` (404).
    #[param(min_length = 1, max_length = 64)]
    pub room: String,
}

/// A valid room name from the path.
#[derive(Clone, Debug)]
pub struct Room(pub RoomName);

impl<S: Send + Sync> FromRequestParts<S> for Room {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // A segment that is not UTF-8 once percent-decoded cannot be a room name either.
        let Path(path) = Path::<RoomPath>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid_room())?;
        RoomName::parse(&path.room)
            .map(Self)
            .ok_or_else(ApiError::invalid_room)
    }
}

/// Which page of a room's history to answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Only messages with an id below this one: pass the `before` of the previous answer to get the
    /// next older page. Absent: the newest messages.
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Instead of `before` (which it overrides): the messages around this id (half of `limit` up to and
    /// including it, the rest after it), to open the room at a message (a search hit, a link).
    #[param(minimum = 1)]
    pub around: Option<i64>,
    /// Most messages to answer (default 50); values above 200 count as 200.
    #[param(minimum = 1, default = 50)]
    pub limit: Option<i32>,
}

impl PageQuery {
    /// The id to answer the messages around, when asked.
    pub fn around(&self) -> Option<u64> {
        self.around.and_then(|id| u64::try_from(id).ok())
    }

    /// The id messages must be below; `None` for the newest.
    pub fn before(&self) -> Option<u64> {
        self.before.and_then(|id| u64::try_from(id).ok())
    }

    /// How many messages to answer: the default when absent, capped at [`MAX_LIMIT`].
    pub fn limit(&self) -> u32 {
        self.limit
            .and_then(|n| u32::try_from(n).ok())
            .map_or(DEFAULT_LIMIT, |n| n.min(MAX_LIMIT))
    }
}

/// The query string as sent, before validation.
#[derive(Deserialize)]
struct RawPage {
    before: Option<String>,
    around: Option<String>,
    limit: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(raw) = Query::<RawPage>::from_request_parts(parts, state)
            .await
            .map_err(malformed)?;
        let (before, limit) = id_and_limit("before", raw.before, raw.limit)?;
        let (around, _) = id_and_limit("around", raw.around, None)?;
        Ok(Self {
            before,
            around,
            limit,
        })
    }
}

/// The answer to a query string that is not one (a repeated or undecodable field).
pub(super) fn malformed(error: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::invalid_parameter(format!(
        "the query string is malformed: {}",
        error.body_text()
    ))
}

/// A page's message id (`before`, `after`: named `name`) and `limit`, checked.
pub(super) fn id_and_limit(
    name: &str,
    id: Option<String>,
    limit: Option<String>,
) -> Result<(Option<i64>, Option<i32>), ApiError> {
    let id = positive(id.as_deref(), i64::MAX).ok_or_else(|| {
        ApiError::invalid_parameter(format!(
            "{name} must be a message id: a whole number from 1"
        ))
    })?;
    let limit = positive(limit.as_deref(), i64::from(i32::MAX))
        .ok_or_else(|| {
            ApiError::invalid_parameter(
                "limit must be a whole number from 1 (above 200 counts as 200)",
            )
        })?
        .and_then(|n| i32::try_from(n).ok());
    Ok((id, limit))
}

/// `value` as an integer from 1 to `max` in decimal digits: `Some(None)` when absent, `None` when invalid.
pub(super) fn positive(value: Option<&str>, max: i64) -> Option<Option<i64>> {
    let Some(value) = value else {
        return Some(None);
    };
    value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse::<i64>().ok())
        .flatten()
        .filter(|n| (1..=max).contains(n))
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_decimal_integers_in_range_are_accepted() {
        assert_eq!(positive(None, 10), Some(None));
        assert_eq!(positive(Some("7"), 10), Some(Some(7)));
        assert_eq!(positive(Some("007"), 10), Some(Some(7)));
        assert_eq!(positive(Some("10"), 10), Some(Some(10)));
        for bad in [
            "",
            "0",
            "11",
            "-1",
            "+1",
            " 1",
            "1.0",
            "1e3",
            "abc",
            "99999999999999999999",
        ] {
            assert_eq!(positive(Some(bad), 10), None, "{bad:?} is refused");
        }
    }

    #[test]
    fn the_limit_defaults_to_50_and_is_capped_at_200() {
        let page = |limit| PageQuery {
            before: None,
            around: None,
            limit,
        };
        assert_eq!(page(None).limit(), 50);
        assert_eq!(page(Some(1)).limit(), 1);
        assert_eq!(page(Some(200)).limit(), 200);
        assert_eq!(page(Some(201)).limit(), 200);
        assert_eq!(page(Some(i32::MAX)).limit(), 200);
    }
}
