//! Sending one push (RFC 8030): the payload encrypted for the browser (`crypto`), POSTed to its endpoint
//! with `Content-Encoding: aes128gcm`, `TTL`, `Urgency` and the VAPID `Authorization`, through the outbound
//! guard's client (the endpoint is checked again: the host list may have changed since it was stored).
//! 429 and 5xx (and failed connections) are retried with exponential backoff, or after `Retry-After` when
//! the service says, at most [`ATTEMPTS`] times; 404 and 410 mean the subscription is gone and its row is
//! removed; any other answer is counted and given up on.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use tokio_util::sync::CancellationToken;

use super::Counters;
use super::crypto::{self, BrowserKeys};
use super::vapid::Vapid;
use crate::outbound::Outbound;
use crate::storage::Db;

/// Tries per push, the first included.
pub const ATTEMPTS: u32 = 4;
/// The first backoff; doubled each retry.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before a retry, whatever `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// What a push came to (the `result` label of `chatweb_push_sent_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Accepted by the push service.
    Delivered,
    /// The subscription is gone (404, 410); its row was removed.
    Gone,
    /// Refused for good (another 4xx, e.g. a payload too large or a key the service does not accept).
    Rejected,
    /// Still failing after every attempt (429, 5xx, network).
    Failed,
    /// The endpoint no longer passes the outbound guard.
    Refused,
}

/// What every push needs.
pub struct Sender {
    /// The guarded client.
    pub outbound: Outbound,
    /// The signing key.
    pub vapid: Arc<Vapid>,
    /// To remove gone subscriptions.
    pub db: Db,
    /// `TTL`, seconds.
    pub ttl_secs: u64,
    /// The counters.
    pub counters: Counters,
    /// Stops retries when the node stops.
    pub stop: CancellationToken,
}

impl Sender {
    /// Encrypts `payload` for the subscription and sends it, retrying as the module says.
    pub async fn send(
        &self,
        endpoint: &str,
        keys: &BrowserKeys,
        payload: &[u8],
        urgent: bool,
    ) -> Sent {
        let result = self.attempt_all(endpoint, keys, payload, urgent).await;
        self.counters.sent(result);
        result
    }

    async fn attempt_all(
        &self,
        endpoint: &str,
        keys: &BrowserKeys,
        payload: &[u8],
        urgent: bool,
    ) -> Sent {
        let url = match self.outbound.check(endpoint).await {
            Ok(url) => url,
            Err(error) => {
                tracing::info!(%error, "a push endpoint no longer passes the host rules");
                return Sent::Refused;
            }
        };
        let origin = url.origin().ascii_serialization();
        let body = crypto::encrypt(payload, keys);
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let request = self
                .outbound
                .client()
                .post(url.clone())
                .header(CONTENT_ENCODING, "aes128gcm")
                .header(CONTENT_TYPE, "application/octet-stream")
                .header("TTL", self.ttl_secs.to_string())
                .header("Urgency", if urgent { "high" } else { "normal" })
                .header(AUTHORIZATION, self.vapid.authorization(&origin))
                .body(body.clone());
            let wait = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return Sent::Delivered;
                    }
                    if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                        if let Err(error) = self.db.drop_push_endpoint(endpoint).await {
                            tracing::warn!(%error, "cannot remove a gone push subscription");
                        }
                        return Sent::Gone;
                    }
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        tracing::info!(%status, %origin, "the push service refused a push");
                        return Sent::Rejected;
                    }
                    retry_after(response.headers()).unwrap_or(backoff)
                }
                Err(error) => {
                    tracing::debug!(%error, %origin, "a push failed to reach its service");
                    backoff
                }
            };
            if attempt == ATTEMPTS {
                break;
            }
            self.counters.retries.increment(1);
            tokio::select! {
                () = self.stop.cancelled() => break,
                () = tokio::time::sleep(wait.min(MAX_WAIT)) => {}
            }
            backoff *= 2;
        }
        Sent::Failed
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let left = date - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "7".parse().expect("value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().expect("value"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "in the past");
        headers.insert(RETRY_AFTER, "soon".parse().expect("value"));
        assert_eq!(retry_after(&headers), None);
    }
}
