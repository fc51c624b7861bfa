//! What a client is told when a limit holds it back: an HTTP 429 at the handshake (JSON naming the limit,
//! with `Retry-After`), or on the socket an error frame `rate_limited` with `retry_after_ms` (encoded by
//! `crate::protocol`).

use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};

/// One of the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `--send-rate` / `--send-burst`.
    Sends,
    /// `--frame-rate`.
    Frames,
    /// `--connections-per-address`.
    Connections,
    /// `--handshake-rate`.
    Handshakes,
    /// `--new-rooms-per-min`.
    NewRooms,
    /// `--replays-per-min`.
    Replays,
}

impl Limit {
    /// Every limit, in the order `/metrics` lists them.
    pub const ALL: [Limit; 6] = [
        Self::Sends,
        Self::Frames,
        Self::Connections,
        Self::Handshakes,
        Self::NewRooms,
        Self::Replays,
    ];

    /// The `limit` label of `chatweb_limit_refusals_total` and the `limit` field of a 429.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sends => "sends",
            Self::Frames => "frames",
            Self::Connections => "connections_per_address",
            Self::Handshakes => "handshakes",
            Self::NewRooms => "new_rooms",
            Self::Replays => "replays",
        }
    }

    /// What was refused, for people.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Sends => "too many messages: wait retry_after_ms, then send it again",
            Self::Frames => "too many frames: frames are dropped until retry_after_ms has passed",
            Self::Connections => "too many open connections from this address",
            Self::Handshakes => "too many connection attempts from this address: try again later",
            Self::NewRooms => "too many new rooms from this address: wait before creating another",
            Self::Replays => "too many full-history replays: wait, or resume from a later id",
        }
    }
}

/// A limit said no; `retry_after` is how long until it would say yes (zero when it depends on others,
/// like open connections closing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Which limit.
    pub limit: Limit,
    /// How long to wait before trying again.
    pub retry_after: Duration,
}

impl Refusal {
    /// Milliseconds to wait, rounded up (never 0 for a rate: trying again at once would fail again).
    pub fn retry_after_ms(&self) -> u64 {
        let ms = self.retry_after.as_micros().div_ceil(1000);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

impl IntoResponse for Refusal {
    /// `429 Too Many Requests` with `Retry-After` (whole seconds, at least 1) and a JSON body:
    /// `{"error": "rate_limited", "limit": "...", "detail": "...", "retry_after_ms": N}`.
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": "rate_limited",
            "limit": self.limit.name(),
            "detail": self.limit.detail(),
            "retry_after_ms": self.retry_after_ms(),
        });
        let seconds = self.retry_after_ms().div_ceil(1000).max(1);
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(RETRY_AFTER, seconds.to_string())],
            axum::Json(body),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_refusal_is_a_429_with_retry_after() {
        let response = Refusal {
            limit: Limit::Connections,
            retry_after: Duration::ZERO,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }
}
