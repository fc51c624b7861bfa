//! Signing up: a new user chats under their account name (whatever the frame claims) and logging out
//! ends the session on the pages and the socket; a refused sign-up (the password rules, names that are
//! not allowed, reserved or taken in another case or spelling) shows the form again and creates no user.

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
