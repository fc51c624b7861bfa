//! Readiness of the Redis layer for `/readyz`: one multiplexed connection kept across probes (re-opened only
//! after it failed) and an answer cached for a second, so a probe every few hundred milliseconds from each
//! of several load balancers costs Redis one PING a second and no new connection. Probes that arrive
//! together wait for one answer rather than each opening a connection.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::OP_TIMEOUT;
use super::publisher::connection_config;

/// How long a readiness answer is reused.
pub(super) const ANSWER_TTL: Duration = Duration::from_secs(1);

/// The layer's readiness probe.
pub(super) struct Probe {
    client: redis::Client,
    state: Mutex<ProbeState>,
}

#[derive(Default)]
struct ProbeState {
    conn: Option<MultiplexedConnection>,
    answer: Option<(Instant, bool)>,
}

impl Probe {
    pub(super) fn new(client: redis::Client) -> Self {
        Self {
            client,
            state: Mutex::new(ProbeState::default()),
        }
    }

    /// Whether Redis answers a PING (and `subscribed`: the subscriber is connected), at most a second old.
    pub(super) async fn ready(&self, subscribed: bool) -> bool {
        let mut state = self.state.lock().await;
        if let Some((at, up)) = state.answer
            && at.elapsed() < ANSWER_TTL
        {
            return up;
        }
        let up = subscribed && self.ping(&mut state.conn).await;
        state.answer = Some((Instant::now(), up));
        up
    }

    async fn ping(&self, conn: &mut Option<MultiplexedConnection>) -> bool {
        if conn.is_none() {
            let config = connection_config();
            let connect = self
                .client
                .get_multiplexed_async_connection_with_config(&config);
            *conn = tokio::time::timeout(OP_TIMEOUT, connect)
                .await
                .ok()
                .and_then(Result::ok);
        }
        let Some(live) = conn.as_mut() else {
            return false;
        };
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(live);
        let up = matches!(tokio::time::timeout(OP_TIMEOUT, ping).await, Ok(Ok(_)));
        if !up {
            // Broken or stuck: the next probe opens a fresh one.
            *conn = None;
        }
        up
    }
}
