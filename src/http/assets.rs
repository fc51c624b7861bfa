//! Static files compiled into the binary: the pages' script and style sheet.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const CHAT_JS: &str = include_str!("../../static/chat.js");
const CLIENT_JS: &str = include_str!("../../static/chatweb-client.js");
const LOBBY_JS: &str = include_str!("../../static/lobby.js");
// The room page's modules, imported by chat.js.
const ROOM_LOG_JS: &str = include_str!("../../static/room-log.js");
const ROOM_PEOPLE_JS: &str = include_str!("../../static/room-people.js");
const ROOM_COMPOSE_JS: &str = include_str!("../../static/room-compose.js");
const ROOM_MENU_JS: &str = include_str!("../../static/room-menu.js");
const ROOM_MESSAGE_JS: &str = include_str!("../../static/room-message.js");
const ROOM_VIEWPORT_JS: &str = include_str!("../../static/room-viewport.js");
const MARKDOWN_JS: &str = include_str!("../../static/markdown.js");
const ROOM_REACTIONS_JS: &str = include_str!("../../static/room-reactions.js");
const ROOM_PANELS_JS: &str = include_str!("../../static/room-panels.js");
const ROOM_MENTIONS_JS: &str = include_str!("../../static/room-mentions.js");
const ROOM_NOTIFY_JS: &str = include_str!("../../static/room-notify.js");
const ROOM_FILES_JS: &str = include_str!("../../static/room-files.js");
const ROOM_HOOKS_JS: &str = include_str!("../../static/room-hooks.js");
const ROOM_OUTGOING_HOOKS_JS: &str = include_str!("../../static/room-outgoing-hooks.js");
const MESSAGE_FILES_JS: &str = include_str!("../../static/message-files.js");
const SEARCH_JS: &str = include_str!("../../static/search.js");
// The header's search box, on every page.
const SEARCH_BOX_JS: &str = include_str!("../../static/search-box.js");
const STYLE_CSS: &str = include_str!("../../static/style.css");

/// The static file routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/static/chat.js",
            get(|| asset("text/javascript; charset=utf-8", CHAT_JS)),
        )
        .route(
            "/static/chatweb-client.js",
            get(|| asset("text/javascript; charset=utf-8", CLIENT_JS)),
        )
        .route(
            "/static/lobby.js",
            get(|| asset("text/javascript; charset=utf-8", LOBBY_JS)),
        )
        .route(
            "/static/room-log.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_LOG_JS)),
        )
        .route(
            "/static/room-people.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_PEOPLE_JS)),
        )
        .route(
            "/static/room-compose.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_COMPOSE_JS)),
        )
        .route(
            "/static/room-menu.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_MENU_JS)),
        )
        .route(
            "/static/room-message.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_MESSAGE_JS)),
        )
        .route(
            "/static/room-viewport.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_VIEWPORT_JS)),
        )
        .route(
            "/static/markdown.js",
            get(|| asset("text/javascript; charset=utf-8", MARKDOWN_JS)),
        )
        .route(
            "/static/room-reactions.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_REACTIONS_JS)),
        )
        .route(
            "/static/room-panels.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_PANELS_JS)),
        )
        .route(
            "/static/room-mentions.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_MENTIONS_JS)),
        )
        .route(
            "/static/room-notify.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_NOTIFY_JS)),
        )
        .route(
            "/static/room-files.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_FILES_JS)),
        )
        .route(
            "/static/room-hooks.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_HOOKS_JS)),
        )
        .route(
            "/static/room-outgoing-hooks.js",
            get(|| asset("text/javascript; charset=utf-8", ROOM_OUTGOING_HOOKS_JS)),
        )
        .route(
            "/static/message-files.js",
            get(|| asset("text/javascript; charset=utf-8", MESSAGE_FILES_JS)),
        )
        .route(
            "/static/search.js",
            get(|| asset("text/javascript; charset=utf-8", SEARCH_JS)),
        )
        .route(
            "/static/search-box.js",
            get(|| asset("text/javascript; charset=utf-8", SEARCH_BOX_JS)),
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
