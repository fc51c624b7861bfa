//! Liveness, readiness and counters: `/healthz` answers while the process serves; `/readyz` answers 200 only
//! while the store and the channel layer both answer and the store's writer has no send waiting longer
//! than [`WRITER_STALLED`]; `/metrics` gives the node's counters in Prometheus
//! text format.

use axum::Router;
use axum::extract::State;
use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// The health and metrics routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A send the store has not answered for this long means its writer has stalled: the node is not ready
/// (a healthy writer answers in milliseconds, and waits at most `--store-lock-timeout-ms` for a room).
const WRITER_STALLED: Duration = Duration::from_secs(2);

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = matches!(
        tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    );
    // The layer keeps one connection for probes and reuses its answer for a second (channels/redis/probe.rs):
    // probes never open a connection each.
    let layer = tokio::time::timeout(PROBE_TIMEOUT, state.channels.ready())
        .await
        .unwrap_or(false);
    let waiting = state.stats.oldest_unanswered();
    let writer = waiting < WRITER_STALLED;
    let status = if store && layer && writer {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |up| if up { "up" } else { "down" };
    let writer = if writer {
        "writer up".to_owned()
    } else {
        format!("writer stalled {:.1}s", waiting.as_secs_f64())
    };
    (
        status,
        format!("store {}\nlayer {}\n{writer}\n", word(store), word(layer)),
    )
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.stats.render(state.channels.local_rooms()),
    )
}
