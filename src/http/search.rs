//! The search page at `/search/?q=...`: the page itself only carries the query; its script
//! (static/search.js) asks `GET /api/search`, which keeps to the rooms the viewer may read.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::page::Page;
use crate::accounts::Identity;
use crate::error::AppError;
use crate::state::AppState;

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/search/", get(search))
        .route("/search", get(|| async { Redirect::permanent("/search/") }))
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<SearchQuery>,
) -> Result<Response, AppError> {
    if matches!(page.identity, Identity::Guest(_)) && !state.config.guests {
        return Ok(Redirect::to("/accounts/login/?next=/search/").into_response());
    }
    let q = query.q.trim();
    Ok(page
        .render(&state, "search.html", context! { q => q, search_q => q })?
        .into_response())
}
