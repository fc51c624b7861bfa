//! The outgoing webhooks page: every hook (of a room, or of every room) with its receiver, its events, who
//! made it, and its recent deliveries and failures, and a form to remove it (audited). Registering is the
//! API's (`POST /api/rooms/{room}/hooks/outgoing`, `POST /api/hooks/outgoing`): the secret is shown once,
//! to whoever made the hook.

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use minijinja::context;

use super::{Back, Staff, done};
use crate::domain::rfc3339_ms;
use crate::error::AppError;
use crate::state::AppState;

/// Deliveries shown per hook.
const SHOWN: usize = 10;

/// The hooks routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/hooks/", get(list))
        .route("/admin/hooks/{id}/delete", post(delete))
}

async fn list(State(state): State<AppState>, staff: Staff) -> Result<Html<String>, AppError> {
    let db = state.store.db();
    let mut hooks = Vec::new();
    for hook in db.hooks(None).await? {
        let deliveries: Vec<_> = db
            .deliveries(hook.id)
            .await?
            .into_iter()
            .take(SHOWN)
            .map(|d| {
                context! {
                    at => rfc3339_ms(d.at_ms), room => d.room, first => d.first_seq, last => d.last_seq,
                    events => d.events, result => d.result, status => d.status, detail => d.detail,
                    attempt => d.attempt,
                }
            })
            .collect();
        hooks.push(context! {
            id => hook.id,
            room => hook.room.map(|(_, name)| name),
            url => hook.url,
            events => hook.events,
            creator => hook.creator,
            created => rfc3339_ms(hook.created_at_ms),
            deliveries => deliveries,
        });
    }
    staff.render(&state, "admin/hooks.html", context! { hooks => hooks })
}

async fn delete(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(back): Form<Back>,
) -> Result<Response, AppError> {
    let db = state.store.db();
    let hook = db.hook(id).await?.ok_or(AppError::NotFound("hook"))?;
    db.delete_hook(id).await?;
    staff
        .audit(&state, "hook.delete", &format!("hook {id}"), &hook.url)
        .await?;
    Ok(done(back.next.as_deref(), "/admin/hooks/", "hook removed"))
}
