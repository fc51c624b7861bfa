//! The admin end to end, as staff use it through its pages and forms: who may open it (staff only; guests
//! are sent to the login page, other users get 403), CSRF on every action, users (create, search,
//! deactivate, reactivate, staff rights, passwords, API tokens), rooms (counts, lock, unlock, clear) and
//! messages (filters, pages, deleting one), what the sockets see of each change (a `chatweb.v2` client gets
//! the events and tombstones, a plain Channels client only ever gets printable messages, and ids stay
//! gap-free), and the audit row every action writes. One test runs the lock and a deletion on PostgreSQL.

use serde_json::{Value, json};

use crate::helpers::{
    Client, TempDir, TestApp, TestDatabase, ids, spawn_app, spawn_app_with, test_config, texts,
};
use crate::people::{Browser, PASSWORD, Page, bot_join, staff_browser};

/// The staff user each test signs in as.
const STAFF: &str = "boss";

/// Every admin page (with a query where the page takes one).
const ADMIN_PAGES: [&str; 7] = [
    "/admin/",
    "/admin/users/",
    "/admin/users/?q=a&page=1",
    "/admin/rooms/?page=1",
    "/admin/messages/?room=lobby&user=&q=&page=1",
    "/admin/audit/?page=1",
    "/admin/users/1/",
];

/// `s` with HTML's entities for the characters minijinja escapes decoded.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

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

/// The row of `room` on the room list: name, messages, last id, last activity, state, actions.
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

