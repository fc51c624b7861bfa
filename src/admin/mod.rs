//! The admin (Django's `admin.py`, for a chat server), at `/admin/`, for staff only: users, rooms (with
//! each room's members, mutes, bans, slow mode and incoming webhooks), messages and the audit log, as
//! server-rendered pages whose forms carry the CSRF token. Guests are sent to the login page; signed-in users without staff rights
//! get 403. Every action writes one audit row.

mod audit;
mod hooks;
mod incoming_hooks;
mod members;
mod moderation;
mod rooms;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;

use crate::accounts::{Identity, SignedIn};
use crate::error::AppError;
use crate::http::page::{Page, urlencode};
use crate::state::AppState;
use crate::storage::now_ms;

/// Rows per admin page.
const PAGE_SIZE: i64 = 50;

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/", get(index))
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .merge(users::router())
        .merge(rooms::router())
        .merge(moderation::router())
        .merge(members::router())
        .merge(audit::router())
        .merge(hooks::router())
        .merge(incoming_hooks::router())
}

/// A staff user's request: the page context and who they are.
pub struct Staff {
    /// The layout's context.
    pub page: Page,
    /// The staff user.
    pub user: Arc<SignedIn>,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let page = Page::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match &page.identity {
            Identity::User(user) if user.is_staff => {
                let user = user.clone();
                Ok(Self { page, user })
            }
            Identity::User(_) => {
                Err(AppError::Forbidden("the admin is for staff users only").into_response())
            }
            Identity::Guest(_) => {
                let next = urlencode(parts.uri.path());
                Err(Redirect::to(&format!("/accounts/login/?next={next}")).into_response())
            }
        }
    }
}

impl Staff {
    /// Renders an admin template.
    pub fn render(
        &self,
        state: &AppState,
        name: &str,
        ctx: Value,
    ) -> Result<Html<String>, AppError> {
        self.page.render(state, name, ctx)
    }

    /// Writes the audit row of an action this user took.
    pub async fn audit(
        &self,
        state: &AppState,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), AppError> {
        tracing::info!(actor = %self.user.name, action, target, "admin action");
        state
            .accounts
            .db()
            .audit(
                Some(self.user.id),
                self.user.name.as_str(),
                action,
                target,
                detail,
                now_ms(),
            )
            .await?;
        Ok(())
    }
}

/// `?page=N` (1-based).
#[derive(Deserialize, Default)]
pub struct PageParam {
    /// The page number.
    pub page: Option<i64>,
}

/// The offset of page `page` and a pager context for `total` rows.
pub fn paginate(page: Option<i64>, total: i64) -> (i64, Value) {
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let page = page.unwrap_or(1).clamp(1, pages);
    let pager = context! {
        page => page,
        pages => pages,
        total => total,
        prev => (page > 1).then(|| page - 1),
        next => (page < pages).then(|| page + 1),
    };
    ((page - 1) * PAGE_SIZE, pager)
}

/// The form field every admin action carries: where to go back to.
#[derive(Deserialize)]
pub struct Back {
    /// A local path.
    pub next: Option<String>,
}

/// Redirects after an action to `next` (a local path) with a notice.
pub fn done(next: Option<&str>, fallback: &str, notice: &str) -> Response {
    let next = crate::http::page::safe_next(next.or(Some(fallback)));
    let separator = if next.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{next}{separator}notice={}", urlencode(notice))).into_response()
}

async fn index(State(state): State<AppState>, staff: Staff) -> Result<Html<String>, AppError> {
    let db = state.accounts.db();
    let (_, users) = db.users("", 1, 0).await?;
    let (_, rooms) = db.admin_rooms(1, 0).await?;
    let (recent, _) = db.audit_log(10, 0).await?;
    let recent: Vec<_> = recent.iter().map(audit::entry).collect();
    staff.render(
        &state,
        "admin/index.html",
        context! { users => users, rooms => rooms, recent => recent },
    )
}
