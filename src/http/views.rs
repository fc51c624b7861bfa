//! The pages (Django's `views.py` + `template/`): the lobby at `/` and a room at `/chat/<room>/`, rendered
//! with minijinja from templates compiled into the binary. HTML autoescaping keeps user text as text. The
//! room page's first messages are rendered here (and as JSON for its script); the rest comes over the socket.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::page::{Page, urlencode};
use super::room_param::RoomParam;
use crate::accounts::Identity;
use crate::accounts::cookies::NICKNAME_COOKIE;
use crate::domain::rfc3339_ms;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::MessageKind;

/// Rooms listed in the lobby.
const LOBBY_ROOMS: u32 = 100;

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(lobby))
        .route("/chat/{room}/", get(room))
        .route("/chat/{room}", get(add_slash))
}

#[derive(Deserialize)]
struct LobbyQuery {
    error: Option<String>,
}

async fn lobby(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<LobbyQuery>,
) -> Result<Html<String>, AppError> {
    // Only the rooms this person may see listed: the public ones and those they are a member of.
    let rooms = state
        .store
        .db()
        .room_activity(page.identity.user_id(), LOBBY_ROOMS)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("listing rooms"))?;
    let rooms: Vec<_> = rooms
        .iter()
        .map(|r| {
            context! {
                name => &r.name,
                kind => r.kind.as_str(),
                messages => r.last_seq,
                last_activity => rfc3339_ms(r.updated_at_ms),
                href => format!("/chat/{}/", urlencode(&r.name)),
            }
        })
        .collect();
    let error = match query.error.as_deref() {
        Some("nickname_taken") => {
            Some("That nickname belongs to a registered user: log in, or choose another.")
        }
        _ => None,
    };
    page.render(
        &state,
        "lobby.html",
        context! {
            rooms => rooms,
            // Without a nickname the box is empty (its placeholder says what the name will be).
            nickname => Some(page.identity.name()).filter(|n| !n.is_anonymous()).map(|n| n.as_str()),
            nickname_cookie => NICKNAME_COOKIE,
            guests => state.config.guests,
            error => error,
        },
    )
}

async fn room(
    State(state): State<AppState>,
    RoomParam(room): RoomParam,
    page: Page,
) -> Result<Response, AppError> {
    if let Identity::Guest(guest) = &page.identity {
        if !state.config.guests {
            let next = urlencode(&format!("/chat/{}/", room.as_str()));
            return Ok(Redirect::to(&format!("/accounts/login/?next={next}")).into_response());
        }
        if guest.name_taken {
            return Ok(Redirect::to("/?error=nickname_taken").into_response());
        }
    }
    // Whoever may not read the room learns nothing of it, not even that it exists.
    let grant = state
        .access
        .grant(&page.identity, &room)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("checking access to a room"))?;
    if grant.banned {
        return Err(AppError::Forbidden("you are banned from this room"));
    }
    if !grant.may_read() {
        return Err(AppError::NotFound("room"));
    }
    let history = state
        .store
        .recent(&room, state.config.history)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("loading history"))?;
    let last_id = history.last().map_or(0, |m| m.seq);
    // Messages and tombstones, with edits already applied; the events that made them are not lines.
    let lines: Vec<_> = history
        .iter()
        .filter(|m| matches!(m.kind, MessageKind::Message | MessageKind::Deleted))
        .map(|m| {
            context! {
                id => m.seq,
                ts => rfc3339_ms(m.ts_ms),
                user => &m.author,
                message => &m.body,
                guest => m.guest,
                deleted => m.kind == MessageKind::Deleted,
                edited => m.edited,
            }
        })
        .collect();
    Ok(page
        .render(
            &state,
            "room.html",
            context! {
                room => room.as_str(),
                kind => grant.kind.as_str(),
                topic => &grant.topic,
                role => grant.role.map(|r| r.as_str()),
                manages => grant.may_add_members(),
                messages => lines,
                last_id => last_id,
                max_bytes => state.config.max_message_bytes,
                nickname => page.identity.name().as_str(),
            },
        )?
        .into_response())
}

/// Django's APPEND_SLASH: `/chat/x` redirects to `/chat/x/`.
async fn add_slash(RoomParam(room): RoomParam) -> Redirect {
    Redirect::permanent(&format!("/chat/{}/", urlencode(room.as_str())))
}
