//! Outgoing webhooks (issue 21), end to end on both engines: a receiver of the test's own on loopback
//! (listed with `--webhook-hosts`) gets signed batches in room order; one that fails three times gets
//! every event once by `event_id`, none lost; registration refuses private and unlisted URLs and people
//! who do not own the room; a removed hook stops. The receiver checks each signature as a real one would
//! (with `hmac` and `sha2`, not the server's code), and a tampered body fails it.

mod delivery;
mod occupancy;
mod registration;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::engines::Database;
use crate::helpers::{TestApp, spawn_app_with, test_config};
use crate::people::Browser;
use crate::rooms::api;

/// How long a test waits for what it expects before it fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: String,
    pub content_type: String,
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
}

/// A webhook receiver on loopback: records every request, fails the first `fail` with 500.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    fail: Arc<AtomicUsize>,
    arrived: Arc<Notify>,
}

impl Receiver {
    /// Starts one that answers 500 to its first `fail` requests, 200 after.
    pub async fn start(fail: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let receiver = Self {
            addr: listener.local_addr().expect("addr"),
            log: Arc::default(),
            fail: Arc::new(AtomicUsize::new(fail)),
            arrived: Arc::default(),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.log.lock().expect("log").clone()
    }

    /// The events of the batches it accepted, in the order they came.
    pub fn accepted(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| r.status == 200)
            .flat_map(|r| {
                let batch: Value = serde_json::from_slice(&r.body).expect("a JSON batch");
                batch["events"].as_array().expect("events").clone()
            })
            .collect()
    }

    /// Waits until the accepted events satisfy `done`; returns them.
    pub async fn until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let notified = self.arrived.notified();
            let events = self.accepted();
            if done(&events) {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited in vain for {what}; accepted: {events:#?}"
            );
            // A bounded wait for the next request (or a look again): never a sleep in place of an event.
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let failing = receiver
        .fail
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    receiver.log.lock().expect("log").push(Received {
        signature: header("x-chatweb-signature"),
        content_type: header("content-type"),
        body,
        status: status.as_u16(),
    });
    receiver.arrived.notify_waiters();
    status
}

/// What a receiver does with `X-Chatweb-Signature: t=...,v1=...`: true when it signs `body` with
/// `secret` and is at most five minutes old.
pub fn verifies(secret: &str, header: &str, body: &[u8]) -> bool {
    let field = |key: &str| {
        header
            .split(',')
            .find_map(|part| part.strip_prefix(&format!("{key}=")))
            .map(str::to_owned)
    };
    let (Some(t), Some(v1)) = (field("t"), field("v1")) else {
        return false;
    };
    let Ok(seconds) = t.parse::<i64>() else {
        return false;
    };
    let now = chatweb::storage::now_ms() / 1000;
    if (now - seconds).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::decode(v1).is_ok_and(|signature| mac.verify_slice(&signature).is_ok())
}

/// A node on `db` whose hooks may reach `receivers` (on loopback, plain http) and retry after 20 ms.
pub async fn node(db: &Database, receivers: &[&Receiver]) -> TestApp {
    node_with(db, receivers, |_| {}).await
}

/// [`node`] with settings changed by `change`.
pub async fn node_with(
    db: &Database,
    receivers: &[&Receiver],
    change: impl FnOnce(&mut chatweb::config::Config),
) -> TestApp {
    let mut config = test_config(db.url());
    config.webhooks.webhook_hosts = receivers
        .iter()
        .map(|r| r.addr.to_string())
        .collect::<Vec<_>>()
        .join(",");
    config.webhooks.webhook_retry_ms = 20;
    config.webhooks.webhook_poll_ms = 20;
    change(&mut config);
    spawn_app_with(config).await
}

/// `owner` (signed up) creates room `room`; returns their browser.
pub async fn room_of(app: &TestApp, owner: &str, room: &str, kind: &str) -> Browser {
    let mut browser = crate::rooms::person(app.addr, owner).await;
    let (status, body) = api(
        app.addr,
        &mut browser,
        "POST",
        "/api/rooms/",
        Some(json!({"name": room, "kind": kind})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    browser
}

/// `who` registers a hook of `room` (every room when `None`) to `url` for `events`: the status and body.
pub async fn register(
    app: &TestApp,
    who: &mut Browser,
    room: Option<&str>,
    url: &str,
    events: &[&str],
) -> (u16, Value) {
    let path = match room {
        Some(room) => format!("/api/rooms/{room}/hooks/outgoing"),
        None => "/api/hooks/outgoing".to_owned(),
    };
    api(
        app.addr,
        who,
        "POST",
        &path,
        Some(json!({"url": url, "events": events})),
    )
    .await
}

/// The names and ids of `events`, for comparing.
pub fn names_and_ids(events: &[Value]) -> Vec<(String, u64)> {
    events
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_owned(),
                e["id"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// Hook `id`'s deliveries as `who` reads them (newest first), once `done` holds of them: the sender
/// records a delivery just after the receiver has answered, so this polls (with a deadline).
pub async fn deliveries(
    app: &TestApp,
    who: &mut Browser,
    id: &Value,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let path = format!("/api/hooks/outgoing/{id}/deliveries");
    loop {
        let (status, body) = api(app.addr, who, "GET", &path, None).await;
        assert_eq!(status, 200, "{body}");
        let rows = body.as_array().cloned().unwrap_or_default();
        if done(&rows) {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
