//! The limits of issue 10 against a live node: a burst over the send rate is refused with `rate_limited`
//! and `retry_after_ms` and nothing refused is stored, and the connection sends again after the wait;
//! a user's bucket spans their connections, guests share their address's (the address a trusted proxy
//! names in `X-Forwarded-For`, and only a trusted one); open connections and handshakes per address,
//! new rooms per address and full-history replays per client are refused (429 at the handshake); a
//! flood of any frame is answered once and dropped; `--limits off` lets everything through; and every
//! refusal is counted in `/metrics`.

mod connections;
mod floods;
mod rooms;
mod sends;

use chatweb::config::Config;
use chatweb::limits::LimitSettings;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{Client, TempDir, TestApp, spawn_app_with, test_config};
use crate::people::socket;

/// A test node on `dir` with the limits on, as `settings` says.
async fn node(dir: &TempDir, settings: LimitSettings) -> TestApp {
    spawn_app_with(Config {
        limits: settings,
        ..test_config(dir.sqlite_url())
    })
    .await
}

/// `settings` with nginx on this machine in front: 127.0.0.1's `X-Forwarded-For` names the client, so one
/// test process can speak from several addresses.
fn behind_local_proxy(settings: LimitSettings) -> LimitSettings {
    LimitSettings {
        trusted_proxies: vec!["127.0.0.1".into()],
        ..settings
    }
}

/// The headers of a page's handshake: an allowed origin, a nickname, and a forwarded address if given.
fn guest(app: &TestApp, nickname: &str, forwarded: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("origin", app.origin()),
        ("cookie", format!("chatweb_nickname={nickname}")),
    ];
    if let Some(address) = forwarded {
        headers.push(("x-forwarded-for", address.to_owned()));
    }
    headers
}

/// Opens a socket that must be accepted.
async fn open(app: &TestApp, path: &str, headers: &[(&'static str, String)]) -> Client {
    socket(app.addr, path, headers, false)
        .await
        .unwrap_or_else(|status| panic!("handshake to {path} refused with {status}"))
}

/// A refused handshake: its status, its JSON body and its `Retry-After` header.
async fn refused(
    app: &TestApp,
    path: &str,
    headers: &[(&'static str, String)],
) -> (u16, Value, String) {
    let mut request = format!("ws://{}{path}", app.addr)
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => panic!("handshake to {path} accepted; a limit should have refused it"),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            let retry = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = serde_json::from_slice(&body).expect("a JSON body");
            (response.status().as_u16(), body, retry)
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// Sends one message with `client_id` = `text`.
async fn send(client: &mut Client, text: &str) {
    client
        .send_json(json!({"type": "message", "message": text, "client_id": text}))
        .await;
}

/// Sends `text` and returns its answer.
async fn send_and_answer(client: &mut Client, text: &str) -> Value {
    send(client, text).await;
    let frame = client.next_answer().await;
    assert_eq!(
        frame["client_id"], text,
        "the answer names the send: {frame}"
    );
    frame
}

/// Asserts `frame` is a `rate_limited` refusal by `limit`; returns its `retry_after_ms`.
fn assert_rate_limited(frame: &Value, limit: &str) -> u64 {
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "rate_limited", "{frame}");
    assert_eq!(frame["limit"], limit, "{frame}");
    let wait = frame["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(wait > 0, "a rate refusal says how long to wait: {frame}");
    wait
}

/// The texts stored in `room` (the HTTP API, oldest first).
async fn stored(app: &TestApp, room: &str) -> Vec<String> {
    let body = app
        .get(&format!("/api/rooms/{room}/messages?limit=200"), None)
        .await
        .text()
        .await
        .expect("history");
    let page: Value = serde_json::from_str(&body).expect("history JSON");
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["message"].as_str().expect("text").to_owned())
        .collect()
}

/// `chatweb_limit_refusals_total{limit="<limit>"}` as `/metrics` shows it.
async fn refusals(app: &TestApp, limit: &str) -> u64 {
    let text = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    let prefix = format!("chatweb_limit_refusals_total{{limit=\"{limit}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{prefix} in\n{text}"))
        .trim()
        .parse()
        .expect("a count")
}
