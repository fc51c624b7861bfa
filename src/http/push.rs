//! Web Push's pages: `/accounts/settings/`, where a signed-in person sees the browsers that get their
//! pushes (the push service's origin and when each was added) and removes one (a CSRF form); `/sw.js`,
//! the service worker that shows a push as a notification and opens the room at its message on a click
//! (served at the root so its scope is the whole site); `/static/push.js`, the bell button's script.

use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

use super::page::Page;
use crate::accounts::Identity;
use crate::domain::rfc3339_ms;
use crate::error::AppError;
use crate::state::AppState;

const SW_JS: &str = include_str!("../../static/sw.js");
const PUSH_JS: &str = include_str!("../../static/push.js");

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/settings/", get(settings))
        .route("/accounts/settings/devices/remove", post(remove_device))
        .route("/sw.js", get(service_worker))
        .route("/static/push.js", get(push_js))
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    endpoint: String,
}

/// The origin of an endpoint (what the page shows of it: the rest is the browser's secret).
fn origin(endpoint: &str) -> String {
    reqwest::Url::parse(endpoint)
        .map(|url| url.origin().ascii_serialization())
        .unwrap_or_else(|_| "?".into())
}

async fn settings(State(state): State<AppState>, page: Page) -> Result<Response, AppError> {
    let Identity::User(user) = &page.identity else {
        return Ok(Redirect::to("/accounts/login/?next=/accounts/settings/").into_response());
    };
    let devices: Vec<_> = state
        .store
        .db()
        .push_subscriptions(user.id)
        .await
        .map_err(anyhow::Error::from)?
        .into_iter()
        .map(|row| {
            context! {
                origin => origin(&row.endpoint),
                endpoint => row.endpoint,
                added => rfc3339_ms(row.created_at),
            }
        })
        .collect();
    Ok(page
        .render(&state, "settings.html", context! { devices => devices })?
        .into_response())
}

async fn remove_device(
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<RemoveForm>,
) -> Result<Response, AppError> {
    let Identity::User(user) = &page.identity else {
        return Ok(Redirect::to("/accounts/login/?next=/accounts/settings/").into_response());
    };
    state
        .store
        .db()
        .remove_push_subscription(user.id, &form.endpoint)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Redirect::to("/accounts/settings/").into_response())
}

/// The service worker, allowed the whole site as its scope, and never cached for long (a new version
/// should reach browsers soon).
async fn service_worker() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            (
                axum::http::HeaderName::from_static("service-worker-allowed"),
                "/",
            ),
        ],
        SW_JS,
    )
}

async fn push_js() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        PUSH_JS,
    )
}
