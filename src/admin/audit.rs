//! The audit log page: who did what to whom, when, newest first.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use minijinja::{Value, context};

use super::{PAGE_SIZE, PageParam, Staff, paginate};
use crate::domain::rfc3339_ms;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::AuditEntry;

/// The audit route.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/audit/", get(list))
}

/// An entry for a template.
pub fn entry(e: &AuditEntry) -> Value {
    context! {
        id => e.id, at => rfc3339_ms(e.at), actor => &e.actor, action => &e.action,
        target => &e.target, detail => &e.detail,
    }
}

async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<PageParam>,
) -> Result<Html<String>, AppError> {
    let db = state.accounts.db();
    let (_, total) = db.audit_log(0, 0).await?;
    let (offset, pager) = paginate(query.page, total);
    let (entries, _) = db.audit_log(PAGE_SIZE, offset).await?;
    let entries: Vec<_> = entries.iter().map(entry).collect();
    staff.render(
        &state,
        "admin/audit.html",
        context! { entries => entries, pager => pager },
    )
}
