//! Moderation (issue 10), end to end: staff mute, ban and kick people in a room and put it in slow mode,
//! from the admin's forms and from a staff client's socket commands. A held send is answered and never
//! stored (ids stay gap-free), a ban closes with 4403 and refuses the rejoin with 403, a kick closes with
//! 4408 and lets them back, slow mode takes one message per person per interval with staff exempt, nobody
//! else may do any of it, and every action leaves an audit row. The last test runs two nodes on
//! PostgreSQL and Redis: what staff do on one node holds on the other within about a second.

use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::member;
use crate::helpers::{Client, PATIENCE, TempDir, TestApp, ids, spawn_app, texts, two_nodes};
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

#[tokio::test]
async fn a_muted_member_is_answered_muted_nothing_is_stored_and_the_mute_ends_on_time() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "lobby").await;
    let bob = member(&app, "bob").await;
    let mut bob_socket = bob.join("/ws/chat/lobby/").await.expect("bob joins");
    let mut watcher = app.join("lobby").await;
    assert_eq!(send(&mut bob_socket, "one", "b0").await["id"], 1);

    let mute = json!({"type": "mute", "user": "bob", "seconds": 1});
    let answer = command(&mut mod_socket, mute, "m1").await;
    assert_moderated(&answer, "mute");
    assert_eq!(
        (answer["user"].as_str(), answer["room"].as_str()),
        (Some("bob"), Some("lobby"))
    );
    assert_eq!(answer["seconds"], 1);
    let until = answer["until"].as_str().expect("until").to_owned();
    assert!(
        table(&room_page(&mut staff, "lobby").await, "mute-list").contains("bob"),
        "the admin lists the mute"
    );

    let held = send(&mut bob_socket, "held", "b1").await;
    assert_error(&held, "muted", "b1");
    assert_eq!(held["until"], until.as_str(), "{held}");
    assert!(held["retry_after_ms"].as_u64().expect("retry_after_ms") <= 1000);
    // An edit of their own message is held too.
    bob_socket
        .send_json(json!({"type": "edit", "id": 1, "message": "edited", "client_id": "e1"}))
        .await;
    assert_error(&bob_socket.next_answer().await, "muted", "e1");

    // The held send took no id: the next message is 2.
    assert_eq!(send(&mut mod_socket, "two", "s1").await["id"], 2);
    let ack = send_when_allowed(&mut bob_socket, "after", "b2").await;
    assert_eq!(ack["id"], 3, "{ack}");
    let seen = watcher.messages(3).await;
    assert_eq!(ids(&seen), [1, 2, 3]);
    assert_eq!(texts(&seen), ["one", "two", "after"]);
    let mut replay = app.join_path("/ws/chat/lobby/?since=0", None).await;
    assert_eq!(
        texts(&replay.messages(3).await),
        ["one", "two", "after"],
        "nothing held was stored"
    );
    assert!(
        !table(&room_page(&mut staff, "lobby").await, "mute-list").contains("bob"),
        "an ended mute is not listed"
    );
    assert_audited(&mut staff, "room.mute", "bob in lobby").await;
    app.stop().await;
}

