//! The room page's members panel, as forms (CSRF like every form) posted to the room's own paths: add a
//! member (`/chat/<room>/members/`), remove one (`…/members/<user>/remove/`), change a role
//! (`…/members/<user>/role/`), the topic (`/chat/<room>/topic/`), make an invite link
//! (`/chat/<room>/invites/`), and leave (`/chat/<room>/leave/`). Each asks for a fresh grant and leaves
//! the decision to `src/access/`; a change goes back to the room with a notice (303), a refusal shows the
//! room again with what was wrong, a new invite link is shown at once (its token is never stored).
//! Whoever may not read the room gets 404 from every one of these, as from the page: nothing about it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::page::{Page, urlencode};
use super::refusal::Refusal;
use super::room_param::RoomParam;
use super::views::{Feedback, readable, render_room};
use crate::access::{Grant, MAX_INVITE_USES, MembersError};
use crate::accounts::{Identity, SignedIn};
use crate::domain::{Role, RoomName, rfc3339_ms};
use crate::error::AppError;
use crate::state::AppState;

/// How long a link made on the page lasts, by the form's `expires` choice.
const LIFETIMES: [(&str, u64); 3] = [("hour", 3600), ("day", 86_400), ("week", 7 * 86_400)];

/// The panel's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat/{room}/members/", post(add))
        .route("/chat/{room}/members/{user}/remove/", post(remove))
        .route("/chat/{room}/members/{user}/role/", post(set_role))
        .route("/chat/{room}/topic/", post(set_topic))
        .route("/chat/{room}/lock/", post(set_locked))
        .route("/chat/{room}/invites/", post(invite))
        .route("/chat/{room}/leave/", post(leave))
}

/// A signed-in person who may read the room, with their grant there, decided now.
struct Reader {
    user: Arc<SignedIn>,
    page: Page,
    room: RoomName,
    grant: Grant,
}

impl Reader {
    /// Refuses (404) whoever may not read `room`, and guests (who change nothing) with 403.
    async fn of(state: &AppState, page: Page, room: RoomName) -> Result<Self, AppError> {
        let grant = readable(state, &page.identity, &room).await?;
        let Identity::User(user) = &page.identity else {
            return Err(AppError::Forbidden("log in to change a room's members"));
        };
        let user = user.clone();
        Ok(Self {
            user,
            page,
            room,
            grant,
        })
    }

    fn user(&self) -> &SignedIn {
        &self.user
    }

    /// Back to the room page with the notice `done` (a [`super::views::notice_of`] code).
    fn done(&self, done: &str) -> Response {
        let to = format!("/chat/{}/?done={done}", urlencode(self.room.as_str()));
        Redirect::to(&to).into_response()
    }

    /// `outcome` of a change: back to the room with `done`, or the room again with its refusal.
    async fn answer(
        &self,
        state: &AppState,
        outcome: Result<(), MembersError>,
        done: &str,
    ) -> Result<Response, AppError> {
        match outcome {
            Ok(()) => Ok(self.done(done)),
            Err(error) => self.refused(state, Refusal::of(error)?).await,
        }
    }

    /// The room page again, with `refusal`, served with its status.
    async fn refused(&self, state: &AppState, refusal: Refusal) -> Result<Response, AppError> {
        let feedback = Feedback {
            error: Some(refusal.message),
            ..Feedback::default()
        };
        let html = render_room(state, &self.page, &self.room, &self.grant, feedback).await?;
        Ok((refusal.status, html).into_response())
    }
}

/// `{user}` in a member's path.
#[derive(Deserialize)]
struct MemberPath {
    user: String,
}

/// The add-a-member form.
#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    user: String,
    /// Only owners choose; a moderator's form has no role field.
    role: Option<String>,
}

/// The role form.
#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

/// The topic form.
#[derive(Deserialize)]
struct TopicForm {
    #[serde(default)]
    topic: String,
}

/// The invite form: how many may join with the link, and for how long.
#[derive(Deserialize)]
struct InviteForm {
    max_uses: Option<String>,
    expires: Option<String>,
}

fn role_of(text: Option<&str>) -> Result<Role, Refusal> {
    match text.map(str::trim) {
        None | Some("") => Ok(Role::Member),
        Some(text) => Role::parse(text)
            .ok_or_else(|| Refusal::bad_request("A role is member, moderator or owner.")),
    }
}

