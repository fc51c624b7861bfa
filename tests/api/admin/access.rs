//! Who may use the admin, and what it keeps of what they did: guests are sent to the login page and users
//! without staff rights get 403 on every page and action; a post without the CSRF token is refused and
//! changes nothing; the audit log and the admin index show each action, newest first, with its actor.

use crate::accounts::member;
use crate::helpers::{TempDir, texts};
use crate::people::{Browser, PASSWORD, staff_browser};

use super::{
    STAFF, admin_app, audit_rows, chatting_member, create_user, get_ok, page_of, post_flag,
    redirected, room_action, room_row, said, send_with_id, set_flag, user_id, user_rows,
};

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
    let page = post_flag(&mut ada, staff_id, "active", "false").await;
    assert_eq!(page.status, 403, "{}", page.body);
    let page = create_user(
        &mut ada,
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
    let (_ada, mut socket, id) = chatting_member(&app, &mut staff, "ada").await;

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
    let (ack, echo) = send_with_id(&mut socket, "still here", "c1").await;
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
    set_flag(&mut staff, id, "active", "false").await;
    assert_eq!(socket.closed().await, Some(4403));
    app.stop().await;
}

#[tokio::test]
async fn the_audit_log_and_the_admin_index_show_each_action_newest_first_with_its_actor() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    said(&mut app.join("lobby").await, "hi").await;
    let page = create_user(&mut staff, &[("username", "ada"), ("password", PASSWORD)]).await;
    redirected(&page, "/admin/users/");
    let mut second = staff_browser(app.addr, &dir.sqlite_url(), "second").await;
    room_action(&mut staff, "lobby", "lock").await;
    room_action(&mut second, "lobby", "unlock").await;
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