#[tokio::test]
async fn a_ban_closes_with_4403_refuses_the_rejoin_and_holds_guests_by_nickname() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "hall").await;
    let bob = member(&app, "bob").await;
    let mut bob_socket = bob.join("/ws/chat/hall/").await.expect("bob joins");
    let mut other_room = bob.join("/ws/chat/elsewhere/").await.expect("bob joins");

    let page = staff
        .post("/admin/rooms/hall/ban", &[("user", "bob")])
        .await;
    assert_back_to_room(&page, "hall");
    assert_eq!(bob_socket.closed().await, Some(4403));
    assert_eq!(bob.join("/ws/chat/hall/").await.err(), Some(403));
    let bans = room_page(&mut staff, "hall").await;
    assert!(table(&bans, "ban-list").contains("until lifted"), "{bans}");
    // Only that room.
    assert_eq!(
        send(&mut other_room, "still here", "o1").await["type"],
        "ack"
    );

    // A guest is banned by nickname, whatever its case; another nickname gets in (the documented limit).
    let origin = app.origin();
    let mut eve = app
        .handshake("/ws/chat/hall/", Some(&origin), Some("eve"))
        .await
        .expect("eve joins");
    let answer = command(
        &mut mod_socket,
        json!({"type": "ban", "user": "Eve"}),
        "ban-eve",
    )
    .await;
    assert_moderated(&answer, "ban");
    assert_eq!(answer["guest"], true, "{answer}");
    assert_eq!(eve.closed().await, Some(4403));
    for nickname in ["eve", "EVE"] {
        let refused = app
            .handshake("/ws/chat/hall/", Some(&origin), Some(nickname))
            .await
            .err();
        assert_eq!(refused, Some(403), "{nickname}");
    }
    let mut eve2 = app
        .handshake("/ws/chat/hall/", Some(&origin), Some("eve2"))
        .await
        .expect("another nickname");
    assert_eq!(send(&mut eve2, "hello", "e2").await["type"], "ack");

    let page = staff
        .post("/admin/rooms/hall/unban", &[("user", "bob")])
        .await;
    assert_back_to_room(&page, "hall");
    let mut back = bob.join("/ws/chat/hall/").await.expect("unbanned");
    assert_eq!(send(&mut back, "back", "b1").await["type"], "ack");
    let again = staff
        .post("/admin/rooms/hall/unban", &[("user", "bob")])
        .await;
    assert_eq!(again.status, 200, "shown again with an error");
    assert!(again.body.contains("is not banned"), "{}", again.body);

    assert_audited(&mut staff, "room.ban", "bob in hall").await;
    assert_audited(&mut staff, "room.ban", "Eve (guest) in hall").await;
    assert_audited(&mut staff, "room.unban", "bob in hall").await;
    app.stop().await;
}

#[tokio::test]
async fn a_kick_closes_with_4408_and_the_rejoin_is_allowed() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "hall").await;
    let bob = member(&app, "bob").await;
    let mut first = bob.join("/ws/chat/hall/").await.expect("bob joins");
    let mut second = bob.join_v2("/ws/chat/hall/").await.expect("a second tab");
    let mut other_room = bob.join("/ws/chat/elsewhere/").await.expect("bob joins");

    let answer = command(
        &mut mod_socket,
        json!({"type": "kick", "user": "bob"}),
        "k1",
    )
    .await;
    assert_moderated(&answer, "kick");
    assert_eq!(first.closed().await, Some(4408));
    assert_eq!(second.closed().await, Some(4408));
    assert_eq!(
        send(&mut other_room, "still here", "o1").await["type"],
        "ack"
    );
    let mut back = bob
        .join("/ws/chat/hall/")
        .await
        .expect("a kick allows the rejoin");
    assert_eq!(send(&mut back, "back", "b1").await["id"], 1);

    let page = staff
        .post("/admin/rooms/hall/kick", &[("user", "bob")])
        .await;
    assert_back_to_room(&page, "hall");
    assert_eq!(back.closed().await, Some(4408));
    bob.join("/ws/chat/hall/").await.expect("rejoins again");
    assert_audited(&mut staff, "room.kick", "bob in hall").await;
    app.stop().await;
}

