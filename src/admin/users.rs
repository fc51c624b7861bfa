//! Users in the admin: a searchable, paginated list; creating a user; a user's page with activation,
//! staff rights, being a bot (token only), a new password and API tokens (created, shown once, revoked).

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;

use super::{Back, PAGE_SIZE, Staff, done, paginate};
use crate::accounts::AccountError;
use crate::domain::rfc3339_ms;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::UserRow;

/// The user routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/", get(list).post(create))
        .route("/admin/users/{id}/", get(detail))
        .route("/admin/users/{id}/active", post(set_active))
        .route("/admin/users/{id}/staff", post(set_staff))
        .route("/admin/users/{id}/bot", post(set_bot))
        .route("/admin/users/{id}/password", post(set_password))
        .route("/admin/users/{id}/tokens", post(create_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
}

fn user_context(user: &UserRow) -> minijinja::Value {
    context! {
        id => user.id, username => &user.username, email => &user.email, is_staff => user.is_staff,
        is_bot => user.is_bot, is_active => user.is_active, created_at => rfc3339_ms(user.created_at),
        last_login => user.last_login.map(rfc3339_ms),
    }
}

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
    notice: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<ListQuery>,
) -> Result<Html<String>, AppError> {
    render_list(&state, &staff, &query, None).await
}

async fn render_list(
    state: &AppState,
    staff: &Staff,
    query: &ListQuery,
    error: Option<String>,
) -> Result<Html<String>, AppError> {
    let search = query.q.clone().unwrap_or_default();
    let db = state.accounts.db();
    let (_, total) = db.users(&search, 0, 0).await?;
    let (offset, pager) = paginate(query.page, total);
    let (users, _) = db.users(&search, PAGE_SIZE, offset).await?;
    let users: Vec<_> = users.iter().map(user_context).collect();
    staff.render(
        state,
        "admin/users.html",
        context! { users => users, q => search, pager => pager, notice => &query.notice, error => error },
    )
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    is_staff: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<NewUserForm>,
) -> Result<Response, AppError> {
    let is_staff = form.is_staff.is_some();
    match state
        .accounts
        .create_user(&form.username, &form.email, &form.password, is_staff)
        .await
    {
        Ok(user) => {
            let detail = if is_staff { "staff" } else { "" };
            staff
                .audit(&state, "user.create", &user.username, detail)
                .await?;
            Ok(done(
                Some(&format!("/admin/users/{}/", user.id)),
                "/admin/users/",
                "user created",
            ))
        }
        Err(error @ (AccountError::Store(_) | AccountError::Internal(_))) => Err(error.into()),
        Err(error) => {
            let query = ListQuery::default();
            Ok(render_list(&state, &staff, &query, Some(error.to_string()))
                .await?
                .into_response())
        }
    }
}

#[derive(Deserialize, Default)]
struct Notice {
    notice: Option<String>,
}

async fn detail(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Query(query): Query<Notice>,
) -> Result<Html<String>, AppError> {
    render_detail(&state, &staff, id, query.notice, None, None).await
}

async fn render_detail(
    state: &AppState,
    staff: &Staff,
    id: i64,
    notice: Option<String>,
    error: Option<String>,
    new_token: Option<String>,
) -> Result<Html<String>, AppError> {
    let user = state.accounts.user(id).await?;
    let tokens: Vec<_> = state
        .accounts
        .tokens(Some(id))
        .await?
        .iter()
        .map(|t| {
            context! { id => t.id, name => &t.name, created_at => rfc3339_ms(t.created_at),
            revoked_at => t.revoked_at.map(rfc3339_ms) }
        })
        .collect();
    staff.render(
        state,
        "admin/user.html",
        context! {
            u => user_context(&user), tokens => tokens, notice => notice, error => error,
            new_token => new_token, is_self => staff.user.id == id,
        },
    )
}

#[derive(Deserialize)]
struct Flag {
    value: String,
    next: Option<String>,
}

