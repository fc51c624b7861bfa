//! The account pages, at Django's URLs with Django's field names: `/accounts/signup/` (`username`,
//! `password1`, `password2`), `/accounts/login/` (`username`, `password`, `next`) and `/accounts/logout/`
//! (POST). A bad attempt gets the form again (200, or 429 while throttled) with a clear message; success
//! sets the session cookie and redirects (303). CSRF is checked before any of these run.

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;

use super::page::{Page, safe_next};
use crate::accounts::AccountError;
use crate::accounts::cookies::{SESSION_COOKIE, cookie};
use crate::error::AppError;
use crate::limits::AddressKey;
use crate::limits::ClientIp;
use crate::state::AppState;

/// The account routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/signup/", get(signup_form).post(signup))
        .route("/accounts/login/", get(login_form).post(login))
        .route("/accounts/logout/", get(logout_form).post(logout))
}

#[derive(Deserialize, Default)]
struct NextParam {
    next: Option<String>,
}

#[derive(Deserialize)]
struct SignupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password1: String,
    #[serde(default)]
    password2: String,
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// An empty form (`signup.html` or `login.html`) that goes on to `?next=` afterwards.
async fn empty_form(
    state: &AppState,
    page: &Page,
    template: &str,
    next: Option<&str>,
) -> Result<Response, AppError> {
    let next = safe_next(next);
    let ctx = context! { next => next, username => "" };
    Ok(page.render(state, template, ctx)?.into_response())
}

async fn signup_form(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<NextParam>,
) -> Result<Response, AppError> {
    empty_form(&state, &page, "signup.html", query.next.as_deref()).await
}

async fn signup(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    Form(form): Form<SignupForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    match state
        .accounts
        .sign_up(&form.username, &form.password1, &form.password2)
        .await
    {
        Ok(user) => {
            tracing::info!(user = %user.username, "signed up");
            signed_in(&state, &headers, user.id, &next).await
        }
        Err(error @ (AccountError::Store(_) | AccountError::Internal(_))) => Err(error.into()),
        Err(error) => Ok(page
            .render(
                &state,
                "signup.html",
                context! { next => next, username => form.username, error => error.to_string() },
            )?
            .into_response()),
    }
}

async fn login_form(
    State(state): State<AppState>,
    page: Page,
    Query(query): Query<NextParam>,
) -> Result<Response, AppError> {
    empty_form(&state, &page, "login.html", query.next.as_deref()).await
}

async fn login(
    State(state): State<AppState>,
    page: Page,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    let client = ip.map_or_else(AddressKey::unknown, AddressKey::of);
    match state
        .accounts
        .log_in(&form.username, &form.password, client)
        .await
    {
        Ok(user) => signed_in(&state, &headers, user.id, &next).await,
        Err(error @ (AccountError::Store(_) | AccountError::Internal(_))) => Err(error.into()),
        Err(error) => {
            let status = match error {
                AccountError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::OK,
            };
            tracing::info!(%client, "login failed");
            let html = page.render(
                &state,
                "login.html",
                context! { next => next, username => form.username, error => error.to_string() },
            )?;
            Ok((status, html).into_response())
        }
    }
}

/// Starts a fresh session (ending the one the browser held) and redirects to `next`.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    user_id: i64,
    next: &str,
) -> Result<Response, AppError> {
    let session = state
        .accounts
        .start_session(user_id, cookie(headers, SESSION_COOKIE))
        .await?;
    let set = state.accounts.session_cookie(&session, headers);
    Ok(([(SET_COOKIE, set)], Redirect::to(next)).into_response())
}

async fn logout_form(State(state): State<AppState>, page: Page) -> Result<Response, AppError> {
    Ok(page
        .render(&state, "logout.html", context! {})?
        .into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        state.accounts.end_session(session).await?;
    }
    let clear = state.accounts.clear_session_cookie(&headers);
    Ok(([(SET_COOKIE, clear)], Redirect::to("/")).into_response())
}