#[tokio::test]
async fn slow_mode_takes_one_message_per_person_per_interval_and_exempts_staff() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "slow").await;
    let bob = member(&app, "bob").await;
    let carol = member(&app, "carol").await;
    let mut bob_socket = bob.join("/ws/chat/slow/").await.expect("bob joins");
    let mut carol_socket = carol.join("/ws/chat/slow/").await.expect("carol joins");
    let mut watcher = app.join("slow").await;

    let answer = command(
        &mut mod_socket,
        json!({"type": "slow_mode", "seconds": 2}),
        "s1",
    )
    .await;
    assert_moderated(&answer, "slow_mode");
    assert_eq!(answer["seconds"], 2);
    assert!(room_page(&mut staff, "slow").await.contains("every 2 s"));

    assert_eq!(send(&mut bob_socket, "b-1", "b1").await["id"], 1);
    let held = send(&mut bob_socket, "b-2", "b2").await;
    assert_error(&held, "slow_mode", "b2");
    let wait = held["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!((1..=2000).contains(&wait), "{held}");
    // Per person: carol may speak; staff are exempt.
    assert_eq!(send(&mut carol_socket, "c-1", "c1").await["id"], 2);
    for (i, client_id) in ["s-1", "s-2", "s-3"].into_iter().enumerate() {
        let ack = send(&mut mod_socket, client_id, client_id).await;
        assert_eq!(ack["id"].as_u64(), Some(3 + i as u64), "{ack}");
    }
    assert_eq!(
        send_when_allowed(&mut bob_socket, "b-2", "b2").await["id"],
        6
    );

    let page = staff
        .post("/admin/rooms/slow/slow_mode", &[("seconds", "0")])
        .await;
    assert_back_to_room(&page, "slow");
    assert!(
        room_page(&mut staff, "slow")
            .await
            .contains("id=\"slow-mode\">off")
    );
    assert_eq!(send(&mut bob_socket, "b-3", "b3").await["id"], 7);
    assert_eq!(send(&mut bob_socket, "b-4", "b4").await["id"], 8);
    let seen = watcher.messages(8).await;
    assert_eq!(ids(&seen), (1..=8).collect::<Vec<u64>>(), "gap-free");
    assert_audited(&mut staff, "room.slow_mode", "slow").await;
    app.stop().await;
}

#[tokio::test]
async fn only_staff_may_moderate_and_staff_cannot_be_moderated() {
    let dir = TempDir::new();
    let (app, mut staff, mut mod_socket) = moderated_room(&dir, "lobby").await;
    let mut bob = member(&app, "bob").await;
    let mut bob_socket = bob.join_v2("/ws/chat/lobby/").await.expect("bob joins");
    let mut guest = app.join("lobby").await;

    let mute = json!({"type": "mute", "user": STAFF, "seconds": 60});
    for (socket, client_id) in [(&mut bob_socket, "x1"), (&mut guest, "x2")] {
        assert_error(
            &command(socket, mute.clone(), client_id).await,
            "forbidden",
            client_id,
        );
        let ban = json!({"type": "ban", "user": "bob"});
        let id = format!("{client_id}-ban");
        assert_error(&command(socket, ban, &id).await, "forbidden", &id);
    }
    assert_eq!(
        send(&mut bob_socket, "not banned", "b1").await["type"],
        "ack"
    );
    // Staff are never muted, banned or kicked; a name that cannot be anyone's is refused.
    let self_mute = command(&mut mod_socket, mute, "x3").await;
    assert_error(&self_mute, "forbidden", "x3");
    let invisible = json!({"type": "kick", "user": "b\u{200B}ob"});
    assert_error(
        &command(&mut mod_socket, invisible, "x4").await,
        "invalid_user",
        "x4",
    );
    let no_seconds = json!({"type": "mute", "user": "bob"});
    assert_error(
        &command(&mut mod_socket, no_seconds, "x5").await,
        "invalid_seconds",
        "x5",
    );

    // The admin's pages and forms: staff only, and a form without its CSRF token is refused.
    assert_eq!(bob.get("/admin/rooms/lobby/").await.status, 403);
    assert_eq!(
        bob.post("/admin/rooms/lobby/ban", &[("user", "carol")])
            .await
            .status,
        403
    );
    let forged = staff
        .post_raw("/admin/rooms/lobby/ban", &[("user", "bob")])
        .await;
    assert_eq!(forged.status, 403, "no CSRF token");
    assert_eq!(
        send(&mut bob_socket, "still fine", "b2").await["type"],
        "ack"
    );
    let audit = staff.get("/admin/audit/").await.body;
    assert!(
        !audit.contains("room.ban"),
        "nothing refused is audited: {audit}"
    );
    assert!(!audit.contains("room.mute"), "{audit}");
    app.stop().await;
}

