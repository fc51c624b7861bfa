//! The admin end to end, as staff use it through its pages and forms: who may open it, CSRF on every
//! action, users, rooms and messages, what the sockets see of each change (a `chatweb.v2` client gets the
//! events and tombstones, a plain Channels client only ever gets printable messages, and ids stay
//! gap-free), and the audit row every action writes. This file holds what those tests share: a node with
//! a signed-in staff user, readers for the admin's tables, its forms as calls, and the socket checks.

use serde_json::{Value, json};

use crate::accounts::{member, text_of as unescape};
use crate::helpers::{Client, TempDir, TestApp, spawn_app};
use crate::people::{Browser, Page, staff_browser};

mod access;
mod cluster;
mod deletions;
mod messages;
mod rooms;
mod sessions;
mod users;

/// The staff user each test signs in as.
const STAFF: &str = "boss";

/// The text of an HTML fragment: tags removed, white space collapsed, entities decoded.
fn text_of(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    unescape(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The data rows of the table with `id="{id}"` in `html`, each as its cells' texts (header rows skipped).
fn table(html: &str, id: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id} in {html}"));
    let rest = &html[start..];
    let end = rest.find("</table>").expect("the table ends");
    rest[..end]
        .split("<tr>")
        .skip(1)
        .filter(|row| row.contains("<td"))
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = cell.split_once('>').map_or("", |(_, inner)| inner);
                    text_of(inner.split("</td>").next().unwrap_or_default())
                })
                .collect()
        })
        .collect()
}

/// GETs an admin page as `browser` and checks it is served.
async fn get_ok(browser: &mut Browser, path: &str) -> Page {
    let page = browser.get(path).await;
    assert_eq!(page.status, 200, "GET {path}: {}", page.body);
    page
}

/// The body of the page at `path`.
async fn page_of(browser: &mut Browser, path: &str) -> String {
    get_ok(browser, path).await.body
}

/// Asserts `page` is a 303 whose `Location` starts with `prefix`; returns the location.
fn redirected(page: &Page, prefix: &str) -> String {
    assert_eq!(page.status, 303, "expected a redirect: {}", page.body);
    let location = page.location.clone().expect("a Location header");
    assert!(
        location.starts_with(prefix),
        "redirected to {location}, expected {prefix}..."
    );
    location
}

/// Asserts `page` redirects to a location starting with `prefix`; returns the body of the page it leads to.
async fn follow(browser: &mut Browser, page: &Page, prefix: &str) -> String {
    let location = redirected(page, prefix);
    page_of(browser, &location).await
}

/// Asserts the pagers of a listing of `total` rows over two pages: page 1 links on to page 2, page 2 back.
fn assert_two_pages(first: &str, second: &str, total: usize) {
    assert!(first.contains(&format!("page 1 of 2 ({total})")), "{first}");
    assert!(first.contains("page=2\" rel=\"next\""), "{first}");
    assert!(
        second.contains(&format!("page 2 of 2 ({total})")),
        "{second}"
    );
    assert!(second.contains("page=1\" rel=\"prev\""), "{second}");
}

/// Submits the admin's create-user form with `fields`.
async fn create_user(browser: &mut Browser, fields: &[(&str, &str)]) -> Page {
    browser.post("/admin/users/", fields).await
}

/// POSTs `value` to the `flag` form (`active` or `staff`) of the user `id`.
async fn post_flag(browser: &mut Browser, id: i64, flag: &str, value: &str) -> Page {
    browser
        .post(&format!("/admin/users/{id}/{flag}"), &[("value", value)])
        .await
}

/// Sets the `flag` of the user `id` to `value` and checks the admin goes back to their page with a notice;
/// returns that location.
async fn set_flag(staff: &mut Browser, id: i64, flag: &str, value: &str) -> String {
    let page = post_flag(staff, id, flag, value).await;
    redirected(&page, &format!("/admin/users/{id}/?notice="))
}

/// Runs `action` (`lock`, `unlock`, `clear`) on `room` and checks the admin goes back to the room list.
async fn room_action(staff: &mut Browser, room: &str, action: &str) -> String {
    let page = staff
        .post(&format!("/admin/rooms/{room}/{action}"), &[])
        .await;
    redirected(&page, "/admin/rooms/")
}

/// Submits the delete button of message `id` in `room`.
async fn delete_message(staff: &mut Browser, room: &str, id: u64) -> Page {
    staff
        .post(&format!("/admin/messages/{room}/{id}/delete"), &[])
        .await
}

/// The id of the user `name`, as the user list links it.
async fn user_id(staff: &mut Browser, name: &str) -> i64 {
    let list = get_ok(staff, &format!("/admin/users/?q={name}")).await;
    list.body
        .split("<a href=\"/admin/users/")
        .skip(1)
        .find_map(|rest| {
            let (id, rest) = rest.split_once("/\">")?;
            let id: i64 = id.parse().ok()?;
            let (shown, _) = rest.split_once("</a>")?;
            (shown == name).then_some(id)
        })
        .unwrap_or_else(|| panic!("no user {name} listed: {}", list.body))
}

/// The rows of the user list for search `q`: username, email, staff, active, last login.
async fn user_rows(staff: &mut Browser, q: &str) -> Vec<Vec<String>> {
    table(
        &get_ok(staff, &format!("/admin/users/?q={q}")).await.body,
        "user-list",
    )
}

