//! Every route of a node (Django's `urls.py`): the pages, the admin and the socket, behind CSRF protection,
//! the guest id cookie, and request tracing.

use axum::Router;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// The node's whole router.
pub fn router(state: AppState) -> Router {
    let secure_cookies = state.config.secure_cookies;
    Router::new()
        .merge(crate::http::router())
        .merge(crate::admin::router())
        .merge(crate::ws::router())
        .merge(crate::files::router())
        .layer(axum::middleware::from_fn(move |request, next| {
            crate::accounts::csrf::protect(secure_cookies, request, next)
        }))
        // A guest's page or handshake without a guest id gets one (src/accounts/guest_id.rs).
        .layer(axum::middleware::from_fn(move |request, next| {
            crate::accounts::guest_id::keep(secure_cookies, request, next)
        }))
        // Read-only JSON, outside CSRF so that its errors stay JSON (src/api/mod.rs says why).
        .merge(crate::api::router())
        .layer(TraceLayer::new_for_http().make_span_with(trace_span))
        .with_state(state)
}

/// Request spans carry the route pattern, not the raw URI (which holds user text).
fn trace_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", axum::extract::MatchedPath::as_str);
    tracing::info_span!("http", method = %request.method(), route)
}
