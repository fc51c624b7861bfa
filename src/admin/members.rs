//! A room's members in the admin, on the room's page (`/admin/rooms/<room>/`): who is in it with which
//! role, and forms to add someone (with a role) and to remove someone. Staff act through `src/access/`
//! with their own fresh grant, like owners on the room page; `src/access/` audits every change staff
//! make. A direct room's members never change: its list is shown read-only.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::{Staff, done};
use crate::access::{Grant, MembersError};
use crate::accounts::Identity;
use crate::domain::{Role, RoomKind, RoomName};
use crate::error::AppError;
use crate::http::page::urlencode;
use crate::http::room_param::RoomParam;
use crate::state::AppState;

/// The member routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/rooms/{room}/members", post(add))
        .route("/admin/rooms/{room}/members/{user}/remove", post(remove))
}

#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
struct MemberPath {
    user: String,
}

/// Refuses a change to a direct room up front: staff may not even read one, so `src/access/` would call
/// it not found, which the admin (that lists it) would contradict.
fn changeable(grant: &Grant) -> Result<(), MembersError> {
    if grant.kind == RoomKind::Direct {
        return Err(MembersError::Forbidden(
            "a direct room's members never change",
        ));
    }
    Ok(())
}

/// Back to the room's page with `notice`, or the page again with what `access` refused.
async fn answer(
    state: &AppState,
    staff: &Staff,
    room: &RoomName,
    outcome: Result<(), MembersError>,
    notice: &str,
) -> Result<Response, AppError> {
    let error = match outcome {
        Ok(()) => {
            let page = format!("/admin/rooms/{}/", urlencode(room.as_str()));
            return Ok(done(None, &page, notice));
        }
        Err(MembersError::Store(error)) => return Err(error.into()),
        Err(error) => error.to_string(),
    };
    let page = super::moderation::render(state, staff, room, None, Some(error)).await?;
    Ok(page.into_response())
}

async fn add(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(form): Form<AddForm>,
) -> Result<Response, AppError> {
    let identity = Identity::User(Arc::clone(&staff.user));
    let grant = state.access.grant(&identity, &room).await?;
    let outcome = match (changeable(&grant), Role::parse(form.role.trim())) {
        (Err(error), _) => Err(error),
        (Ok(()), Some(role)) => {
            state
                .access
                .add_member(&staff.user, &grant, &room, &form.user, role)
                .await
        }
        (Ok(()), None) => Err(MembersError::Invalid(
            "a role is member, moderator or owner".into(),
        )),
    };
    let notice = format!("{} is a member now", form.user.trim());
    answer(&state, &staff, &room, outcome, &notice).await
}

async fn remove(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Path(path): Path<MemberPath>,
) -> Result<Response, AppError> {
    let identity = Identity::User(Arc::clone(&staff.user));
    let grant = state.access.grant(&identity, &room).await?;
    let outcome = match changeable(&grant) {
        Ok(()) => {
            state
                .access
                .remove_member(&staff.user, &grant, &room, &path.user)
                .await
        }
        Err(error) => Err(error),
    };
    let notice = format!("{} is no longer a member", path.user.trim());
    answer(&state, &staff, &room, outcome, &notice).await
}