/// The audit log's rows (first page): when, who, action, target, detail; newest first.
async fn audit_rows(staff: &mut Browser) -> Vec<Vec<String>> {
    table(&get_ok(staff, "/admin/audit/").await.body, "audit-log")
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

/// The token a token-creation page shows once.
fn new_token(body: &str) -> String {
    let start = body
        .find("id=\"new-token\"")
        .unwrap_or_else(|| panic!("no new token shown: {body}"));
    let shown = &body[start..];
    let code = shown.split_once("<code>").expect("the token's <code>").1;
    code.split_once("</code>").expect("</code>").0.to_owned()
}

/// A node on a fresh SQLite file and a signed-in staff browser on it.
async fn admin_app(dir: &TempDir) -> (TestApp, Browser) {
    let app = spawn_app(dir).await;
    let staff = staff_browser(app.addr, &dir.sqlite_url(), STAFF).await;
    (app, staff)
}

/// A browser signed up (and signed in) as `name`.
async fn member(app: &TestApp, name: &str) -> Browser {
    let mut browser = Browser::new(app.addr);
    browser.sign_up(name).await;
    browser
}

/// Says `text` and waits for it to come back; returns its frame.
async fn said(client: &mut Client, text: &str) -> Value {
    client.say(text).await;
    let frame = client.next_message().await;
    assert_eq!(frame["message"], text);
    frame
}

/// The ack and the message frame a send with a `client_id` produces, in whichever order they come.
async fn ack_and_echo(client: &mut Client) -> (Value, Value) {
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

#[tokio::test]
async fn guests_are_sent_to_log_in_and_users_without_staff_rights_get_403_on_every_admin_page_and_action()
 {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    said(&mut app.join("lobby").await, "hi").await;
    let mut guest = Browser::new(app.addr);
    let mut ada = member(&app, "ada").await;
    for path in ADMIN_PAGES {
        let page = guest.get(path).await;
        let login = redirected(&page, "/accounts/login/?next=");
        let wanted = path.split('?').next().expect("a path").replace('/', "%2F");
        assert_eq!(login, format!("/accounts/login/?next={wanted}"), "{path}");
        let page = ada.get(path).await;
        assert_eq!(page.status, 403, "a user without staff rights, {path}");
        assert!(
            !page.body.contains("id=\"admin\""),
            "no admin page: {}",
            page.body
        );
        let page = staff.get(path).await;
        assert_eq!(page.status, 200, "staff, {path}: {}", page.body);
        assert!(page.body.contains("id=\"admin\""), "{path}: {}", page.body);
    }

    // Actions, with a valid CSRF token: a guest is sent to log in, a user is refused; nothing changes.
    let page = guest.post("/admin/rooms/lobby/lock", &[]).await;
    redirected(
        &page,
        "/accounts/login/?next=%2Fadmin%2Frooms%2Flobby%2Flock",
    );
    let page = ada.post("/admin/rooms/lobby/lock", &[]).await;
    assert_eq!(page.status, 403, "{}", page.body);
    let staff_id = user_id(&mut staff, STAFF).await;
    let page = ada
        .post(
            &format!("/admin/users/{staff_id}/active"),
            &[("value", "false")],
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    let page = ada
        .post(
            "/admin/users/",
            &[
                ("username", "mallory"),
                ("password", PASSWORD),
                ("is_staff", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(room_row(&mut staff, "lobby").await[4], "open");
    assert!(
        user_rows(&mut staff, "mallory").await.is_empty(),
        "no user was created"
    );
    let me = user_rows(&mut staff, STAFF).await;
    assert_eq!(me[0][3], "yes", "the staff user is still active");
    assert!(
        audit_rows(&mut staff).await.is_empty(),
        "nothing was audited"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_admin_post_without_the_csrf_token_is_refused_with_403_and_changes_nothing() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let ada = member(&app, "ada").await;
    let mut socket = ada.join("/ws/chat/lobby/").await.expect("joined");
    said(&mut socket, "hi").await;
    let id = user_id(&mut staff, "ada").await;

    let forged: [(String, Vec<(&str, &str)>); 4] = [
        ("/admin/rooms/lobby/lock".into(), vec![]),
        (
            format!("/admin/users/{id}/active"),
            vec![("value", "false")],
        ),
        (
            format!("/admin/users/{id}/active"),
            vec![
                ("value", "false"),
                ("csrfmiddlewaretoken", "0123456789abcdef"),
            ],
        ),
        ("/admin/messages/lobby/1/delete".into(), vec![]),
    ];
    for (path, fields) in &forged {
        let page = staff.post_raw(path, fields).await;
        assert_eq!(page.status, 403, "{path} without the token: {}", page.body);
        assert!(page.body.contains("CSRF"), "{}", page.body);
    }
    assert_eq!(
        room_row(&mut staff, "lobby").await[4],
        "open",
        "the room stays unlocked"
    );
    let detail = get_ok(&mut staff, &format!("/admin/users/{id}/")).await;
    assert!(
        detail.body.contains("id=\"user-active\">yes<"),
        "ada stays active"
    );
    // Her socket is still open and the room still takes messages; message 1 still has its text.
    socket
        .send_json(json!({"message": "still here", "client_id": "c1"}))
        .await;
    let (ack, echo) = ack_and_echo(&mut socket).await;
    assert_eq!(
        (ack["id"].as_u64(), echo["message"].as_str()),
        (Some(2), Some("still here"))
    );
    let mut replay = app.join_path("/ws/chat/lobby/?since=0", None).await;
    assert_eq!(texts(&replay.messages(2).await), ["hi", "still here"]);
    assert!(
        audit_rows(&mut staff).await.is_empty(),
        "nothing was audited"
    );

    // The same request with the token goes through.
    let page = staff
        .post(&format!("/admin/users/{id}/active"), &[("value", "false")])
        .await;
    redirected(&page, &format!("/admin/users/{id}/?notice="));
    assert_eq!(socket.closed().await, Some(4403));
    app.stop().await;
}

#[tokio::test]
async fn staff_create_a_user_who_can_log_in_and_a_bad_form_is_shown_again_with_its_error() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let page = staff
        .post(
            "/admin/users/",
            &[
                ("username", "grace"),
                ("email", "grace@example.com"),
                ("password", PASSWORD),
                ("is_staff", "on"),
            ],
        )
        .await;
    let location = redirected(&page, "/admin/users/");
    let id: i64 = location
        .trim_start_matches("/admin/users/")
        .split('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("redirected to the new user's page, not {location}"));
    assert!(location.contains("?notice=user%20created"), "{location}");
    let detail = get_ok(&mut staff, &location).await;
    assert!(detail.body.contains("<h1>grace</h1>"), "{}", detail.body);
    assert!(detail.body.contains("user created"), "the notice is shown");
    assert!(detail.body.contains("grace@example.com"));
    assert!(detail.body.contains("id=\"user-staff\">yes<"));
    assert!(detail.body.contains("id=\"user-active\">yes<"));
    assert_eq!(user_id(&mut staff, "grace").await, id);
    let row = audited(&mut staff, STAFF, "user.create", "grace").await;
    assert_eq!(row[4], "staff");

    // She logs in with that password, and being staff she may open the admin.
    let mut grace = Browser::new(app.addr);
    redirected(&grace.log_in("grace", PASSWORD).await, "/");
    get_ok(&mut grace, "/admin/").await;

    // A plain user, created without the box ticked, is not staff.
    let page = staff
        .post(
            "/admin/users/",
            &[("username", "hopper"), ("password", PASSWORD)],
        )
        .await;
    let location = redirected(&page, "/admin/users/");
    assert!(
        page_of(&mut staff, &location)
            .await
            .contains("id=\"user-staff\">no<")
    );
    assert_eq!(
        audited(&mut staff, STAFF, "user.create", "hopper").await[4],
        ""
    );

    // Errors: the form again with the message, and no user.
    let taken = staff
        .post(
            "/admin/users/",
            &[("username", "GRACE"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert!(
        taken
            .body
            .contains("A user with that username already exists."),
        "{}",
        taken.body
    );
    assert!(
        taken.body.contains("id=\"create-user\""),
        "the form is shown again"
    );
    let short = staff
        .post(
            "/admin/users/",
            &[("username", "lin"), ("password", "short")],
        )
        .await;
    assert_eq!(short.status, 200, "{}", short.body);
    assert!(short.body.contains("class=\"error"), "{}", short.body);
    let bad_name = staff
        .post(
            "/admin/users/",
            &[("username", "no spaces"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(bad_name.status, 200, "{}", bad_name.body);
    assert!(bad_name.body.contains("class=\"error"), "{}", bad_name.body);
    assert!(user_rows(&mut staff, "lin").await.is_empty());
    let names: Vec<String> = user_rows(&mut staff, "")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(names, ["boss", "grace", "hopper"]);
    let creations = audit_rows(&mut staff).await;
    assert_eq!(
        creations.len(),
        2,
        "failed creations are not audited: {creations:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_user_list_searches_names_and_emails_case_insensitively() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    for (name, email) in [
        ("ada", "ada@engines.example"),
        ("grace", "grace@navy.example"),
        ("Gracie", ""),
    ] {
        let page = staff
            .post(
                "/admin/users/",
                &[("username", name), ("email", email), ("password", PASSWORD)],
            )
            .await;
        redirected(&page, "/admin/users/");
    }
    let names = |rows: Vec<Vec<String>>| rows.into_iter().map(|r| r[0].clone()).collect::<Vec<_>>();
    assert_eq!(
        names(user_rows(&mut staff, "GRAC").await),
        ["grace", "Gracie"]
    );
    assert_eq!(names(user_rows(&mut staff, "engines").await), ["ada"]);
    assert_eq!(
        names(user_rows(&mut staff, "nobody").await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(user_rows(&mut staff, "%").await),
        Vec::<String>::new(),
        "% is literal"
    );
    let all = user_rows(&mut staff, "").await;
    assert_eq!(names(all.clone()), ["ada", "boss", "grace", "Gracie"]);
    let ada = &all[0];
    assert_eq!(&ada[1..4], ["ada@engines.example", "no", "yes"]);
    assert_eq!(ada[4], "never", "ada never logged in");
    let body = page_of(&mut staff, "/admin/users/?q=grac").await;
    assert!(
        body.contains("value=\"grac\""),
        "the search box keeps the query"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_user_list_shows_fifty_users_a_page_and_a_pager_saying_which_page_of_how_many() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let db = chatweb::storage::Store::connect(&dir.sqlite_url())
        .await
        .expect("db");
    let accounts = chatweb::accounts::Accounts::new(
        db.db(),
        chatweb::config::Config::default().account_settings(),
    );
    for i in 0..50 {
        accounts
            .create_user(&format!("user{i:02}"), "", PASSWORD, false)
            .await
            .expect("user");
    }
    // 51 users (with the staff user): two pages, in name order.
    let first = page_of(&mut staff, "/admin/users/").await;
    let rows = table(&first, "user-list");
    assert_eq!(rows.len(), 50);
    assert_eq!(
        (rows[0][0].as_str(), rows[49][0].as_str()),
        ("boss", "user48")
    );
    let second = page_of(&mut staff, "/admin/users/?q=&page=2").await;
    let rows = table(&second, "user-list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "user49");
    let searched = page_of(&mut staff, "/admin/users/?q=user4").await;
    assert_eq!(table(&searched, "user-list").len(), 10);

    assert!(first.contains("page 1 of 2 (51)"), "{first}");
    assert!(first.contains("page=2\" rel=\"next\""), "{first}");
    assert!(second.contains("page 2 of 2 (51)"), "{second}");
    assert!(second.contains("page=1\" rel=\"prev\""), "{second}");
    assert!(searched.contains("page 1 of 1 (10)"), "{searched}");
    app.stop().await;
}

#[tokio::test]
async fn every_admin_listing_has_a_pager_saying_which_page_of_how_many_it_shows() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut lobby = app.join("lobby").await;
    said(&mut lobby, "one").await;
    said(&mut lobby, "two").await;
    redirected(
        &staff.post("/admin/rooms/lobby/lock", &[]).await,
        "/admin/rooms/",
    );
    for (listing, pager) in [
        ("/admin/users/", "page 1 of 1 (1)"),
        ("/admin/rooms/", "page 1 of 1 (1)"),
        ("/admin/messages/", "page 1 of 1 (2)"),
        ("/admin/messages/?room=lobby&user=&q=one", "page 1 of 1 (1)"),
        ("/admin/audit/", "page 1 of 1 (1)"),
    ] {
        let body = page_of(&mut staff, listing).await;
        assert!(body.contains(pager), "{listing} says {pager:?}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn deactivating_a_user_closes_their_socket_with_4403_and_refuses_their_login_until_reactivated()
 {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut ada = member(&app, "ada").await;
    let mut socket = ada.join("/ws/chat/lobby/").await.expect("joined");
    said(&mut socket, "hi").await;
    let id = user_id(&mut staff, "ada").await;

    let page = staff
        .post(&format!("/admin/users/{id}/active"), &[("value", "false")])
        .await;
    let location = redirected(&page, &format!("/admin/users/{id}/?notice="));
    assert_eq!(socket.closed().await, Some(4403), "her open socket closes");
    let detail = page_of(&mut staff, &location).await;
    assert!(detail.contains("user deactivated"), "{detail}");
    assert!(detail.contains("id=\"user-active\">no<"), "{detail}");
    assert!(detail.contains("Reactivate"), "{detail}");
    assert!(
        !ada.get("/").await.body.contains("Signed in as"),
        "her session ended"
    );
    let refused = Browser::new(app.addr).log_in("ada", PASSWORD).await;
    assert_eq!(refused.status, 200, "no session for an inactive user");
    assert!(
        refused
            .body
            .contains("Please enter a correct username and password"),
        "{}",
        refused.body
    );
    assert_eq!(user_rows(&mut staff, "ada").await[0][3], "no");
    audited(&mut staff, STAFF, "user.deactivate", "ada").await;

    let page = staff
        .post(&format!("/admin/users/{id}/active"), &[("value", "true")])
        .await;
    redirected(&page, &format!("/admin/users/{id}/?notice="));
    let detail = page_of(&mut staff, &format!("/admin/users/{id}/")).await;
    assert!(detail.contains("id=\"user-active\">yes<"), "{detail}");
    let mut back = Browser::new(app.addr);
    redirected(&back.log_in("ada", PASSWORD).await, "/");
    let mut socket = back.join("/ws/chat/lobby/").await.expect("joined");
    assert_eq!(socket.next_message().await["message"], "hi", "history");
    assert_eq!(said(&mut socket, "back").await["user"], "ada");
    audited(&mut staff, STAFF, "user.reactivate", "ada").await;
    let actions: Vec<String> = audit_rows(&mut staff)
        .await
        .into_iter()
        .map(|r| r[2].clone())
        .collect();
    assert_eq!(
        actions,
        ["user.reactivate", "user.deactivate"],
        "newest first"
    );
    let page = staff
        .post(&format!("/admin/users/{id}/active"), &[("value", "maybe")])
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = staff
        .post("/admin/users/9999/active", &[("value", "false")])
        .await;
    assert_eq!(page.status, 404, "{}", page.body);
    app.stop().await;
}

#[tokio::test]
async fn a_staff_user_cannot_deactivate_themself_or_drop_their_own_staff_rights() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let me = user_id(&mut staff, STAFF).await;
    let detail = page_of(&mut staff, &format!("/admin/users/{me}/")).await;
    assert!(
        !detail.contains("id=\"toggle-active\""),
        "no button to deactivate oneself"
    );
    let page = staff
        .post(&format!("/admin/users/{me}/active"), &[("value", "false")])
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = staff
        .post(&format!("/admin/users/{me}/staff"), &[("value", "false")])
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    page_of(&mut staff, "/admin/").await;
    assert_eq!(&user_rows(&mut staff, STAFF).await[0][2..4], ["yes", "yes"]);
    assert!(audit_rows(&mut staff).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_user_made_staff_can_open_the_admin_and_loses_it_when_their_staff_rights_go() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut ada = member(&app, "ada").await;
    assert_eq!(ada.get("/admin/").await.status, 403);
    let id = user_id(&mut staff, "ada").await;

    let page = staff
        .post(&format!("/admin/users/{id}/staff"), &[("value", "true")])
        .await;
    redirected(&page, &format!("/admin/users/{id}/?notice="));
    assert!(
        page_of(&mut staff, &format!("/admin/users/{id}/"))
            .await
            .contains("id=\"user-staff\">yes<")
    );
    // The same session: staff rights are read on every request.
    let index = get_ok(&mut ada, "/admin/").await;
    assert!(index.body.contains("<h1>Admin</h1>"));
    get_ok(&mut ada, "/admin/audit/").await;
    audited(&mut staff, STAFF, "user.staff", "ada").await;

    let page = staff
        .post(&format!("/admin/users/{id}/staff"), &[("value", "false")])
        .await;
    redirected(&page, &format!("/admin/users/{id}/?notice="));
    assert_eq!(ada.get("/admin/").await.status, 403);
    audited(&mut staff, STAFF, "user.unstaff", "ada").await;
    app.stop().await;
}

#[tokio::test]
async fn setting_a_password_ends_the_users_sessions_and_only_the_new_one_logs_in() {
    const NEW: &str = "a much newer passphrase";
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut ada = member(&app, "ada").await;
    let mut socket = ada.join("/ws/chat/lobby/").await.expect("joined");
    said(&mut socket, "hi").await;
    let id = user_id(&mut staff, "ada").await;

    let mismatch = staff
        .post(
            &format!("/admin/users/{id}/password"),
            &[("password1", NEW), ("password2", "something else entirely")],
        )
        .await;
    assert_eq!(mismatch.status, 200);
    assert!(
        text_of(&mismatch.body).contains("The two password fields didn't match."),
        "{}",
        mismatch.body
    );
    assert!(
        ada.get("/").await.body.contains("Signed in as"),
        "a refused change ends nothing"
    );
    assert!(audit_rows(&mut staff).await.is_empty());

    let page = staff
        .post(
            &format!("/admin/users/{id}/password"),
            &[("password1", NEW), ("password2", NEW)],
        )
        .await;
    redirected(&page, &format!("/admin/users/{id}/?notice="));
    assert_eq!(
        socket.closed().await,
        Some(4401),
        "her session's socket closes"
    );
    assert!(
        !ada.get("/").await.body.contains("Signed in as"),
        "her session ended"
    );
    let old = Browser::new(app.addr).log_in("ada", PASSWORD).await;
    assert_eq!(old.status, 200, "the old password no longer works");
    assert!(
        old.body
            .contains("Please enter a correct username and password"),
        "{}",
        old.body
    );
    redirected(&Browser::new(app.addr).log_in("ada", NEW).await, "/");
    audited(&mut staff, STAFF, "user.password", "ada").await;
    app.stop().await;
}

#[tokio::test]
async fn a_new_token_is_shown_once_signs_a_bot_in_as_its_user_and_stops_working_when_revoked() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    member(&app, "ada").await;
    let id = user_id(&mut staff, "ada").await;

    let created = staff
        .post(&format!("/admin/users/{id}/tokens"), &[("name", "ci-bot")])
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let token = new_token(&created.body);
    assert!(token.starts_with("cwt_"), "{token}");
    let detail = page_of(&mut staff, &format!("/admin/users/{id}/")).await;
    assert!(!detail.contains("id=\"new-token\""), "shown once");
    assert!(!detail.contains(&token), "the token is never shown again");
    let rows = table(&detail, "token-list");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0][1].as_str(), rows[0][3].as_str()),
        ("ci-bot", "live")
    );
    let token_id = rows[0][0].clone();
    let row = audited(&mut staff, STAFF, "token.create", "ada").await;
    assert_eq!(row[4], format!("token {token_id}"));

    let mut bot = bot_join(app.addr, "/ws/chat/lobby/", &token)
        .await
        .expect("the token works");
    let frame = said(&mut bot, "beep").await;
    assert_eq!(frame["user"], "ada", "a bot speaks as the token's user");
    assert!(frame.get("guest").is_none());

    let page = staff
        .post(
            &format!("/admin/tokens/{token_id}/revoke"),
            &[("next", &format!("/admin/users/{id}/"))],
        )
        .await;
    let location = redirected(&page, &format!("/admin/users/{id}/?notice="));
    assert_eq!(bot.closed().await, Some(4401), "the token's socket closes");
    assert_eq!(
        bot_join(app.addr, "/ws/chat/lobby/", &token).await.err(),
        Some(401)
    );
    let detail = page_of(&mut staff, &location).await;
    assert!(detail.contains("token revoked"), "{detail}");
    assert!(
        table(&detail, "token-list")[0][3].starts_with("revoked "),
        "{detail}"
    );
    let row = audited(&mut staff, STAFF, "token.revoke", "ada").await;
    assert_eq!(row[4], format!("token {token_id}"));
    let again = staff
        .post(&format!("/admin/tokens/{token_id}/revoke"), &[])
        .await;
    assert_eq!(again.status, 404, "already revoked: {}", again.body);
    assert_eq!(
        staff.post("/admin/tokens/999/revoke", &[]).await.status,
        404
    );
    assert_eq!(
        audit_rows(&mut staff).await.len(),
        2,
        "refusals are not audited"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_room_list_shows_each_rooms_message_count_last_id_and_state() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut lobby = app.join("lobby").await;
    for text in ["one", "two", "three"] {
        said(&mut lobby, text).await;
    }
    said(&mut app.join("kitchen").await, "tea").await;
    let list = page_of(&mut staff, "/admin/rooms/").await;
    let rows = table(&list, "room-list");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let lobby_row = room_row(&mut staff, "lobby").await;
    assert_eq!(&lobby_row[1..3], ["3", "3"]);
    assert_eq!(lobby_row[4], "open");
    assert!(lobby_row[5].contains("Lock"), "{lobby_row:?}");
    let kitchen = room_row(&mut staff, "kitchen").await;
    assert_eq!(&kitchen[1..3], ["1", "1"]);
    assert!(
        list.contains("href=\"/admin/messages/?room=lobby\""),
        "{list}"
    );
    let index = page_of(&mut staff, "/admin/").await;
    assert!(index.contains("Rooms</a>: 2"), "{index}");
    assert!(index.contains("Users</a>: 1"), "{index}");
    app.stop().await;
}

#[tokio::test]
async fn a_locked_room_refuses_sends_with_room_locked_and_stores_nothing_until_it_is_unlocked() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut watcher = app.join("lobby").await;
    let mut sender = app.join("lobby").await;
    said(&mut sender, "before").await;
    assert_plain_message(&watcher.next_message().await, 1, "before");

    let page = staff.post("/admin/rooms/lobby/lock", &[]).await;
    let location = redirected(&page, "/admin/rooms/?notice=");
    let list = page_of(&mut staff, &location).await;
    assert!(list.contains("room locked: it is read-only"), "{list}");
    let row = room_row(&mut staff, "lobby").await;
    assert_eq!(row[4], "locked");
    assert!(row[5].contains("Unlock"), "{row:?}");
    audited(&mut staff, STAFF, "room.lock", "lobby").await;

    sender
        .send_json(json!({"message": "x", "client_id": "c1"}))
        .await;
    assert_room_locked(&sender.next_json().await, Some("c1"));
    sender.say("plain").await;
    assert_room_locked(&sender.next_json().await, None);
    let ada = member(&app, "ada").await;
    let mut member_socket = ada.join("/ws/chat/lobby/").await.expect("joined");
    assert_eq!(member_socket.next_message().await["message"], "before");
    member_socket
        .send_json(json!({"type": "message", "message": "me too", "client_id": "m1"}))
        .await;
    assert_room_locked(&member_socket.next_json().await, Some("m1"));
    let mut replay = app.join_path("/ws/chat/lobby/?since=0", None).await;
    assert_plain_message(&replay.next_message().await, 1, "before");

    let page = staff
        .post(
            "/admin/rooms/lobby/unlock",
            &[("next", "/admin/rooms/?page=1")],
        )
        .await;
    redirected(&page, "/admin/rooms/?page=1&notice=room%20unlocked");
    assert_eq!(room_row(&mut staff, "lobby").await[4], "open");
    audited(&mut staff, STAFF, "room.unlock", "lobby").await;
    // The refused client_id was never stored: sent again, it is a new message with the next id.
    sender
        .send_json(json!({"message": "x", "client_id": "c1"}))
        .await;
    let (ack, echo) = ack_and_echo(&mut sender).await;
    assert_eq!(
        (ack["id"].as_u64(), ack["duplicate"].as_bool()),
        (Some(2), Some(false))
    );
    assert_plain_message(&echo, 2, "x");
    // Nothing reached anyone while the room was locked: the next frame everywhere is message 2.
    assert_plain_message(&watcher.next_message().await, 2, "x");
    assert_plain_message(&replay.next_message().await, 2, "x");
    assert_plain_message(&member_socket.next_message().await, 2, "x");
    assert_eq!(room_row(&mut staff, "lobby").await[1], "2");

    assert_eq!(
        staff.post("/admin/rooms/nowhere/lock", &[]).await.status,
        404
    );
    assert_eq!(
        staff
            .post("/admin/rooms/no%20such%20room!/lock", &[])
            .await
            .status,
        404
    );
    assert_eq!(audit_rows(&mut staff).await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn clearing_a_room_deletes_every_message_as_one_clear_event_that_only_v2_clients_see() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut v2 = Browser::new(app.addr)
        .join_v2("/ws/chat/lobby/")
        .await
        .expect("v2 join");
    let mut plain = app.join("lobby").await;
    let mut sender = app.join("lobby").await;
    for text in ["alpha", "beta", "gamma"] {
        said(&mut sender, text).await;
    }
    assert_eq!(ids(&v2.messages(3).await), [1, 2, 3]);
    assert_eq!(ids(&plain.messages(3).await), [1, 2, 3]);

    let page = staff.post("/admin/rooms/lobby/clear", &[]).await;
    redirected(&page, "/admin/rooms/?notice=");
    let event = v2.next_json().await;
    assert_eq!(event["type"], "clear", "{event}");
    assert_eq!(
        (event["id"].as_u64(), event["through"].as_u64()),
        (Some(4), Some(3)),
        "{event}"
    );
    assert_eq!(event["user"], STAFF);
    assert!(event.get("message").is_none(), "{event}");
    let row = audited(&mut staff, STAFF, "room.clear", "lobby").await;
    assert_eq!(row[4], "event 4");

    said(&mut sender, "fresh").await;
    assert_plain_message(&plain.next_message().await, 5, "fresh");
    assert_eq!(v2.next_message().await["id"], 5);

    let mut plain_replay = app.join_path("/ws/chat/lobby/?since=0", None).await;
    assert_plain_message(&plain_replay.next_message().await, 5, "fresh");
    let mut plain_join = app.join("lobby").await;
    assert_plain_message(&plain_join.next_message().await, 5, "fresh");
    let mut v2_replay = Browser::new(app.addr)
        .join_v2("/ws/chat/lobby/?since=0")
        .await
        .expect("v2 join");
    for id in 1..=3 {
        let tombstone = v2_replay.next_json().await;
        assert_eq!(tombstone["type"], "message", "{tombstone}");
        assert_eq!(tombstone["id"], id);
        assert_eq!(
            (
                tombstone["deleted"].as_bool(),
                tombstone["message"].as_str()
            ),
            (Some(true), Some(""))
        );
    }
    let event = v2_replay.next_json().await;
    assert_eq!(
        (event["type"].as_str(), event["id"].as_u64()),
        (Some("clear"), Some(4)),
        "{event}"
    );
    assert_eq!(v2_replay.next_message().await["message"], "fresh");

    let row = room_row(&mut staff, "lobby").await;
    assert_eq!(&row[1..3], ["1", "5"], "one message left; last id 5");
    let rows = message_rows(&mut staff, "room=lobby").await;
    let shown: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[1].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("5", "fresh"),
            ("3", "deleted"),
            ("2", "deleted"),
            ("1", "deleted")
        ]
    );
    let body = page_of(&mut staff, "/admin/messages/?room=lobby").await;
    assert!(!body.contains("alpha") && !body.contains("gamma"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn the_message_list_filters_by_room_by_account_and_by_text() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let ada = member(&app, "ada").await;
    let grace = member(&app, "grace").await;
    said(
        &mut ada.join("/ws/chat/lobby/").await.expect("ada"),
        "Hello World",
    )
    .await;
    let mut grace_lobby = grace.join("/ws/chat/lobby/").await.expect("grace");
    assert_eq!(grace_lobby.next_message().await["message"], "Hello World");
    said(&mut grace_lobby, "goodbye").await;
    said(
        &mut grace.join("/ws/chat/kitchen/").await.expect("grace"),
        "50% off",
    )
    .await;
    let mut guest = app.join("kitchen").await;
    assert_eq!(guest.next_message().await["message"], "50% off");
    said(&mut guest, "hello from a guest").await;

    let texts_of =
        |rows: Vec<Vec<String>>| rows.into_iter().map(|r| r[4].clone()).collect::<Vec<_>>();
    let lobby = message_rows(&mut staff, "room=lobby").await;
    assert!(lobby.iter().all(|r| r[0] == "lobby"), "{lobby:?}");
    assert_eq!(
        texts_of(lobby.clone()),
        ["goodbye", "Hello World"],
        "newest first"
    );
    assert_eq!(
        (lobby[0][3].as_str(), lobby[1][3].as_str()),
        ("grace", "ada")
    );
    assert_eq!(
        texts_of(message_rows(&mut staff, "user=ada").await),
        ["Hello World"]
    );
    let mut by_grace = texts_of(message_rows(&mut staff, "user=GRACE").await);
    by_grace.sort();
    assert_eq!(by_grace, ["50% off", "goodbye"], "names in any case");
    assert!(message_rows(&mut staff, "user=nobody").await.is_empty());
    assert!(
        message_rows(&mut staff, "user=anonymous").await.is_empty(),
        "guests' messages belong to no account"
    );
    let hello = message_rows(&mut staff, "q=HELLO").await;
    let mut found = texts_of(hello.clone());
    found.sort();
    assert_eq!(
        found,
        ["Hello World", "hello from a guest"],
        "case-insensitive"
    );
    let by_guest = hello
        .iter()
        .find(|r| r[4] == "hello from a guest")
        .expect("row");
    assert_eq!(
        by_guest[3], "anonymous guest",
        "a guest's message is tagged"
    );
    assert_eq!(
        texts_of(message_rows(&mut staff, "q=%25").await),
        ["50% off"],
        "% is literal"
    );
    assert_eq!(
        texts_of(message_rows(&mut staff, "room=kitchen&user=&q=hello").await),
        ["hello from a guest"]
    );
    assert_eq!(
        texts_of(message_rows(&mut staff, "room=lobby&user=grace&q=").await),
        ["goodbye"]
    );
    assert_eq!(message_rows(&mut staff, "room=&user=&q=").await.len(), 4);
    let body = page_of(&mut staff, "/admin/messages/?room=kitchen&user=&q=hello").await;
    assert!(
        body.contains("id=\"filter-room\" type=\"text\" name=\"room\" value=\"kitchen\""),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_message_list_shows_fifty_messages_a_page_newest_first() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut sender = app.join("lobby").await;
    let acked = sender.send_acked("m", 60).await;
    assert_eq!(acked.len(), 60);
    let first = page_of(&mut staff, "/admin/messages/?room=lobby").await;
    let rows = table(&first, "message-list");
    assert_eq!(rows.len(), 50);
    assert_eq!((rows[0][1].as_str(), rows[49][1].as_str()), ("60", "11"));
    let second = page_of(&mut staff, "/admin/messages/?room=lobby&user=&q=&page=2").await;
    let rows = table(&second, "message-list");
    assert_eq!(rows.len(), 10);
    assert_eq!((rows[0][1].as_str(), rows[9][1].as_str()), ("10", "1"));
    let beyond = page_of(&mut staff, "/admin/messages/?room=lobby&page=9").await;
    assert_eq!(
        table(&beyond, "message-list"),
        rows,
        "a page past the end shows the last"
    );

    // The pager says where this is and links on, keeping the filters.
    assert!(first.contains("page 1 of 2 (60)"), "{first}");
    assert!(first.contains("page=2\" rel=\"next\""), "{first}");
    assert!(second.contains("page 2 of 2 (60)"), "{second}");
    assert!(second.contains("page=1\" rel=\"prev\""), "{second}");
    assert!(beyond.contains("page 2 of 2 (60)"), "{beyond}");
    app.stop().await;
}

/// A room where `ada` (a signed-in member) said "first" (1) and "secret" (2), watched by a `chatweb.v2`
/// client and a plain Channels client that have both read the two messages.
struct Deletion {
    app: TestApp,
    staff: Browser,
    speaker: Client,
    v2: Client,
    plain: Client,
}

/// Sets up a [`Deletion`] room on a fresh node.
async fn deletion_room(dir: &TempDir) -> Deletion {
    let (app, staff) = admin_app(dir).await;
    let mut v2 = Browser::new(app.addr)
        .join_v2("/ws/chat/lobby/")
        .await
        .expect("v2 join");
    let mut plain = app.join("lobby").await;
    let ada = member(&app, "ada").await;
    let mut speaker = ada.join("/ws/chat/lobby/").await.expect("ada joins");
    said(&mut speaker, "first").await;
    said(&mut speaker, "secret").await;
    assert_eq!(texts(&v2.messages(2).await), ["first", "secret"]);
    assert_eq!(texts(&plain.messages(2).await), ["first", "secret"]);
    Deletion {
        app,
        staff,
        speaker,
        v2,
        plain,
    }
}

#[tokio::test]
async fn deleting_a_message_sends_v2_clients_a_delete_event_and_plain_clients_nothing() {
    let dir = TempDir::new();
    let Deletion {
        app,
        mut staff,
        mut speaker,
        mut v2,
        mut plain,
    } = deletion_room(&dir).await;

    let page = staff
        .post(
            "/admin/messages/lobby/2/delete",
            &[("next", "/admin/messages/?room=lobby")],
        )
        .await;
    let location = redirected(&page, "/admin/messages/?room=lobby&notice=");
    assert!(
        page_of(&mut staff, &location)
            .await
            .contains("message deleted")
    );
    let event = v2.next_json().await;
    assert_eq!(event["type"], "delete", "{event}");
    assert_eq!(
        (event["id"].as_u64(), event["target"].as_u64()),
        (Some(3), Some(2)),
        "{event}"
    );
    assert_eq!(
        (event["user"].as_str(), event["room"].as_str()),
        (Some(STAFF), Some("lobby"))
    );
    assert_eq!(event["history"], false);
    assert!(
        event.get("message").is_none(),
        "not a printable chat line: {event}"
    );
    let row = audited(&mut staff, STAFF, "message.delete", "lobby#2").await;
    assert_eq!(row[4], "event 3");

    // The plain client's next frame is the next message, with the id after the event's.
    said(&mut speaker, "after").await;
    let next = plain.next_json().await;
    assert_plain_message(&next, 4, "after");
    assert_eq!(next["user"], "ada");
    let next = v2.next_message().await;
    assert_eq!(
        (next["id"].as_u64(), next["message"].as_str()),
        (Some(4), Some("after"))
    );
    app.stop().await;
}

#[tokio::test]
async fn after_a_deletion_history_holds_a_tombstone_for_v2_clients_and_skips_it_for_plain_ones() {
    let dir = TempDir::new();
    let Deletion {
        app,
        mut staff,
        mut speaker,
        ..
    } = deletion_room(&dir).await;
    let page = staff.post("/admin/messages/lobby/2/delete", &[]).await;
    redirected(&page, "/admin/messages/?notice=");
    said(&mut speaker, "after").await;

    // Plain clients: neither the tombstone nor the event, and never the old text.
    let mut replay = app.join_path("/ws/chat/lobby/?since=0", None).await;
    let got = replay.messages(2).await;
    assert_eq!(
        (ids(&got), texts(&got)),
        (vec![1, 4], vec!["first".to_owned(), "after".to_owned()])
    );
    let mut joined = app.join("lobby").await;
    let got = joined.messages(2).await;
    assert_eq!(ids(&got), [1, 4]);
    assert!(got.iter().all(|f| f["history"] == true));
    let mut resumed = app.join_path("/ws/chat/lobby/?since=1", None).await;
    said(&mut speaker, "probe").await;
    for client in [&mut replay, &mut joined] {
        assert_plain_message(&client.next_message().await, 5, "probe");
    }
    let got = resumed.messages(2).await;
    assert_eq!(ids(&got), [4, 5], "a resume past the deletion skips it too");

    // v2 clients: the message as a tombstone (same id, no text), then the deletion event.
    for path in ["/ws/chat/lobby/?since=0", "/ws/chat/lobby/"] {
        let mut v2 = Browser::new(app.addr).join_v2(path).await.expect("v2 join");
        let first = v2.next_message().await;
        assert_eq!(
            (first["id"].as_u64(), first["message"].as_str()),
            (Some(1), Some("first"))
        );
        assert!(first.get("deleted").is_none());
        let tombstone = v2.next_json().await;
        assert_eq!(tombstone["type"], "message", "{path}: {tombstone}");
        assert_eq!(tombstone["id"], 2);
        assert_eq!(tombstone["deleted"], true);
        assert_eq!(tombstone["message"], "");
        assert_eq!(tombstone["user"], "ada", "the author stays");
        assert_eq!(tombstone["history"], true);
        let event = v2.next_json().await;
        assert_eq!(event["type"], "delete", "{path}: {event}");
        assert_eq!(
            (event["id"].as_u64(), event["target"].as_u64()),
            (Some(3), Some(2))
        );
        assert_eq!(event["history"], true);
        assert_eq!(ids(&v2.messages(2).await), [4, 5], "{path}");
    }

    // The admin lists it as deleted, without its text, and counts only what is left.
    let rows = message_rows(&mut staff, "room=lobby").await;
    let shown: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[1].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("5", "probe"),
            ("4", "after"),
            ("2", "deleted"),
            ("1", "first")
        ]
    );
    assert!(
        !page_of(&mut staff, "/admin/messages/")
            .await
            .contains("secret")
    );
    assert!(
        message_rows(&mut staff, "q=secret").await.is_empty(),
        "the text is gone, not just hidden"
    );
    let row = room_row(&mut staff, "lobby").await;
    assert_eq!(&row[1..3], ["3", "5"], "three messages left; last id 5");
    app.stop().await;
}

#[tokio::test]
async fn deleting_an_unknown_or_already_deleted_message_is_404_and_uses_no_id() {
    let dir = TempDir::new();
    let Deletion {
        app,
        mut staff,
        mut speaker,
        mut v2,
        ..
    } = deletion_room(&dir).await;
    for path in [
        "/admin/messages/lobby/99/delete",
        "/admin/messages/lobby/0/delete",
        "/admin/messages/nowhere/1/delete",
        "/admin/messages/no%20such%20room!/1/delete",
    ] {
        assert_eq!(staff.post(path, &[]).await.status, 404, "{path}");
    }
    redirected(
        &staff.post("/admin/messages/lobby/2/delete", &[]).await,
        "/admin/messages/",
    );
    assert_eq!(v2.next_json().await["id"], 3);
    let again = staff.post("/admin/messages/lobby/2/delete", &[]).await;
    assert_eq!(again.status, 404, "already deleted: {}", again.body);
    let event = staff.post("/admin/messages/lobby/3/delete", &[]).await;
    assert_eq!(
        event.status, 404,
        "an event is not a message: {}",
        event.body
    );

    // No refusal used an id: the next message is 4, and it is the next thing a v2 client gets.
    assert_eq!(said(&mut speaker, "next").await["id"], 4);
    let next = v2.next_json().await;
    assert_eq!(
        (next["type"].as_str(), next["id"].as_u64()),
        (Some("message"), Some(4)),
        "{next}"
    );
    let mut replay = Browser::new(app.addr)
        .join_v2("/ws/chat/lobby/?since=0")
        .await
        .expect("v2 join");
    let all: Vec<u64> = [
        replay.next_json().await,
        replay.next_json().await,
        replay.next_json().await,
        replay.next_json().await,
    ]
    .iter()
    .map(|f| f["id"].as_u64().expect("id"))
    .collect();
    assert_eq!(all, [1, 2, 3, 4], "gap-free");
    let deletions = audit_rows(&mut staff).await;
    assert_eq!(
        deletions.len(),
        1,
        "only the deletion that happened is audited: {deletions:?}"
    );
    assert_eq!(
        &deletions[0][1..5],
        [STAFF, "message.delete", "lobby#2", "event 3"]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_audit_log_and_the_admin_index_show_each_action_newest_first_with_its_actor() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    said(&mut app.join("lobby").await, "hi").await;
    let page = staff
        .post(
            "/admin/users/",
            &[("username", "ada"), ("password", PASSWORD)],
        )
        .await;
    redirected(&page, "/admin/users/");
    let mut second = staff_browser(app.addr, &dir.sqlite_url(), "second").await;
    redirected(
        &staff.post("/admin/rooms/lobby/lock", &[]).await,
        "/admin/rooms/",
    );
    redirected(
        &second.post("/admin/rooms/lobby/unlock", &[]).await,
        "/admin/rooms/",
    );
    let rows = audit_rows(&mut staff).await;
    let summary: Vec<[&str; 3]> = rows
        .iter()
        .map(|r| [r[1].as_str(), r[2].as_str(), r[3].as_str()])
        .collect();
    assert_eq!(
        summary,
        [
            ["second", "room.unlock", "lobby"],
            [STAFF, "room.lock", "lobby"],
            [STAFF, "user.create", "ada"],
        ]
    );
    assert!(
        rows.iter().all(|r| r[0].ends_with('Z')),
        "timestamps in UTC: {rows:?}"
    );
    page_of(&mut second, "/admin/audit/").await;
    let index = page_of(&mut staff, "/admin/").await;
    assert!(
        index.contains("<td>second</td><td>room.unlock</td><td>lobby</td>"),
        "{index}"
    );
    assert!(
        index.contains("<td>boss</td><td>user.create</td><td>ada</td>"),
        "{index}"
    );
    app.stop().await;
}

#[tokio::test]
async fn on_postgresql_a_lock_holds_on_every_node_and_a_deletion_keeps_ids_gap_free() {
    let test = "admin_lock_and_delete";
    let Some(db) = TestDatabase::create(test).await else {
        return;
    };
    let app = spawn_app_with(test_config(db.url.clone())).await;
    // A second node on the same database, used only to send: the lock is read in its writer's
    // transaction, not from anything the first node holds.
    let other = spawn_app_with(test_config(db.url.clone())).await;
    let mut staff = staff_browser(app.addr, &db.url, STAFF).await;
    let mut v2 = Browser::new(app.addr)
        .join_v2("/ws/chat/hall/")
        .await
        .expect("v2 join");
    let mut plain = app.join("hall").await;
    let mut speaker = app.join("hall").await;
    said(&mut speaker, "one").await;
    said(&mut speaker, "two").await;
    assert_eq!(ids(&v2.messages(2).await), [1, 2]);
    assert_eq!(ids(&plain.messages(2).await), [1, 2]);

    redirected(
        &staff.post("/admin/rooms/hall/lock", &[]).await,
        "/admin/rooms/",
    );
    let mut remote = other.join("hall").await;
    assert_eq!(remote.messages(2).await.len(), 2, "history");
    remote
        .send_json(json!({"message": "from the other node", "client_id": "r1"}))
        .await;
    assert_room_locked(&remote.next_json().await, Some("r1"));
    speaker
        .send_json(json!({"message": "from this node", "client_id": "l1"}))
        .await;
    assert_room_locked(&speaker.next_json().await, Some("l1"));
    assert_eq!(room_row(&mut staff, "hall").await[4], "locked");
    redirected(
        &staff.post("/admin/rooms/hall/unlock", &[]).await,
        "/admin/rooms/",
    );
    // The refused send, sent again, is new: nothing was stored while the room was locked.
    speaker
        .send_json(json!({"message": "three", "client_id": "l1"}))
        .await;
    let (ack, _) = ack_and_echo(&mut speaker).await;
    assert_eq!(
        (ack["id"].as_u64(), ack["duplicate"].as_bool()),
        (Some(3), Some(false))
    );
    assert_plain_message(&plain.next_message().await, 3, "three");
    assert_eq!(v2.next_message().await["id"], 3);

    let page = staff.post("/admin/messages/hall/2/delete", &[]).await;
    redirected(&page, "/admin/messages/");
    let event = v2.next_json().await;
    assert_eq!(
        (
            event["type"].as_str(),
            event["id"].as_u64(),
            event["target"].as_u64()
        ),
        (Some("delete"), Some(4), Some(2)),
        "{event}"
    );
    assert_eq!(
        staff
            .post("/admin/messages/hall/2/delete", &[])
            .await
            .status,
        404
    );
    assert_eq!(
        staff
            .post("/admin/messages/hall/77/delete", &[])
            .await
            .status,
        404
    );
    said(&mut speaker, "five").await;
    assert_plain_message(&plain.next_message().await, 5, "five");
    assert_eq!(v2.next_message().await["id"], 5);

    let mut replay = app.join_path("/ws/chat/hall/?since=0", None).await;
    let got = replay.messages(3).await;
    assert_eq!(ids(&got), [1, 3, 5]);
    assert_eq!(texts(&got), ["one", "three", "five"]);
    let mut v2_replay = Browser::new(app.addr)
        .join_v2("/ws/chat/hall/?since=0")
        .await
        .expect("v2 join");
    let frames = [
        v2_replay.next_json().await,
        v2_replay.next_json().await,
        v2_replay.next_json().await,
        v2_replay.next_json().await,
        v2_replay.next_json().await,
    ];
    let shape: Vec<(u64, &str, bool)> = frames
        .iter()
        .map(|f| {
            (
                f["id"].as_u64().expect("id"),
                f["type"].as_str().expect("type"),
                f["deleted"] == true,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, "message", false),
            (2, "message", true),
            (3, "message", false),
            (4, "delete", false),
            (5, "message", false)
        ]
    );
    assert_eq!(frames[1]["message"], "");
    let rows = message_rows(&mut staff, "room=hall").await;
    assert_eq!(
        rows.iter().find(|r| r[1] == "2").expect("message 2")[4],
        "deleted"
    );
    let actions: Vec<String> = audit_rows(&mut staff)
        .await
        .into_iter()
        .map(|r| r[2].clone())
        .collect();
    assert_eq!(actions, ["message.delete", "room.unlock", "room.lock"]);
    other.stop().await;
    app.stop().await;
    db.drop_database().await;
}
