//! Invite links to private rooms: `GET /invite/<token>/` shows the room's name and a Join button, and only
//! the button's POST (CSRF-protected) joins, so a link preview or a prefetch never makes anyone a member.
//! A guest is sent to log in first and comes back here; a link used up or expired says so (410), one that
//! was never issued is 404. Every decision is `src/access/`'s.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;

use super::page::{Page, urlencode};
use crate::access::MembersError;
use crate::accounts::Identity;
use crate::error::AppError;
use crate::state::AppState;

/// The invite routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/invite/{token}/", get(show).post(join))
}

fn to_login(token: &str) -> Response {
    let next = urlencode(&format!("/invite/{token}/"));
    Redirect::to(&format!("/accounts/login/?next={next}")).into_response()
}

fn refused(error: MembersError) -> Result<Response, AppError> {
    match error {
        MembersError::NotFound(_) => Err(AppError::NotFound("invite link")),
        MembersError::Store(cause) => Err(AppError::Internal(
            anyhow::Error::new(cause).context("reading an invite link"),
        )),
        other => Err(AppError::BadRequest(other.to_string())),
    }
}

async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    page: Page,
) -> Result<Response, AppError> {
    if matches!(page.identity, Identity::Guest(_)) {
        return Ok(to_login(&token));
    }
    let action = format!("/invite/{}/", urlencode(&token));
    match state.access.invited_room(&token).await {
        Ok(room) => Ok(page
            .render(
                &state,
                "invite.html",
                context! { room => room.as_str(), action => action, gone => false },
            )?
            .into_response()),
        Err(MembersError::Gone) => Ok((
            StatusCode::GONE,
            page.render(&state, "invite.html", context! { gone => true })?,
        )
            .into_response()),
        Err(error) => refused(error),
    }
}

async fn join(
    State(state): State<AppState>,
    Path(token): Path<String>,
    page: Page,
) -> Result<Response, AppError> {
    let Identity::User(user) = &page.identity else {
        return Ok(to_login(&token));
    };
    match state.access.join(user, &token).await {
        Ok(room) => {
            let to = format!("/chat/{}/", urlencode(room.as_str()));
            Ok(Redirect::to(&to).into_response())
        }
        Err(MembersError::Gone) => Ok((
            StatusCode::GONE,
            page.render(&state, "invite.html", context! { gone => true })?,
        )
            .into_response()),
        Err(error) => refused(error),
    }
}
