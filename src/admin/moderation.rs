//! A room's moderation in the admin, at `/admin/rooms/<room>/`: its mutes, bans and slow mode, with forms
//! (CSRF like every admin form) to mute, ban, kick, lift and set slow mode. Each form goes through
//! `moderation::Moderation::act`, as staff clients' socket commands do, so both are stored, audited and
//! applied on every node the same way.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Staff, done};
use crate::domain::rfc3339_ms;
use crate::domain::{RoomKind, RoomName};
use crate::error::AppError;
use crate::http::page::urlencode;
use crate::http::room_param::RoomParam;
use crate::moderation::{Action, MAX_SLOW_MODE_SECS, ModerationError, Subject, Via};
use crate::state::AppState;

/// The room moderation routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/rooms/{room}/", get(page))
        .route("/admin/rooms/{room}/mute", post(mute))
        .route("/admin/rooms/{room}/unmute", post(unmute))
        .route("/admin/rooms/{room}/ban", post(ban))
        .route("/admin/rooms/{room}/unban", post(unban))
        .route("/admin/rooms/{room}/kick", post(kick))
        .route("/admin/rooms/{room}/slow_mode", post(slow_mode))
}

#[derive(Deserialize, Default)]
struct Notice {
    notice: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Query(query): Query<Notice>,
) -> Result<Html<String>, AppError> {
    render(&state, &staff, &room, query.notice, None).await
}

