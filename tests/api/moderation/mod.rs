//! Moderation (issue 10), end to end: staff mute, ban and kick people in a room and put it in slow mode,
//! from the admin's forms and from a staff client's socket commands. A held send is answered and never
//! stored (ids stay gap-free), a ban closes with 4403 and refuses the rejoin with 403, a kick closes with
//! 4408 and lets them back, slow mode takes one message per person per interval with staff exempt, nobody
//! else may do any of it, and every action leaves an audit row. The last test runs two nodes on
//! PostgreSQL and Redis: what staff do on one node holds on the other within about a second.

mod cluster;
mod rights;
mod sanctions;
mod slow_mode;

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Client, PATIENCE, TempDir, TestApp, spawn_app};
use crate::people::{Browser, Page, staff_browser};

/// The staff user of these tests.
const STAFF: &str = "boss";

/// Sends `text` with `client_id`; returns the answer.
async fn send(client: &mut Client, text: &str, client_id: &str) -> Value {
    client
        .send_json(json!({"message": text, "client_id": client_id}))
        .await;
    client.next_answer().await
}

/// Sends a staff command (with a `client_id` to match); returns the answer.
async fn command(client: &mut Client, mut frame: Value, client_id: &str) -> Value {
    frame["client_id"] = json!(client_id);
    client.send_json(frame).await;
    let answer = client.next_answer().await;
    assert_eq!(answer["client_id"], client_id, "{answer}");
    answer
}

/// Asserts `answer` says the command `action` was carried out.
fn assert_moderated(answer: &Value, action: &str) {
    assert_eq!(answer["type"], "moderated", "{answer}");
    assert_eq!(answer["action"], action, "{answer}");
}

/// Asserts `answer` is an error frame with `code` naming `client_id`.
fn assert_error(answer: &Value, code: &str, client_id: &str) {
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["code"], code, "{answer}");
    assert_eq!(answer["client_id"], client_id, "{answer}");
}

/// Sends `text` with `client_id` until it is taken, waiting between tries as long as each refusal's
/// `retry_after_ms` says (the server names the moment; nothing else can be awaited); returns the ack.
async fn send_when_allowed(client: &mut Client, text: &str, client_id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let answer = send(client, text, client_id).await;
        if answer["type"] == "ack" {
            return answer;
        }
        assert!(
            matches!(answer["code"].as_str(), Some("muted" | "slow_mode")),
            "{answer}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "still held: {answer}"
        );
        let wait = answer["retry_after_ms"].as_u64().expect("retry_after_ms");
        tokio::time::sleep(Duration::from_millis(wait.clamp(1, 1000))).await;
    }
}

/// Asserts the audit log holds a row of `action` on `target` by the staff user.
async fn assert_audited(staff: &mut Browser, action: &str, target: &str) {
    let page = staff.get("/admin/audit/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let cells = format!("<td>{STAFF}</td><td>{action}</td><td>{target}</td>");
    assert!(
        page.body.contains(&cells),
        "no audit row {action} {target}: {}",
        page.body
    );
}

/// The room's moderation page as staff see it.
async fn room_page(staff: &mut Browser, room: &str) -> String {
    let page = staff.get(&format!("/admin/rooms/{room}/")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
}

/// The text of the table with `id="{id}"` on `page` (tags left in).
fn table<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {page}"));
    let rest = &page[start..];
    &rest[..rest.find("</table>").expect("the table ends")]
}

/// Asserts `page` is the admin's redirect back to the room's page with a notice.
fn assert_back_to_room(page: &Page, room: &str) {
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.as_deref().unwrap_or_default();
    assert!(
        location.starts_with(&format!("/admin/rooms/{room}/?notice=")),
        "{location}"
    );
}

/// A node on a fresh SQLite file, its signed-in staff browser, and the staff user's `chatweb.v2` socket
/// in `room`.
async fn moderated_room(dir: &TempDir, room: &str) -> (TestApp, Browser, Client) {
    let app = spawn_app(dir).await;
    let staff = staff_browser(app.addr, &dir.sqlite_url(), STAFF).await;
    let socket = staff
        .join_v2(&format!("/ws/chat/{room}/"))
        .await
        .expect("staff joins");
    (app, staff, socket)
}
