//! Static files compiled into the binary: the pages' script and style sheet.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const CHAT_JS: &str = include_str!("../../static/chat.js");
const LOBBY_JS: &str = include_str!("../../static/lobby.js");
const STYLE_CSS: &str = include_str!("../../static/style.css");

/// The static file routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/static/chat.js",
            get(|| asset("text/javascript; charset=utf-8", CHAT_JS)),
        )
        .route(
            "/static/lobby.js",
            get(|| asset("text/javascript; charset=utf-8", LOBBY_JS)),
        )
        .route(
            "/static/style.css",
            get(|| asset("text/css; charset=utf-8", STYLE_CSS)),
        )
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}
