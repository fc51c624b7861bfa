//! Signing up: a new user chats under their account name (whatever the frame claims) and logging out
//! ends the session on the pages and the socket; a refused sign-up (the password rules, names that are
//! not allowed, reserved or taken in another case, spelling or width) shows the form again and creates no
//! user; names are NFKC, and an account named before that keeps its login and its name.

use crate::helpers::{TempDir, spawn_app};
use crate::people::{Browser, PASSWORD};

use super::{assert_login_refused, holding_session, member, signed_in, text_of};

#[tokio::test]
async fn a_signed_up_user_chats_under_their_account_name_and_logout_ends_the_session() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = member(&app, "Ada").await;
    let lobby = ada.get("/").await;
    assert!(lobby.body.contains("Signed in as"), "{}", lobby.body);
    assert!(
        !lobby.body.contains("id=\"nickname-input\""),
        "no nickname box when logged in"
    );

    let mut socket = ada.join("/ws/chat/lobby/").await.expect("joined");
    socket
        .send_json(serde_json::json!({"message": "hi", "user": "mallory"}))
        .await;
    let frame = socket.next_message().await;
    assert_eq!(frame["user"], "Ada", "the server says who is speaking");
    assert!(frame.get("guest").is_none());

    let session = ada.cookie("sessionid").expect("session cookie").to_owned();
    let page = ada.log_out().await;
    assert_eq!(page.status, 303);
    assert!(ada.cookie("sessionid").is_none());
    assert_eq!(
        socket.closed().await,
        Some(4401),
        "the logged-out session's socket closes"
    );

    // The old cookie no longer signs anyone in, on the pages or the socket.
    let mut replay = holding_session(app.addr, &session);
    assert!(!signed_in(&mut replay).await);
    let mut guest = replay
        .join("/ws/chat/lobby/")
        .await
        .expect("joined as a guest");
    guest.say("who am I").await;
    let frames = guest.messages(2).await;
    assert_eq!(frames[1]["user"], "anonymous");
    assert_eq!(frames[1]["guest"], true);

    let again = Browser::new(app.addr).log_in("ada", PASSWORD).await;
    assert_eq!(again.status, 303, "usernames are case-insensitive at login");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_signup_shows_the_form_again_with_the_reason_and_creates_no_user() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("José").await;

    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "Ada",
            PASSWORD,
            "another password",
            "The two password fields didn't match.",
        ),
        ("Ada", "short1", "short1", "too short"),
        ("Adalovelace", "ADALOVELACE", "ADALOVELACE", "too similar"),
        ("Ada", "1234567890", "1234567890", "entirely numeric"),
        (
            "ada lovelace",
            PASSWORD,
            PASSWORD,
            "may contain only letters, digits",
        ),
        (
            "ali\u{200B}ce",
            PASSWORD,
            PASSWORD,
            "may contain only letters, digits",
        ),
        (
            "\u{202E}ecila",
            PASSWORD,
            PASSWORD,
            "may contain only letters, digits",
        ),
        ("anonymous", PASSWORD, PASSWORD, "reserved"),
        ("Anonymous", PASSWORD, PASSWORD, "reserved"),
        (
            "Jose\u{301}",
            "someone else's",
            "someone else's",
            "A user with that username already exists.",
        ),
        (
            "JOSÉ",
            "someone else's",
            "someone else's",
            "A user with that username already exists.",
        ),
        (
            "josé",
            "someone else's",
            "someone else's",
            "A user with that username already exists.",
        ),
    ];
    for (username, password1, password2, reason) in cases {
        let mut browser = Browser::new(app.addr);
        let page = browser
            .post(
                "/accounts/signup/",
                &[
                    ("username", username),
                    ("password1", password1),
                    ("password2", password2),
                ],
            )
            .await;
        assert_eq!(
            page.status, 200,
            "{username:?} / {password1:?}: {}",
            page.body
        );
        let text = text_of(&page.body);
        assert!(
            text.contains(reason),
            "{username:?} / {password1:?}: expected {reason:?} in {text}"
        );
        assert!(text.contains("id=\"signup\""), "the form is shown again");
        assert!(
            browser.cookie("sessionid").is_none(),
            "{username:?}: nobody is signed in"
        );
        assert!(!signed_in(&mut browser).await);
    }

    // None of the refused attempts created an account: the names are still free, and the one that was
    // taken still has only its owner's password.
    Browser::new(app.addr).sign_up("Ada").await;
    Browser::new(app.addr).sign_up("Adalovelace").await;
    let intruder = Browser::new(app.addr)
        .log_in("José", "someone else's")
        .await;
    assert_login_refused(&intruder, "José with another password");
    assert_eq!(
        Browser::new(app.addr).log_in("José", PASSWORD).await.status,
        303
    );
    app.stop().await;
}

