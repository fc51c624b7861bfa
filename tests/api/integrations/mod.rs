//! Programs that post (issue 21): the publish API, incoming webhooks and bot accounts, end to end on a
//! real node, each through the same checks as a socket's send. On SQLite and PostgreSQL where the store
//! is involved.

mod bots;
mod incoming;
mod publish;

use std::net::SocketAddr;

use serde_json::Value;

use crate::conversations::Sock;
use crate::tokens::accounts_on;

/// An answer: its status, its `Retry-After` header, its JSON body (`null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

/// POSTs `body` (with `content_type`) to `path`, with a bearer `token` when given.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: String,
) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Publishes `body` into `room` with `token`.
pub async fn publish(addr: SocketAddr, token: &str, room: &str, body: Value) -> Answer {
    let path = format!("/api/rooms/{room}/messages");
    post(
        addr,
        &path,
        Some(token),
        "application/json",
        body.to_string(),
    )
    .await
}

/// A new API token of the account `name` on the database at `url`.
pub async fn token_of(url: &str, name: &str) -> String {
    let accounts = accounts_on(url).await;
    let user = accounts.user_named(name).await.expect("user");
    accounts
        .create_token(user.id, "test")
        .await
        .expect("token")
        .1
}

/// The next `message` frame on `socket` (skipping events, presence and typing).
pub async fn next_message(socket: &mut Sock) -> Value {
    loop {
        let frame = socket.next_event().await;
        if frame["type"] == "message" {
            return frame;
        }
    }
}