/// Tries the handshake until it is accepted (an unban reaches another node at its next poll of the log;
/// nothing can be awaited), within the test's patience.
async fn join_when_allowed(browser: &Browser, path: &str) -> Client {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match browser.join(path).await {
            Ok(client) => return client,
            Err(status) => {
                assert_eq!(status, 403, "only the ban refuses it");
                assert!(tokio::time::Instant::now() < deadline, "still refused");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_nodes_mutes_bans_and_kicks_hold_on_both_within_about_a_second() {
    let test = "moderation_across_nodes";
    let Some((db, a, b)) = two_nodes(test).await else {
        return;
    };
    let mut staff = staff_browser(a.addr, &db.url, STAFF).await;
    let mut mod_socket = staff.join_v2("/ws/chat/hall/").await.expect("staff on A");
    let bob_on_a = member(&a, "bob").await;
    let bob_on_b = bob_on_a.on(b.addr);
    let carol_on_b = member(&a, "carol").await.on(b.addr);
    let mut bob_a = bob_on_a.join("/ws/chat/hall/").await.expect("bob on A");
    let mut bob_b = bob_on_b.join("/ws/chat/hall/").await.expect("bob on B");
    let mut carol_b = carol_on_b.join("/ws/chat/hall/").await.expect("carol on B");
    let mut watcher = b.join("hall").await;
    assert_eq!(send(&mut bob_b, "one", "b0").await["id"], 1);

    let started = tokio::time::Instant::now();
    let mute = json!({"type": "mute", "user": "bob", "seconds": 600});
    assert_moderated(&command(&mut mod_socket, mute, "m1").await, "mute");
    // The kick is logged after the mute: once B has closed carol's socket, it has applied the mute too.
    let kick = json!({"type": "kick", "user": "carol"});
    assert_moderated(&command(&mut mod_socket, kick, "k1").await, "kick");
    assert_eq!(carol_b.closed().await, Some(4408), "B applies the kick");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "B polls the log about once a second: {:?}",
        started.elapsed()
    );
    assert_error(&send(&mut bob_b, "held", "h1").await, "muted", "h1");
    assert_error(&send(&mut bob_a, "held", "h2").await, "muted", "h2");

    let page = staff
        .post("/admin/rooms/hall/ban", &[("user", "bob")])
        .await;
    assert_back_to_room(&page, "hall");
    assert_eq!(bob_a.closed().await, Some(4403), "on A");
    assert_eq!(bob_b.closed().await, Some(4403), "on B");
    assert_eq!(bob_on_a.join("/ws/chat/hall/").await.err(), Some(403));
    assert_eq!(bob_on_b.join("/ws/chat/hall/").await.err(), Some(403));

    let mut carol_back = carol_on_b
        .join("/ws/chat/hall/")
        .await
        .expect("kicked, not banned");
    assert_eq!(send(&mut carol_back, "two", "c1").await["id"], 2);
    let seen = watcher.messages(2).await;
    assert_eq!(ids(&seen), [1, 2], "nothing held was stored");

    let unban = json!({"type": "unban", "user": "bob"});
    assert_moderated(&command(&mut mod_socket, unban, "u1").await, "unban");
    let unmute = json!({"type": "unmute", "user": "bob"});
    assert_moderated(&command(&mut mod_socket, unmute, "u2").await, "unmute");
    let mut bob_back = join_when_allowed(&bob_on_b, "/ws/chat/hall/").await;
    assert_eq!(
        send_when_allowed(&mut bob_back, "three", "b3").await["id"],
        3
    );

    for (action, target) in [
        ("room.mute", "bob in hall"),
        ("room.kick", "carol in hall"),
        ("room.ban", "bob in hall"),
        ("room.unban", "bob in hall"),
        ("room.unmute", "bob in hall"),
    ] {
        assert_audited(&mut staff, action, target).await;
    }
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
