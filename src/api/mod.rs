//! The JSON HTTP API under `/api/`: the rooms with live member and unread counts, pages of a room's
//! history for scrollback, and the OpenAPI document that describes them (docs/PROTOCOL.md, "HTTP API").
//! Every answer of every route here, errors included, is JSON: paths under `/api/` that name no endpoint
//! and methods an endpoint does not serve get a JSON 404 and 405 too.
//!
//! The API only reads: `routes.rs` merges it outside the CSRF layer, so an unsafe method gets this API's
//! JSON 405 instead of the pages' plain-text CSRF refusal. A route that changes anything must go behind
//! that layer instead.

mod auth;
mod error;
mod messages;
mod openapi;
mod params;
mod rooms;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::Response;
use axum::routing::{any, get};

use crate::state::AppState;

pub use error::{ApiError, ErrorBody, ErrorCode};
pub use openapi::ApiDoc;

/// The API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/rooms/",
            get(rooms::list_rooms).fallback(error::method_not_allowed),
        )
        .route(
            "/api/rooms/{room}/messages",
            get(messages::list_messages).fallback(error::method_not_allowed),
        )
        .route(
            "/api/openapi.json",
            get(openapi::openapi_json).fallback(error::method_not_allowed),
        )
        .route("/api", any(error::not_found))
        .route("/api/", any(error::not_found))
        .route("/api/{*rest}", any(error::not_found))
        .layer(axum::middleware::map_response(no_store))
}

/// Answers depend on who asks (unread counts) and change all the time: no cache keeps them.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