/// Signs up `name` (with the usual password) and returns the page: the form again, or a redirect.
async fn try_sign_up(browser: &mut Browser, name: &str) -> crate::people::Page {
    browser
        .post(
            "/accounts/signup/",
            &[
                ("username", name),
                ("password1", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await
}

/// Asserts `page` is the sign-up form again saying the name is taken.
fn assert_name_taken(page: &crate::people::Page, name: &str) {
    assert_eq!(page.status, 200, "{name:?}: {}", page.body);
    assert!(
        text_of(&page.body).contains("A user with that username already exists."),
        "{name:?}: {}",
        page.body
    );
}

#[tokio::test]
async fn a_fullwidth_or_compatibility_lookalike_of_a_registered_name_is_refused_at_signup() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("admin").await;
    // Fullwidth letters, a mix, fullwidth capitals: NFKC makes each of them "admin".
    for name in ["ａｄｍｉｎ", "ａdmin", "ＡＤＭＩＮ"] {
        let mut browser = Browser::new(app.addr);
        let page = try_sign_up(&mut browser, name).await;
        assert_name_taken(&page, name);
        assert!(browser.cookie("sessionid").is_none(), "{name:?}");
    }
    // Nor may a guest take it (the nickname cookie is percent-encoded, as the lobby writes it).
    let fullwidth = "%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E";
    let refused = app
        .handshake("/ws/chat/lobby/", Some(&app.origin()), Some(fullwidth))
        .await;
    assert_eq!(refused.err(), Some(403), "the guest nickname ａｄｍｉｎ");
    // A ligature is its letters: "ﬁnn" is "finn".
    Browser::new(app.addr).sign_up("ﬁnn").await;
    assert_name_taken(
        &try_sign_up(&mut Browser::new(app.addr), "finn").await,
        "finn",
    );
    // The name is stored as NFKC: logging in by either spelling reaches the one account.
    for name in ["admin", "ａｄｍｉｎ"] {
        let page = Browser::new(app.addr).log_in(name, PASSWORD).await;
        assert_eq!(page.status, 303, "{name:?}: {}", page.body);
    }
    app.stop().await;
}

#[tokio::test]
async fn an_account_named_before_names_were_nfkc_keeps_its_login_and_blocks_its_lookalikes() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("placeholder").await;
    app.stop().await;
    // As an older version stored a fullwidth name: as typed (NFC), keyed by its lowercase.
    {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&dir.sqlite_url())
            .await
            .expect("sqlite");
        sqlx::query("UPDATE users SET username = 'ａｄｍｉｎ', username_key = 'ａｄｍｉｎ'")
            .execute(&mut db)
            .await
            .expect("update");
        db.close().await.expect("close");
    }
    let app = spawn_app(&dir).await;
    for name in ["admin", "ADMIN", "ａｄｍｉｎ"] {
        assert_name_taken(&try_sign_up(&mut Browser::new(app.addr), name).await, name);
    }
    let refused = app
        .handshake("/ws/chat/lobby/", Some(&app.origin()), Some("admin"))
        .await;
    assert_eq!(refused.err(), Some(403), "a guest cannot take its name");
    let mut owner = Browser::new(app.addr);
    assert_eq!(owner.log_in("ａｄｍｉｎ", PASSWORD).await.status, 303);
    assert!(signed_in(&mut owner).await);
    app.stop().await;
}
