//! Private rooms, direct rooms and room roles (issue 18), end to end: who may read where over the
//! socket, the pages and the API; membership changes as events; invite links; room moderators; the pages'
//! forms (lobby, members panel, admin). Members are browsers signed up on a real node; the API is called as
//! the room page's script calls it (the session cookie and the CSRF header).

mod access;
mod admin;
mod cluster;
mod invites;
mod names;
mod pages;
mod roles;

use std::net::SocketAddr;

use serde_json::Value;

use crate::people::Browser;

/// Calls the API as `who` (session cookie + `X-CSRFToken`); the status and the JSON body (`null` when
/// there is none).
pub async fn api(
    addr: SocketAddr,
    who: &mut Browser,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    if who.cookie("csrftoken").is_none() {
        who.get("/").await;
    }
    let csrf = who.cookie("csrftoken").unwrap_or_default().to_owned();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .header("cookie", who.cookie_header())
        .header("x-csrftoken", csrf);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("API request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A browser signed up as `name` on the node at `addr`.
pub async fn person(addr: SocketAddr, name: &str) -> Browser {
    let mut browser = Browser::new(addr);
    browser.sign_up(name).await;
    browser
}

/// The names `GET /api/rooms/` lists for `who`.
pub async fn listed(addr: SocketAddr, who: &mut Browser) -> Vec<String> {
    let (status, body) = api(addr, who, "GET", "/api/rooms/", None).await;
    assert_eq!(status, 200, "{body}");
    body["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The members `GET /api/rooms/<room>/members` lists for `who`: (name, role), owners first.
pub async fn members(
    addr: std::net::SocketAddr,
    who: &mut Browser,
    room: &str,
) -> Vec<(String, String)> {
    let (status, body) = api(
        addr,
        who,
        "GET",
        &format!("/api/rooms/{room}/members"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
            (field("user"), field("role"))
        })
        .collect()
}
