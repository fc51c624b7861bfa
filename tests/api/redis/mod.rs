//! Redis and the live buffers under heavy and hostile use (issue 10, defects 3, 5, 6, 7 and 9): buffers
//! bounded in bytes, lost tails that heal, a stopping node that drains, foreign payloads ignored, joins
//! that never hang on a stuck Redis, readiness probes that reuse one connection. Each test breaks only what
//! it owns: its own proxy in front of the Redis `CHATWEB_TEST_REDIS_URL` names, its own databases.

mod acl;
mod buffers;
mod foreign;
mod heal;
mod stuck;

pub(crate) use crate::services::StallProxy;

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::helpers::{Client, PATIENCE, TestApp, test_service};

/// A body of 4,090 control characters (with its number in front, within the 4,096-byte limit): each
/// becomes `\u00XX` in the frame, about 25 KB.
fn control_flood() -> String {
    "\u{1}".repeat(4090)
}

/// Sends `n` messages of [`control_flood`] with client ids, in rounds of 20 whose acks (and echoes) it reads
/// before the next round, so the sender's own socket never fills.
async fn send_flood(client: &mut Client, n: usize) {
    let body = control_flood();
    let mut sent = 0;
    while sent < n {
        let round = (n - sent).min(20);
        for i in sent..sent + round {
            client
                .send_json(json!({"message": format!("{i}{body}"), "client_id": format!("c{i}")}))
                .await;
        }
        let mut acked = 0;
        while acked < round {
            if client.next_json().await["type"] == "ack" {
                acked += 1;
            }
        }
        sent += round;
    }
}

/// The shared test Redis, or `None` to skip (never on CI).
fn redis_url(test: &str) -> Option<String> {
    test_service("CHATWEB_TEST_REDIS_URL", test)
}

/// The address `redis://host:port` names.
async fn redis_addr(url: &str) -> std::net::SocketAddr {
    let host = url
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .expect("host")
        .trim_end_matches('/');
    tokio::net::lookup_host(host)
        .await
        .expect("resolve redis")
        .next()
        .expect("redis address")
}

/// Polls `/readyz` until it answers `status` (bounded): readiness has no push notification.
async fn wait_ready(app: &TestApp, status: u16) {
    let deadline = Instant::now() + PATIENCE;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        if app.get("/readyz", None).await.status() == status {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz never answered {status}");
    }
}

/// Joins `room`, says something and reads it back: done once the node serves the socket live.
async fn join_and_echo(app: &TestApp, room: &str) -> Client {
    let mut client = app.join(room).await;
    client.say("here").await;
    assert_eq!(client.next_message().await["message"], "here");
    client
}
