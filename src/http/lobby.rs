//! The lobby at `/` and its two forms. The page lists "Your rooms" (the private and direct rooms the
//! signed-in person belongs to, with unread counts; a direct room is named by its other members) and the
//! public rooms, as `Db::room_activity` gives them: only rooms the person may see. Signed-in people also get
//! a form to create a room (`POST /rooms/`) and one to message someone (`POST /dms/`); both call
//! `src/access/` and go to the room (303), or show the lobby again with what was wrong (400, 404, 409).
//! Guests get neither form: they cannot create rooms.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{Value, context};
use serde::Deserialize;

use super::page::{Page, urlencode};
use super::refusal::Refusal;
use crate::access::MAX_DIRECT_MEMBERS;
use crate::accounts::Identity;
use crate::accounts::cookies::NICKNAME_COOKIE;
use crate::domain::{RoomKind, RoomName, rfc3339_ms};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::RoomActivity;

/// Rooms listed in the lobby.
const LOBBY_ROOMS: u32 = 100;

/// The lobby's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(lobby))
        .route("/rooms/", post(create_room))
        .route("/dms/", post(open_direct))
}

#[derive(Deserialize)]
struct LobbyQuery {
    error: Option<String>,
}

/// The create-a-room form.
#[derive(Deserialize, Default)]
struct RoomForm {
    #[serde(default)]
    name: String,
    /// `public` or `private`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    topic: String,
}

/// The message-someone form: one username, or several separated by commas.
#[derive(Deserialize, Default)]
struct DirectForm {
    #[serde(default)]
    users: String,
}

/// A refused form, filled in again as it was sent.
enum Filled {
    Room(RoomForm),
    Direct(DirectForm),
}

/// What the lobby shows besides its lists: what went wrong, and the form that was refused.
#[derive(Default)]
struct Outcome {
    error: Option<String>,
    filled: Option<Filled>,
}

async fn lobby(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<LobbyQuery>,
) -> Result<Html<String>, AppError> {
    let error = match query.error.as_deref() {
        Some("nickname_taken") => {
            Some("That nickname belongs to a registered user: log in, or choose another.".into())
        }
        _ => None,
    };
    let outcome = Outcome {
        error,
        ..Outcome::default()
    };
    render(&state, &page, outcome).await
}

/// The lobby page, with `outcome`.
async fn render(state: &AppState, page: &Page, outcome: Outcome) -> Result<Html<String>, AppError> {
    let (room, direct, refused) = match outcome.filled {
        Some(Filled::Room(room)) => (room, DirectForm::default(), Some("room")),
        Some(Filled::Direct(direct)) => (RoomForm::default(), direct, Some("direct")),
        None => (RoomForm::default(), DirectForm::default(), None),
    };
    // Only the rooms this person may see listed: the public ones and those they are a member of.
    let user_id = page.identity.user_id();
    let rooms = state
        .store
        .db()
        .room_activity(user_id, LOBBY_ROOMS)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("listing rooms"))?;
    let (public, mine): (Vec<_>, Vec<_>) = rooms.iter().partition(|r| r.kind == RoomKind::Public);
    let public: Vec<_> = public.into_iter().map(public_entry).collect();
    let mut my_rooms = Vec::with_capacity(mine.len());
    for room in mine {
        my_rooms.push(member_entry(state, user_id, room).await?);
    }
    page.render(
        state,
        "lobby.html",
        context! {
            rooms => public,
            my_rooms => my_rooms,
            // Without a nickname the box is empty (its placeholder says what the name will be).
            nickname => Some(page.identity.name()).filter(|n| !n.is_anonymous()).map(|n| n.as_str()),
            nickname_cookie => NICKNAME_COOKIE,
            guests => state.config.guests,
            error => outcome.error,
            // Which form the error is about (`None`: the page's).
            refused => refused,
            room_form => context! {
                name => room.name,
                private => room.kind == "private",
                topic => room.topic,
            },
            dm_users => direct.users,
            max_others => MAX_DIRECT_MEMBERS - 1,
        },
    )
}

fn public_entry(room: &RoomActivity) -> Value {
    context! {
        name => &room.name,
        messages => room.last_seq,
        last_activity => rfc3339_ms(room.updated_at_ms),
        href => format!("/chat/{}/", urlencode(&room.name)),
    }
}