async fn add(
    State(state): State<AppState>,
    RoomParam(room): RoomParam,
    page: Page,
    Form(form): Form<AddForm>,
) -> Result<Response, AppError> {
    let reader = Reader::of(&state, page, room).await?;
    let role = match role_of(form.role.as_deref()) {
        Ok(role) => role,
        Err(refusal) => return reader.refused(&state, refusal).await,
    };
    let outcome = state
        .access
        .add_member(reader.user(), &reader.grant, &reader.room, &form.user, role)
        .await;
    reader.answer(&state, outcome, "added").await
}

async fn remove(
    State(state): State<AppState>,
    RoomParam(room): RoomParam,
    Path(path): Path<MemberPath>,
    page: Page,
) -> Result<Response, AppError> {
    let reader = Reader::of(&state, page, room).await?;
    let outcome = state
        .access
        .remove_member(reader.user(), &reader.grant, &reader.room, &path.user)
        .await;
    reader.answer(&state, outcome, "removed").await
}

async fn set_role(
    State(state): State<AppState>,
    RoomParam(room): RoomParam,
    Path(path): Path<MemberPath>,
    page: Page,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    let reader = Reader::of(&state, page, room).await?;
    let role = match role_of(Some(&form.role)) {
        Ok(role) => role,
        Err(refusal) => return reader.refused(&state, refusal).await,
    };
    let outcome = state
        .access
        .set_role(reader.user(), &reader.grant, &reader.room, &path.user, role)
        .await;
    reader.answer(&state, outcome, "role").await
}

async fn set_topic(
    State(state): State<AppState>,
    RoomParam(room): RoomParam,
    page: Page,
    Form(form): Form<TopicForm>,
) -> Result<Response, AppError> {
    let reader = Reader::of(&state, page, room).await?;
    let outcome = state
        .access
        .set_topic(&reader.user, &reader.grant, &reader.room, &form.topic)
        .await
        .map(drop);
    reader.answer(&state, outcome, "topic").await
}

/// The lock form: `true` locks, `false` opens.
#[derive(Deserialize)]
struct LockForm {
    #[serde(default)]
    locked: String,
}

async fn set_locked(
    State(state): State<AppState>,
    RoomParam(room): RoomParam,
    page: Page,
    Form(form): Form<LockForm>,
) -> Result<Response, AppError> {
    let reader = Reader::of(&state, page, room).await?;
    let locked = form.locked == "true";
    let outcome = state
        .access
        .set_locked(reader.user(), &reader.grant, &reader.room, locked)
        .await;
    reader
        .answer(&state, outcome, if locked { "locked" } else { "unlocked" })
        .await
}

async fn invite(
    State(state): State<AppState>,
    RoomParam(room): RoomParam,
    page: Page,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let reader = Reader::of(&state, page, room).await?;
    let uses = form.max_uses.as_deref().map_or("1", str::trim);
    let Some(max_uses) = uses
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_INVITE_USES).contains(n))
    else {
        let refusal = Refusal::bad_request(format!(
            "An invite link lets 1 to {MAX_INVITE_USES} people join."
        ));
        return reader.refused(&state, refusal).await;
    };
    let expires = form.expires.as_deref().unwrap_or("day");
    let Some(&(_, secs)) = LIFETIMES.iter().find(|(name, _)| *name == expires) else {
        let refusal = Refusal::bad_request("An invite link lasts an hour, a day or a week.");
        return reader.refused(&state, refusal).await;
    };
    match state
        .access
        .invite(reader.user(), &reader.grant, &reader.room, max_uses, secs)
        .await
    {
        Ok(link) => {
            let feedback = Feedback {
                invite: Some((link.url, rfc3339_ms(link.expires_at_ms))),
                ..Feedback::default()
            };
            let html = render_room(&state, &reader.page, &reader.room, &reader.grant, feedback);
            Ok(html.await?.into_response())
        }
        Err(error) => reader.refused(&state, Refusal::of(error)?).await,
    }
}

async fn leave(
    State(state): State<AppState>,
    RoomParam(room): RoomParam,
    page: Page,
) -> Result<Response, AppError> {
    let reader = Reader::of(&state, page, room).await?;
    let me = reader.user().name.as_str().to_owned();
    match state
        .access
        .remove_member(reader.user(), &reader.grant, &reader.room, &me)
        .await
    {
        // A private room is no longer theirs to read: back to the lobby.
        Ok(()) => Ok(Redirect::to("/").into_response()),
        Err(error) => reader.refused(&state, Refusal::of(error)?).await,
    }
}