/// The room's admin page, with a notice or an error.
pub(super) async fn render(
    state: &AppState,
    staff: &Staff,
    room: &RoomName,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Html<String>, AppError> {
    let (sanctions, slow) = state.moderation.listing(room).await?;
    let row = |s: &crate::storage::SanctionRow| {
        context! {
            name => &s.name, guest => Subject::parse(&s.subject).is_some_and(|s| s.is_guest()),
            until => s.until_ms.map(rfc3339_ms), actor => &s.actor, since => rfc3339_ms(s.created_at),
        }
    };
    let of_kind = |kind: &str| -> Vec<_> {
        sanctions
            .iter()
            .filter(|s| s.kind == kind)
            .map(row)
            .collect()
    };
    staff.render(
        state,
        "admin/room.html",
        context! {
            room => room.as_str(), href => urlencode(room.as_str()), slow => slow,
            max_slow => MAX_SLOW_MODE_SECS, mutes => of_kind("mute"), bans => of_kind("ban"),
            notice => notice, error => error,
            retention => super::rooms::retention_context(state, room).await?,
            members => members_context(state, room).await?,
            hooks => super::incoming_hooks::hooks_context(state, room).await?,
        },
    )
}

/// Carries out `action` and goes back to the room's page with a notice, or shows the page again with
/// what was wrong.
async fn act(
    state: &AppState,
    staff: &Staff,
    room: &RoomName,
    action: Action,
    notice: &str,
) -> Result<Response, AppError> {
    match state
        .moderation
        .act(&staff.user, room, &action, Via::Admin)
        .await
    {
        Ok(_) => Ok(done(
            None,
            &format!("/admin/rooms/{}/", urlencode(room.as_str())),
            notice,
        )),
        Err(ModerationError::Store(error)) => Err(error.into()),
        Err(error) => Ok(render(state, staff, room, None, Some(error.to_string()))
            .await?
            .into_response()),
    }
}

#[derive(Deserialize)]
struct UserForm {
    #[serde(default)]
    user: String,
    /// Minutes (mutes; optional for bans: empty means until lifted).
    #[serde(default)]
    minutes: String,
}

/// The form's minutes as seconds: `None` when empty.
fn minutes(form: &UserForm) -> Result<Option<u64>, String> {
    let text = form.minutes.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>()
        .ok()
        .filter(|&m| m > 0)
        .map(|m| Some(m.saturating_mul(60)))
        .ok_or_else(|| "minutes must be a whole number above 0".to_owned())
}

/// Shows the page again with `error` (a form that could not be read).
async fn refused(
    state: &AppState,
    staff: &Staff,
    room: &RoomName,
    error: String,
) -> Result<Response, AppError> {
    Ok(render(state, staff, room, None, Some(error))
        .await?
        .into_response())
}

async fn mute(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(form): Form<UserForm>,
) -> Result<Response, AppError> {
    let seconds = match minutes(&form) {
        Ok(Some(seconds)) => seconds,
        Ok(None) => return refused(&state, &staff, &room, "say for how many minutes".into()).await,
        Err(error) => return refused(&state, &staff, &room, error).await,
    };
    let notice = format!("{} is muted in this room", form.user.trim());
    let action = Action::Mute {
        user: form.user,
        seconds,
    };
    act(&state, &staff, &room, action, &notice).await
}

async fn ban(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(form): Form<UserForm>,
) -> Result<Response, AppError> {
    let seconds = match minutes(&form) {
        Ok(seconds) => seconds,
        Err(error) => return refused(&state, &staff, &room, error).await,
    };
    let notice = format!(
        "{} is banned from this room; their sockets here are closed",
        form.user.trim()
    );
    let action = Action::Ban {
        user: form.user,
        seconds,
    };
    act(&state, &staff, &room, action, &notice).await
}

async fn unmute(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(form): Form<UserForm>,
) -> Result<Response, AppError> {
    let notice = format!("{} may speak again", form.user.trim());
    let action = Action::Unmute { user: form.user };
    act(&state, &staff, &room, action, &notice).await
}

async fn unban(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(form): Form<UserForm>,
) -> Result<Response, AppError> {
    let notice = format!("{} may join again", form.user.trim());
    let action = Action::Unban { user: form.user };
    act(&state, &staff, &room, action, &notice).await
}

async fn kick(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(form): Form<UserForm>,
) -> Result<Response, AppError> {
    let notice = format!(
        "{}'s sockets in this room are closed; they may rejoin",
        form.user.trim()
    );
    let action = Action::Kick { user: form.user };
    act(&state, &staff, &room, action, &notice).await
}

#[derive(Deserialize)]
struct SlowModeForm {
    #[serde(default)]
    seconds: String,
}

async fn slow_mode(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(form): Form<SlowModeForm>,
) -> Result<Response, AppError> {
    let text = form.seconds.trim();
    let Some(seconds) = (if text.is_empty() {
        Some(0)
    } else {
        text.parse::<u64>().ok()
    }) else {
        let error = format!("seconds must be a whole number from 0 to {MAX_SLOW_MODE_SECS}");
        return refused(&state, &staff, &room, error).await;
    };
    let notice = if seconds == 0 {
        "slow mode is off".to_owned()
    } else {
        format!("slow mode: one message per person every {seconds} s")
    };
    act(&state, &staff, &room, Action::SlowMode { seconds }, &notice).await
}

/// What the room's page shows of its members: its kind, each member with their role, and whether they
/// may change here.
async fn members_context(state: &AppState, room: &RoomName) -> Result<Value, AppError> {
    let db = state.store.db();
    let kind = db
        .room_access(room.as_str(), None)
        .await?
        .map(|row| row.kind)
        .unwrap_or_default();
    let members: Vec<_> = db
        .members(room.as_str())
        .await?
        .into_iter()
        .map(|m| context! { user => &m.username, href => urlencode(&m.username), role => m.role.as_str() })
        .collect();
    Ok(context! {
        kind => kind.as_str(),
        members => members,
        fixed => kind == RoomKind::Direct,
        roles => ["member", "moderator", "owner"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_minutes_become_seconds() {
        let form = |minutes: &str| UserForm {
            user: "bob".into(),
            minutes: minutes.into(),
        };
        assert_eq!(minutes(&form(" 10 ")), Ok(Some(600)));
        assert_eq!(minutes(&form("")), Ok(None));
        assert!(minutes(&form("0")).is_err());
        assert!(minutes(&form("ten")).is_err());
    }
}
