//! Web Push's API: `GET /api/push/key` (the VAPID public key for `PushManager.subscribe`), and
//! `POST`/`DELETE /api/push/subscriptions` to store or remove the caller's browser's subscription. The
//! endpoint must pass the outbound guard with `--push-hosts` (422 with the guard's code: `not_https`,
//! `host_not_allowed`, ...), and the keys must be a P-256 point and a 16-byte secret (422
//! `invalid_key`). Guests cannot subscribe (401).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::members::{Body, Caller};
use crate::push::crypto::BrowserKeys;
use crate::state::AppState;
use crate::storage::NewPushSubscription;

/// Longest endpoint URL stored.
const MAX_ENDPOINT: usize = 2048;

/// The server's VAPID public key.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"key": "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"}))]
pub struct PushKey {
    /// The base64url (unpadded) of the uncompressed P-256 point: `applicationServerKey`.
    pub key: String,
}

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Deserialize, ToSchema)]
pub struct SubscriptionBody {
    /// Where the push service takes messages for the browser.
    #[schema(example = "https://fcm.googleapis.com/fcm/send/abc...")]
    pub endpoint: String,
    /// The browser's keys.
    pub keys: SubscriptionKeys,
}

/// The keys of a subscription.
#[derive(Deserialize, ToSchema)]
pub struct SubscriptionKeys {
    /// The browser's public key: base64url of a 65-byte uncompressed P-256 point.
    pub p256dh: String,
    /// The browser's authentication secret: base64url of 16 bytes.
    pub auth: String,
}

/// A subscription to remove.
#[derive(Deserialize, ToSchema)]
pub struct EndpointBody {
    /// Its endpoint.
    pub endpoint: String,
}

/// Gives the VAPID public key (the same on every node).
#[utoipa::path(
    get,
    path = "/api/push/key",
    tag = "push",
    operation_id = "push_key",
    responses((status = 200, description = "The key", body = PushKey)),
)]
pub async fn key(State(state): State<AppState>) -> Json<PushKey> {
    Json(PushKey {
        key: state.push.vapid.public_key().to_owned(),
    })
}

/// Stores the caller's browser's subscription (or updates it, by endpoint).
#[utoipa::path(
    post,
    path = "/api/push/subscriptions",
    tag = "push",
    operation_id = "subscribe_push",
    request_body = SubscriptionBody,
    responses(
        (status = 201, description = "Stored: messages that mention the caller, and every message of their direct rooms, are pushed while they have no socket open on the room"),
        (status = 400, description = "`invalid_parameter`: a bad body", body = ErrorBody),
        (status = 401, description = "`login_required`: guests cannot subscribe", body = ErrorBody),
        (status = 403, description = "`forbidden`: the CSRF header is missing or wrong", body = ErrorBody),
        (status = 422, description = "`invalid_url`, `not_https`, `host_not_allowed`, `private_address`, `unresolvable`: the endpoint is not one of the push services' (`--push-hosts`); `invalid_key`: the keys are not a P-256 point and a 16-byte secret", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn subscribe(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Body(body): Body<SubscriptionBody>,
) -> Result<StatusCode, ApiError> {
    if body.endpoint.len() > MAX_ENDPOINT {
        return Err(ApiError::new(
            ErrorCode::InvalidUrl,
            format!("the endpoint is longer than {MAX_ENDPOINT} bytes"),
        ));
    }
    let url = state
        .push
        .outbound
        .check(&body.endpoint)
        .await
        .map_err(ApiError::from)?;
    BrowserKeys::parse(&body.keys.p256dh, &body.keys.auth)
        .map_err(|error| ApiError::new(ErrorCode::InvalidKey, error.to_string()))?;
    state
        .store
        .db()
        .save_push_subscription(&NewPushSubscription {
            user_id: caller.id,
            endpoint: url.as_str(),
            p256dh: body.keys.p256dh.trim(),
            auth: body.keys.auth.trim(),
            now_ms: crate::storage::now_ms(),
        })
        .await?;
    state.push.feed.activate();
    Ok(StatusCode::CREATED)
}

/// Removes the caller's subscription at an endpoint.
#[utoipa::path(
    delete,
    path = "/api/push/subscriptions",
    tag = "push",
    operation_id = "unsubscribe_push",
    request_body = EndpointBody,
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "`invalid_parameter`: a bad body", body = ErrorBody),
        (status = 401, description = "`login_required`: guests have no subscriptions", body = ErrorBody),
        (status = 403, description = "`forbidden`: the CSRF header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no subscription at that endpoint", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn unsubscribe(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Body(body): Body<EndpointBody>,
) -> Result<StatusCode, ApiError> {
    let db = state.store.db();
    // Stored as the guard parsed it; a client may send it as it was given.
    let normal = reqwest::Url::parse(&body.endpoint).map(String::from).ok();
    let mut removed = db
        .remove_push_subscription(caller.id, &body.endpoint)
        .await?;
    if !removed && let Some(normal) = normal.filter(|n| *n != body.endpoint) {
        removed = db.remove_push_subscription(caller.id, &normal).await?;
    }
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ErrorCode::NotFound,
            "no subscription of yours at that endpoint",
        ))
    }
}
