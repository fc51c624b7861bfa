//! The JSON history API end to end (docs/PROTOCOL.md, "HTTP API"), against real nodes on SQLite and
//! PostgreSQL: the room list (order, last id, live member counts, a signed-in user's unread counts after
//! their read mark), pages of a room's messages (`before`/`limit`, the cap of 200, tombstones, the edited
//! flag, no events), JSON errors for every bad input, members-only servers and bearer tokens.

mod access;
mod errors;
mod history;
mod openapi;
mod pages;

use serde_json::{Value, json};

use crate::helpers::Client;
use crate::people::Browser;

/// An answer of the API.
pub struct Answer {
    /// Its status code.
    pub status: u16,
    /// Its body, which is always JSON.
    pub body: Value,
    /// Its headers.
    pub headers: reqwest::header::HeaderMap,
}

/// Sends `method path` to the node at `addr` with `headers`; asserts the answer is JSON, whatever its status.
pub async fn api_request(
    addr: std::net::SocketAddr,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, String)],
) -> Answer {
    let mut request =
        reqwest::Client::new().request(method.clone(), format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{method} {path} answers JSON (status {status})"
    );
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{method} {path} is never cached"
    );
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    Answer {
        status,
        body,
        headers,
    }
}

/// GETs `path` with `headers`.
pub async fn api_get(addr: std::net::SocketAddr, path: &str, headers: &[(&str, String)]) -> Answer {
    api_request(addr, reqwest::Method::GET, path, headers).await
}

/// GETs `path` and asserts 200; returns the body.
async fn ok(addr: std::net::SocketAddr, path: &str, headers: &[(&str, String)]) -> Value {
    let answer = api_get(addr, path, headers).await;
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    answer.body
}

/// Asserts `answer` is the error `code` with `status` and a detail.
fn assert_error(answer: &Answer, status: u16, code: &str, context: &str) {
    assert_eq!(answer.status, status, "{context}: {}", answer.body);
    assert_eq!(answer.body["error"], code, "{context}: {}", answer.body);
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{context}: a detail for people: {}",
        answer.body
    );
}

/// The cookie header of a signed-in browser.
fn session(browser: &Browser) -> Vec<(&'static str, String)> {
    vec![("cookie", browser.cookie_header())]
}

/// An `Authorization: Bearer` header.
fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

/// Sends `frame` (which carries a `client_id`) and waits for its ack, skipping every other frame; returns
/// the id the ack gives.
pub async fn acked(client: &mut Client, frame: Value) -> u64 {
    let client_id = frame["client_id"].as_str().expect("a client_id").to_owned();
    client.send_json(frame).await;
    loop {
        let reply = client.next_json().await;
        if reply["client_id"] == client_id.as_str() {
            assert_eq!(reply["type"], "ack", "{reply}");
            return reply["id"].as_u64().expect("the ack's id");
        }
    }
}

/// Says `text` (with `text` as its client id) and returns its id.
pub async fn say(client: &mut Client, text: &str) -> u64 {
    acked(client, json!({"message": text, "client_id": text})).await
}

/// Sends `{"type":"read","id":id}` and waits until the socket has handled it (a frame the server refuses
/// is answered in order, so its error comes after the read was taken).
pub async fn read_up_to(client: &mut Client, id: u64) {
    client.send_json(json!({"type": "read", "id": id})).await;
    client.send_json(json!({"type": "barrier"})).await;
    loop {
        let reply = client.next_json().await;
        if reply["type"] == "error" {
            assert_eq!(reply["code"], "unknown_type", "{reply}");
            return;
        }
    }
}

/// The ids of a page's messages.
fn page_ids(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_u64().expect("id"))
        .collect()
}

/// The (name, last_id, members, unread) of each listed room.
fn room_rows(list: &Value) -> Vec<(String, u64, u64, Value)> {
    list["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_owned(),
                r["last_id"].as_u64().expect("last_id"),
                r["members"].as_u64().expect("members"),
                r["unread"].clone(),
            )
        })
        .collect()
}

/// Parses an RFC 3339 time of an answer.
fn time_of(value: &Value) -> time::OffsetDateTime {
    let text = value.as_str().expect("a time");
    assert!(
        text.ends_with('Z') && text.len() == 24,
        "UTC with ms: {text}"
    );
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).expect(text)
}