/// A room of "Your rooms": a direct room is named by its other members, and the unread count includes
/// a read mark not written yet (as `GET /api/rooms/` counts it).
async fn member_entry(
    state: &AppState,
    user_id: Option<i64>,
    room: &RoomActivity,
) -> Result<Value, AppError> {
    let db = state.store.db();
    let label = if room.kind == RoomKind::Direct {
        let members = db.members(&room.name).await?;
        let others: Vec<_> = members
            .iter()
            .filter(|m| Some(m.user_id) != user_id)
            .map(|m| m.username.as_str())
            .collect();
        others.join(", ")
    } else {
        room.name.clone()
    };
    let mut unread = room.unread;
    if let (Some(user_id), Some(name)) = (user_id, RoomName::parse(&room.name))
        && let Some(mark) = state.store.pending_mark(user_id, &name)
    {
        unread = Some(db.unread_after(user_id, &name, mark).await?);
    }
    Ok(context! {
        name => &room.name,
        label => label,
        kind => room.kind.as_str(),
        role => room.role.map(|r| r.as_str()),
        unread => unread,
        last_activity => rfc3339_ms(room.updated_at_ms),
        href => format!("/chat/{}/", urlencode(&room.name)),
    })
}

/// The lobby again with `refusal` and the refused form, served with the refusal's status.
async fn refused(
    state: &AppState,
    page: &Page,
    refusal: Refusal,
    filled: Filled,
) -> Result<Response, AppError> {
    let status = refusal.status;
    let outcome = Outcome {
        error: Some(refusal.message),
        filled: Some(filled),
    };
    Ok((status, render(state, page, outcome).await?).into_response())
}

fn to_room(room: &RoomName) -> Response {
    let to = format!("/chat/{}/", urlencode(room.as_str()));
    Redirect::to(&to).into_response()
}

async fn create_room(
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<RoomForm>,
) -> Result<Response, AppError> {
    let Identity::User(user) = &page.identity else {
        let refusal = Refusal {
            status: StatusCode::FORBIDDEN,
            message: "Log in to create a room.".into(),
        };
        return refused(&state, &page, refusal, Filled::Room(form)).await;
    };
    let kind = match form.kind.as_str() {
        "public" | "" => RoomKind::Public,
        "private" => RoomKind::Private,
        _ => {
            let refusal = Refusal::bad_request("A room is public or private.");
            return refused(&state, &page, refusal, Filled::Room(form)).await;
        }
    };
    let Some(name) = RoomName::parse(form.name.trim()) else {
        let refusal = Refusal::bad_request(
            "A room name is 1 to 64 letters, digits, \"-\", \"_\" or \".\" (but not \".\" or \"..\").",
        );
        return refused(&state, &page, refusal, Filled::Room(form)).await;
    };
    match state
        .access
        .create_room(user, name.clone(), kind, &form.topic)
        .await
    {
        Ok(()) => Ok(to_room(&name)),
        Err(error) => {
            let refusal = Refusal::of(error)?;
            refused(&state, &page, refusal, Filled::Room(form)).await
        }
    }
}

async fn open_direct(
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<DirectForm>,
) -> Result<Response, AppError> {
    let Identity::User(user) = &page.identity else {
        let refusal = Refusal {
            status: StatusCode::FORBIDDEN,
            message: "Log in to message someone.".into(),
        };
        return refused(&state, &page, refusal, Filled::Direct(form)).await;
    };
    let others: Vec<String> = form
        .users
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    if others.is_empty() || others.len() >= MAX_DIRECT_MEMBERS {
        let refusal = Refusal::bad_request(format!(
            "Name 1 to {} people, separated by commas.",
            MAX_DIRECT_MEMBERS - 1
        ));
        return refused(&state, &page, refusal, Filled::Direct(form)).await;
    }
    match state.access.open_direct(user, &others).await {
        Ok((room, _)) => Ok(to_room(&room)),
        Err(error) => {
            let refusal = Refusal::of(error)?;
            refused(&state, &page, refusal, Filled::Direct(form)).await
        }
    }
}
