//! The JSON HTTP API under `/api/`: the rooms with live member and unread counts, pages of a room's
//! history for scrollback, and the OpenAPI document that describes them (docs/PROTOCOL.md, "HTTP API").
//! Every answer of every route here, errors included, is JSON: paths under `/api/` that name no endpoint
//! and methods an endpoint does not serve get a JSON 404 and 405 too.
//!
//! `routes.rs` merges the API outside the pages' CSRF layer, so that its refusals stay JSON; the routes
//! that change rooms (`members.rs`) check CSRF in their caller extractor instead: a request signed in by
//! its session cookie must carry the `csrftoken` cookie's value in the `X-CSRFToken` header (a bearer
//! token alone cannot be forged by a browser and passes).

mod auth;
mod error;
mod files;
mod hooks;
mod incoming_hooks;
mod members;
mod messages;
mod openapi;
mod params;
mod publish;
mod push;
mod rooms;
mod search;
mod threads;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::Response;
use axum::routing::{any, delete, get, patch, post};

use crate::state::AppState;

pub use error::{ApiError, ErrorBody, ErrorCode};
pub use files::FileInfo;
pub use openapi::ApiDoc;

/// The API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/rooms/",
            get(rooms::list_rooms)
                .post(members::create_room)
                .fallback(error::allow("GET, HEAD, POST")),
        )
        .route(
            "/api/rooms/{room}",
            patch(members::update_room).fallback(error::allow("PATCH")),
        )
        .route(
            "/api/rooms/{room}/members",
            get(members::list_members)
                .post(members::add_member)
                .fallback(error::allow("GET, HEAD, POST")),
        )
        .route(
            "/api/rooms/{room}/members/{user}",
            patch(members::update_member)
                .delete(members::remove_member)
                .fallback(error::allow("PATCH, DELETE")),
        )
        .route(
            "/api/rooms/{room}/invites",
            post(members::create_invite).fallback(error::allow("POST")),
        )
        .route(
            "/api/dms/",
            post(members::open_direct).fallback(error::allow("POST")),
        )
        .route(
            "/api/rooms/{room}/messages",
            get(messages::list_messages)
                .post(publish::publish)
                .fallback(error::allow("GET, HEAD, POST")),
        )
        .route(
            "/api/rooms/{room}/messages/{id}/thread",
            get(threads::get_thread).fallback(error::method_not_allowed),
        )
        .route(
            "/api/rooms/{room}/files",
            post(files::upload)
                // The upload counts its own bytes against `--max-upload-bytes` as they stream.
                .layer(axum::extract::DefaultBodyLimit::disable())
                .fallback(error::allow("POST")),
        )
        .route(
            "/api/rooms/{room}/pins",
            get(threads::list_pins).fallback(error::method_not_allowed),
        )
        .route(
            "/api/rooms/{room}/hooks/outgoing",
            get(hooks::list_room_hooks)
                .post(hooks::create_room_hook)
                .fallback(error::allow("GET, HEAD, POST")),
        )
        .route(
            "/api/hooks/outgoing",
            get(hooks::list_hooks)
                .post(hooks::create_hook)
                .fallback(error::allow("GET, HEAD, POST")),
        )
        .route(
            "/api/hooks/outgoing/{id}",
            delete(hooks::delete_hook).fallback(error::allow("DELETE")),
        )
        .route(
            "/api/hooks/outgoing/{id}/deliveries",
            get(hooks::list_deliveries).fallback(error::method_not_allowed),
        )
        .route(
            "/api/rooms/{room}/hooks/incoming",
            get(incoming_hooks::list_incoming_hooks)
                .post(incoming_hooks::create_incoming_hook)
                .fallback(error::allow("GET, HEAD, POST")),
        )
        .route(
            "/api/hooks/incoming/{id}",
            delete(incoming_hooks::revoke_incoming_hook).fallback(error::allow("DELETE")),
        )
        // Outside /api/ but JSON like it, and outside the pages' CSRF layer: the token is the credential.
        .route(
            "/hooks/{token}",
            post(incoming_hooks::receive).fallback(error::allow("POST")),
        )
        .route(
            "/api/search",
            get(search::search).fallback(error::method_not_allowed),
        )
        .route(
            "/api/push/key",
            get(push::key).fallback(error::method_not_allowed),
        )
        .route(
            "/api/push/subscriptions",
            post(push::subscribe)
                .delete(push::unsubscribe)
                .fallback(error::allow("POST, DELETE")),
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
