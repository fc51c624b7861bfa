//! `GET /api/search`: messages that hold every term of a query, newest first, in the rooms the caller may
//! read (the one access check's rule, applied inside the query: public rooms unless banned, the rooms one
//! is a member of, and private rooms for staff; guests public rooms only). Each hit says where its terms
//! are, as offsets in characters into its text, so a client highlights without HTML from the server.

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody};
use super::params::{id_and_limit, malformed};
use crate::domain::rfc3339_ms;
use crate::search::{Folded, Query as Search};
use crate::state::AppState;
use crate::storage::SearchRequest;

/// Hits a page holds when `limit` is absent, and at most.
const DEFAULT_HITS: u32 = 20;
const MAX_HITS: u32 = 100;

/// A page of hits.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SearchPage {
    /// Newest first.
    pub hits: Vec<Hit>,
    /// The `before` that gets the next page; `null` when there is none.
    #[schema(required = true)]
    pub next: Option<String>,
}

/// A message found.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Hit {
    /// Its room.
    pub room: String,
    /// Its id in the room (the message's own, never an edit's).
    #[schema(minimum = 1)]
    pub id: u64,
    /// When it was stored, RFC 3339 UTC with milliseconds.
    #[schema(format = DateTime)]
    pub ts: String,
    /// Its author.
    pub user: String,
    /// Its text (the newest, when edited).
    pub message: String,
    /// Where the terms are: `[start, end)` offsets in Unicode code points into `message`, in order.
    pub highlights: Vec<[usize; 2]>,
}

/// What to search for.
#[derive(Clone, Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The query: words (a prefix or any part of a word finds it: `depl`, `foo.png`, `C++20`), "quoted
    /// phrases", `from:name`, `in:room`; case and accents do not matter. At most 200 characters. A query
    /// of one-character terms alone (with neither `from:` nor `in:`) finds nothing.
    #[param(min_length = 1, max_length = 200)]
    pub q: String,
    /// Only this room.
    pub room: Option<String>,
    /// Only this author.
    pub user: Option<String>,
    /// The `next` of the previous page.
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// Most hits (default 20); values above 100 count as 100.
    #[param(minimum = 1, default = 20)]
    pub limit: Option<i32>,
}

#[derive(Deserialize)]
struct RawSearch {
    q: Option<String>,
    room: Option<String>,
    user: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for SearchQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(raw) = Query::<RawSearch>::from_request_parts(parts, state)
            .await
            .map_err(malformed)?;
        let (before, limit) = id_and_limit("before", raw.before, raw.limit)?;
        Ok(Self {
            q: raw
                .q
                .filter(|q| !q.is_empty())
                .ok_or_else(|| ApiError::invalid_parameter("q, the query, is required"))?,
            room: raw.room,
            user: raw.user,
            before,
            limit,
        })
    }
}

/// Searches the history.
#[utoipa::path(
    get,
    path = "/api/search",
    tag = "rooms",
    operation_id = "search",
    params(SearchQuery),
    responses(
        (status = 200, description = "Messages holding every term, newest first, in rooms the caller may read", body = SearchPage),
        (status = 400, description = "`invalid_parameter`: no query (or an empty one) or one over 200 characters, or `before`/`limit` out of range", body = ErrorBody),
        (status = 401, description = "`login_required`: a guest on a members-only server, or a bad bearer token", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security((), ("session" = []), ("bearer" = [])),
)]
pub async fn search(
    Viewer(identity): Viewer,
    params: SearchQuery,
    State(state): State<AppState>,
) -> Result<Json<SearchPage>, ApiError> {
    let query = Search::parse(&params.q).map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    let limit = params
        .limit
        .and_then(|n| u32::try_from(n).ok())
        .map_or(DEFAULT_HITS, |n| n.min(MAX_HITS));
    // `room` and `user` narrow as `in:` and `from:` do; no room or person is named with U+0000 (which
    // PostgreSQL cannot even compare), so such a name finds nothing.
    let narrowed = params.room.is_some() || params.user.is_some();
    let nul = [&params.room, &params.user, &query.room, &query.from]
        .into_iter()
        .flatten()
        .any(|name| name.contains('\0'));
    let searchable = (query.searchable() || narrowed) && !nul;
    let request = SearchRequest {
        terms: query.terms.clone(),
        from: params.user.or(query.from),
        room: params.room.or(query.room),
        user_id: identity.user_id(),
        staff: identity.is_staff(),
        banned: state.moderation.banned_rooms(&identity),
        before: params.before,
        limit: limit + 1,
    };
    let mut found = if searchable {
        state.store.db().search(&request).await?
    } else {
        Vec::new()
    };
    let next = (found.len() > limit as usize).then(|| {
        found.truncate(limit as usize);
        found.last().map(|hit| hit.doc.to_string())
    });
    let hits = found
        .into_iter()
        .map(|hit| Hit {
            highlights: Folded::of(&hit.message).highlights(&query.terms),
            room: hit.room,
            id: hit.id,
            ts: rfc3339_ms(hit.ts_ms),
            user: hit.user,
            message: hit.message,
        })
        .collect();
    Ok(Json(SearchPage {
        hits,
        next: next.flatten(),
    }))
}