fn flag(value: &str) -> Result<bool, AppError> {
    match value {
        "true" | "on" | "1" => Ok(true),
        "false" | "off" | "0" => Ok(false),
        _ => Err(AppError::BadRequest("value must be true or false".into())),
    }
}

async fn set_active(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<Flag>,
) -> Result<Response, AppError> {
    let active = flag(&form.value)?;
    if !active && id == staff.user.id {
        return Err(AppError::BadRequest(
            "you cannot deactivate yourself".into(),
        ));
    }
    let user = state.accounts.user(id).await?;
    state.accounts.set_active(id, active).await?;
    let action = if active {
        "user.reactivate"
    } else {
        "user.deactivate"
    };
    staff.audit(&state, action, &user.username, "").await?;
    let notice = if active {
        "user reactivated"
    } else {
        "user deactivated; their sockets are closed"
    };
    Ok(done(
        form.next.as_deref(),
        &format!("/admin/users/{id}/"),
        notice,
    ))
}

async fn set_staff(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<Flag>,
) -> Result<Response, AppError> {
    let make_staff = flag(&form.value)?;
    if !make_staff && id == staff.user.id {
        return Err(AppError::BadRequest(
            "you cannot take away your own staff rights".into(),
        ));
    }
    let user = state.accounts.user(id).await?;
    state.accounts.set_staff(id, make_staff).await?;
    let action = if make_staff {
        "user.staff"
    } else {
        "user.unstaff"
    };
    staff.audit(&state, action, &user.username, "").await?;
    Ok(done(
        form.next.as_deref(),
        &format!("/admin/users/{id}/"),
        "staff rights changed",
    ))
}

async fn set_bot(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<Flag>,
) -> Result<Response, AppError> {
    let bot = flag(&form.value)?;
    if bot && id == staff.user.id {
        return Err(AppError::BadRequest(
            "you cannot make yourself a bot".into(),
        ));
    }
    let user = state.accounts.user(id).await?;
    state.accounts.set_bot(id, bot).await?;
    let action = if bot { "user.bot" } else { "user.unbot" };
    staff.audit(&state, action, &user.username, "").await?;
    let notice = if bot {
        "now a bot: signs in by API token only"
    } else {
        "no longer a bot"
    };
    Ok(done(
        form.next.as_deref(),
        &format!("/admin/users/{id}/"),
        notice,
    ))
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password1: String,
    #[serde(default)]
    password2: String,
}

async fn set_password(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let user = state.accounts.user(id).await?;
    let outcome = if form.password1 == form.password2 {
        state.accounts.set_password(id, &form.password1).await
    } else {
        Err(AccountError::PasswordMismatch)
    };
    match outcome {
        Ok(()) => {
            staff
                .audit(&state, "user.password", &user.username, "")
                .await?;
            Ok(done(
                None,
                &format!("/admin/users/{id}/"),
                "password set; their sessions ended",
            ))
        }
        Err(error @ (AccountError::Store(_) | AccountError::Internal(_))) => Err(error.into()),
        Err(error) => Ok(
            render_detail(&state, &staff, id, None, Some(error.to_string()), None)
                .await?
                .into_response(),
        ),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    name: String,
}

async fn create_token(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let user = state.accounts.user(id).await?;
    let (token_id, token) = state.accounts.create_token(id, &form.name).await?;
    staff
        .audit(
            &state,
            "token.create",
            &user.username,
            &format!("token {token_id}"),
        )
        .await?;
    // Shown once, on this response only; the database keeps a hash.
    Ok(render_detail(&state, &staff, id, None, None, Some(token))
        .await?
        .into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(back): Form<Back>,
) -> Result<Response, AppError> {
    let user = state.accounts.revoke_token(id).await?;
    staff
        .audit(
            &state,
            "token.revoke",
            &user.username,
            &format!("token {id}"),
        )
        .await?;
    Ok(done(
        back.next.as_deref(),
        &format!("/admin/users/{}/", user.id),
        "token revoked",
    ))
}
