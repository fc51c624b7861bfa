//! A room's incoming webhooks in the admin: listed on the room's page (`moderation.rs` renders it, with
//! [`hooks_context`]), each with a revoke form (CSRF like every admin form, audited). Staff make new ones
//! from the room page or the API (`crate::incoming`), where the URL is shown once.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use minijinja::{Value, context};

use super::{Staff, done};
use crate::domain::{RoomName, rfc3339_ms};
use crate::error::AppError;
use crate::http::page::urlencode;
use crate::state::AppState;
use crate::storage::now_ms;

/// The hook routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/hooks/incoming/{id}/revoke", post(revoke))
}

/// The live incoming webhooks of `room`, for its admin page.
pub(super) async fn hooks_context(state: &AppState, room: &RoomName) -> Result<Value, AppError> {
    let hooks = state.store.db().incoming_hooks(Some(room.as_str())).await?;
    Ok(Value::from_iter(hooks.into_iter().map(|h| {
        context! { id => h.id, name => h.name, since => rfc3339_ms(h.created_at) }
    })))
}

async fn revoke(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let db = state.store.db();
    let hook = db
        .incoming_hook(id)
        .await?
        .ok_or(AppError::NotFound("incoming webhook"))?;
    if !db.revoke_incoming_hook(id, now_ms()).await? {
        return Err(AppError::NotFound("incoming webhook"));
    }
    staff
        .audit(
            &state,
            "hook.revoke",
            &hook.room,
            &format!("incoming webhook {id} ({})", hook.name),
        )
        .await?;
    Ok(done(
        None,
        &format!("/admin/rooms/{}/", urlencode(&hook.room)),
        "incoming webhook revoked",
    ))
}