/// The usernames the user list shows for search `q`, in its order.
async fn user_names(staff: &mut Browser, q: &str) -> Vec<String> {
    let rows = user_rows(staff, q).await;
    rows.into_iter().map(|r| r[0].clone()).collect()
}

/// The row of `room` on the room list: name, messages, last id, last activity, state, kind, actions.
async fn room_row(staff: &mut Browser, room: &str) -> Vec<String> {
    let list = get_ok(staff, "/admin/rooms/").await;
    table(&list.body, "room-list")
        .into_iter()
        .find(|row| row[0] == room)
        .unwrap_or_else(|| panic!("room {room} not listed: {}", list.body))
}

/// The rows of the message list at `query`: room, id, when, author, message, actions.
async fn message_rows(staff: &mut Browser, query: &str) -> Vec<Vec<String>> {
    let list = get_ok(staff, &format!("/admin/messages/?{query}")).await;
    table(&list.body, "message-list")
}

/// The id and the message column of each row of the message list at `query`.
async fn ids_and_texts(staff: &mut Browser, query: &str) -> Vec<[String; 2]> {
    let rows = message_rows(staff, query).await;
    rows.into_iter()
        .map(|r| [r[1].clone(), r[4].clone()])
        .collect()
}

/// The audit log's rows (first page): when, who, action, target, detail; newest first.
async fn audit_rows(staff: &mut Browser) -> Vec<Vec<String>> {
    table(&get_ok(staff, "/admin/audit/").await.body, "audit-log")
}

/// The actions of the audit log's rows, newest first.
async fn audit_actions(staff: &mut Browser) -> Vec<String> {
    let rows = audit_rows(staff).await;
    rows.into_iter().map(|r| r[2].clone()).collect()
}

/// Asserts the audit log holds exactly one row of `action` on `target`, by `actor`; returns it.
async fn audited(staff: &mut Browser, actor: &str, action: &str, target: &str) -> Vec<String> {
    let rows = audit_rows(staff).await;
    let found: Vec<_> = rows
        .iter()
        .filter(|row| row[2] == action && row[3] == target)
        .collect();
    assert_eq!(found.len(), 1, "one {action} row for {target}: {rows:?}");
    assert_eq!(found[0][1], actor, "the row names who did it: {rows:?}");
    found[0].clone()
}

/// A node on a fresh SQLite file and a signed-in staff browser on it.
async fn admin_app(dir: &TempDir) -> (TestApp, Browser) {
    let app = spawn_app(dir).await;
    let staff = staff_browser(app.addr, &dir.sqlite_url(), STAFF).await;
    (app, staff)
}

/// `name` signed up, with a lobby socket on which they said "hi", and their id on the user list.
async fn chatting_member(app: &TestApp, staff: &mut Browser, name: &str) -> (Browser, Client, i64) {
    let browser = member(app, name).await;
    let mut socket = browser.join("/ws/chat/lobby/").await.expect("joined");
    said(&mut socket, "hi").await;
    let id = user_id(staff, name).await;
    (browser, socket, id)
}

/// A guest's socket at `path` that speaks the `chatweb.v2` subprotocol.
async fn v2_join(app: &TestApp, path: &str) -> Client {
    Browser::new(app.addr).join_v2(path).await.expect("v2 join")
}

/// The next `n` JSON frames of `client`, whatever their type.
async fn next_frames(client: &mut Client, n: usize) -> Vec<Value> {
    let mut frames = Vec::with_capacity(n);
    for _ in 0..n {
        frames.push(client.next_json().await);
    }
    frames
}

/// Says `text` and waits for it to come back; returns its frame.
async fn said(client: &mut Client, text: &str) -> Value {
    client.say(text).await;
    let frame = client.next_message().await;
    assert_eq!(frame["message"], text);
    frame
}

/// Sends `text` with `client_id`; returns the ack and the message frame, in whichever order they came.
async fn send_with_id(client: &mut Client, text: &str, client_id: &str) -> (Value, Value) {
    client
        .send_json(json!({"message": text, "client_id": client_id}))
        .await;
    let first = client.next_json().await;
    let second = client.next_json().await;
    let (ack, echo) = if first["type"] == "ack" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(echo["type"], "message", "{echo}");
    (ack, echo)
}

/// Sends `text` with `client_id` to a locked room and asserts the refusal.
async fn send_to_locked(client: &mut Client, text: &str, client_id: &str) {
    client
        .send_json(json!({"message": text, "client_id": client_id}))
        .await;
    assert_room_locked(&client.next_json().await, Some(client_id));
}

/// Asserts `frame` is the refusal of a send to a locked room.
fn assert_room_locked(frame: &Value, client_id: Option<&str>) {
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "room_locked", "{frame}");
    assert_eq!(frame["client_id"].as_str(), client_id, "{frame}");
}

/// Asserts `frame` is a plain Channels client's message frame with this id and text.
fn assert_plain_message(frame: &Value, id: u64, text: &str) {
    assert_eq!(frame["type"], "message", "{frame}");
    assert_eq!(frame["id"], id, "{frame}");
    assert_eq!(frame["message"], text, "{frame}");
    assert!(frame.get("deleted").is_none(), "{frame}");
}
