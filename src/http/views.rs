//! The pages (Django's `views.py` + `template/`): the lobby at `/` and a room at `/chat/<room>/`, rendered
//! with minijinja from templates compiled into the binary. HTML autoescaping keeps user text as text.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Environment, context};

use crate::app::AppState;
use crate::domain::RoomName;
use crate::error::AppError;
use crate::http::{NICKNAME_COOKIE, nickname};
use crate::ws::protocol::rfc3339_ms;

/// Rooms listed in the lobby.
const LOBBY_ROOMS: u32 = 100;

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(lobby))
        .route("/chat/{room}/", get(room))
        .route("/chat/{room}", get(add_slash))
}

/// The page templates; `.html` names are autoescaped.
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("lobby.html", include_str!("../../templates/lobby.html")),
        ("room.html", include_str!("../../templates/room.html")),
    ] {
        // The templates are compiled in and covered by tests; a syntax error is a build defect.
        #[allow(clippy::expect_used)]
        env.add_template(name, source)
            .expect("embedded template parses");
    }
    env
}

fn render(state: &AppState, name: &str, ctx: minijinja::Value) -> Result<Html<String>, AppError> {
    let template = state
        .templates
        .get_template(name)
        .map_err(|e| anyhow::anyhow!(e).context("loading template"))?;
    let html = template
        .render(ctx)
        .map_err(|e| anyhow::anyhow!(e).context("rendering template"))?;
    Ok(Html(html))
}

async fn lobby(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Html<String>, AppError> {
    let rooms = state
        .store
        .rooms(LOBBY_ROOMS)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("listing rooms"))?;
    let rooms: Vec<_> = rooms
        .iter()
        .map(|r| context! { name => &r.name, messages => r.messages, href => format!("/chat/{}/", urlencode(&r.name)) })
        .collect();
    render(
        &state,
        "lobby.html",
        context! {
            rooms => rooms,
            nickname => nickname(&headers).as_str(),
            nickname_cookie => NICKNAME_COOKIE,
        },
    )
}

async fn room(
    State(state): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Html<String>, AppError> {
    let room = RoomName::parse(&room).ok_or(AppError::NotFound("room"))?;
    let history = state
        .store
        .recent(&room, state.config.history)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("loading history"))?;
    let last_id = history.last().map_or(0, |m| m.seq);
    let lines: Vec<_> = history
        .iter()
        .map(|m| context! { id => m.seq, ts => rfc3339_ms(m.ts_ms), user => &m.author, message => &m.body })
        .collect();
    render(
        &state,
        "room.html",
        context! {
            room => room.as_str(),
            messages => lines,
            last_id => last_id,
            max_bytes => state.config.max_message_bytes,
            nickname => nickname(&headers).as_str(),
        },
    )
}

/// Django's APPEND_SLASH: `/chat/x` redirects to `/chat/x/`.
async fn add_slash(Path(room): Path<String>) -> Response {
    match RoomName::parse(&room) {
        Some(room) => {
            Redirect::permanent(&format!("/chat/{}/", urlencode(room.as_str()))).into_response()
        }
        None => AppError::NotFound("room").into_response(),
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
