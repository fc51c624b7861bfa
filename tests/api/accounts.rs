//! Accounts end to end: sign-up, login and logout at Django's URLs, and the socket speaking as the account.
//! Also what protects them: the sign-up rules, login throttling, safe `next` redirects, session rotation,
//! CSRF, cookie flags, guests kept off registered names, members-only rooms, and sessions shared by two
//! nodes on one PostgreSQL database.

use std::net::SocketAddr;
use std::time::Duration;

use chatweb::config::Config;

use crate::helpers::{
    PATIENCE, TempDir, TestDatabase, node_config, spawn_app, spawn_app_with, test_config,
    test_service, unique_prefix,
};
use crate::people::{Browser, PASSWORD, socket};

/// The invalid-credentials message of the login form.
pub const INVALID_LOGIN: &str = "Please enter a correct username and password";

/// `body` with the HTML escapes minijinja writes turned back into text, so messages can be looked for.
pub fn text_of(body: &str) -> String {
    body.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A well-formed secret no server issued (64 hex characters), for forged cookies and tokens.
pub fn forged_secret() -> String {
    "0123456789abcdef".repeat(4)
}

/// POSTs a form to `path` on `addr` with exactly this `Cookie` header, these fields and extra headers;
/// redirects are not followed.
async fn send_form(
    addr: SocketAddr,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let mut request = client
        .post(format!("http://{addr}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if !cookie.is_empty() {
        request = request.header("cookie", cookie);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("POST")
}

/// The `Set-Cookie` line the response sets for cookie `name`, if any.
fn set_cookie_line(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|line| line.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// A login attempt as a browser behind a local proxy that forwards for client address `from`.
async fn log_in_from(addr: SocketAddr, from: &str, name: &str, password: &str) -> (u16, String) {
    let mut browser = Browser::new(addr);
    browser.get("/").await;
    let csrf = browser.cookie("csrftoken").expect("csrftoken").to_owned();
    let response = send_form(
        addr,
        "/accounts/login/",
        &browser.cookie_header(),
        &[
            ("csrfmiddlewaretoken", &csrf),
            ("username", name),
            ("password", password),
        ],
        &[("x-forwarded-for", from)],
    )
    .await;
    let status = response.status().as_u16();
    (status, text_of(&response.text().await.expect("body")))
}

#[tokio::test]
async fn a_signed_up_user_chats_under_their_account_name_and_logout_ends_the_session() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("Ada").await;
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
    let mut replay = Browser::new(app.addr);
    replay.set_cookie("sessionid", Some(&session));
    assert!(!replay.get("/").await.body.contains("Signed in as"));
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
        assert!(!browser.get("/").await.body.contains("Signed in as"));
    }

    // None of the refused attempts created an account: the names are still free, and the one that was
    // taken still has only its owner's password.
    Browser::new(app.addr).sign_up("Ada").await;
    Browser::new(app.addr).sign_up("Adalovelace").await;
    let intruder = Browser::new(app.addr)
        .log_in("José", "someone else's")
        .await;
    assert_eq!(intruder.status, 200);
    assert!(intruder.body.contains(INVALID_LOGIN), "{}", intruder.body);
    assert_eq!(
        Browser::new(app.addr).log_in("José", PASSWORD).await.status,
        303
    );
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_name_gets_the_login_form_again_with_a_clear_message() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Ada").await;
    for (name, password) in [("Ada", "not the password"), ("nobody", PASSWORD), ("", "")] {
        let mut browser = Browser::new(app.addr);
        let page = browser.log_in(name, password).await;
        assert_eq!(page.status, 200, "{name:?}");
        assert!(page.body.contains(INVALID_LOGIN), "{name:?}: {}", page.body);
        assert!(
            page.body.contains("id=\"login\""),
            "the form is shown again"
        );
        assert!(browser.cookie("sessionid").is_none(), "{name:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn five_failed_logins_lock_the_username_with_429_until_the_lockout_ends_then_the_owner_gets_in()
 {
    let dir = TempDir::new();
    let app = spawn_app_with(Config {
        login_failures: 5,
        login_lockout_secs: 1,
        ..test_config(dir.sqlite_url())
    })
    .await;
    Browser::new(app.addr).sign_up("Ada").await;
    let mut mallory = Browser::new(app.addr);
    for attempt in 1..=5 {
        let page = mallory.log_in("ada", &format!("guess {attempt}")).await;
        assert_eq!(page.status, 200, "attempt {attempt}");
        assert!(page.body.contains(INVALID_LOGIN), "attempt {attempt}");
    }

    // Locked now, even for the right password, and from another address too.
    let mut owner = Browser::new(app.addr);
    let locked = owner.log_in("Ada", PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(
        locked.body.contains("Too many failed login attempts"),
        "{}",
        locked.body
    );
    assert!(owner.cookie("sessionid").is_none());
    let (status, body) = log_in_from(app.addr, "198.51.100.7", "ADA", PASSWORD).await;
    assert_eq!(status, 429, "the lock is on the username: {body}");

    // The lock ends on its own: the owner retries until it does, within a bound.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let page = owner.log_in("Ada", PASSWORD).await;
        if page.status == 303 {
            break;
        }
        assert_eq!(
            page.status, 429,
            "only the lock refuses the owner: {}",
            page.body
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "a 1 s lockout is still on after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(owner.get("/").await.body.contains("Signed in as"));
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_from_one_address_lock_that_address_for_every_username_and_no_other_address()
{
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Ada").await;
    for i in 0..5 {
        let (status, body) =
            log_in_from(app.addr, "203.0.113.5", &format!("user{i}"), PASSWORD).await;
        assert_eq!(status, 200, "attempt {i}");
        assert!(body.contains(INVALID_LOGIN), "attempt {i}");
    }
    let (status, body) = log_in_from(app.addr, "203.0.113.5", "Ada", PASSWORD).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("Too many failed login attempts"), "{body}");
    let (status, body) = log_in_from(app.addr, "203.0.113.6", "Ada", PASSWORD).await;
    assert_eq!(status, 303, "another address is not locked: {body}");
    app.stop().await;
}

#[tokio::test]
async fn a_successful_login_clears_the_usernames_count_of_failures() {
    let dir = TempDir::new();
    let app = spawn_app_with(Config {
        login_failures: 5,
        login_lockout_secs: 60,
        ..test_config(dir.sqlite_url())
    })
    .await;
    Browser::new(app.addr).sign_up("Ada").await;
    // Each round from its own address, so only the username's count could add up across rounds.
    for (round, from) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
        .into_iter()
        .enumerate()
    {
        for attempt in 1..=4 {
            let (status, body) = log_in_from(app.addr, from, "Ada", "a wrong guess").await;
            assert_eq!(status, 200, "round {round} attempt {attempt}: {body}");
            assert!(
                body.contains(INVALID_LOGIN),
                "round {round} attempt {attempt}"
            );
        }
        let (status, body) = log_in_from(app.addr, from, "Ada", PASSWORD).await;
        assert_eq!(
            status, 303,
            "round {round}: four failures do not lock: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn login_and_signup_follow_a_local_next_and_never_one_to_another_site() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut first = Browser::new(app.addr);
    let page = first
        .post(
            "/accounts/signup/",
            &[
                ("username", "Ada"),
                ("password1", PASSWORD),
                ("password2", PASSWORD),
                ("next", "//evil.com/"),
            ],
        )
        .await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/")));

    for (next, expected) in [
        ("/chat/room/", "/chat/room/"),
        ("/chat/room/?since=3", "/chat/room/?since=3"),
        ("//evil.com", "/"),
        ("//evil.com/chat/room/", "/"),
        ("https://evil.com/", "/"),
        ("/\\evil.com", "/"),
        ("evil.com", "/"),
        ("", "/"),
    ] {
        let mut browser = Browser::new(app.addr);
        let page = browser
            .post(
                "/accounts/login/",
                &[("username", "Ada"), ("password", PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(page.status, 303, "{next:?}: {}", page.body);
        assert_eq!(page.location.as_deref(), Some(expected), "{next:?}");
    }
    // The login page's form carries only a safe `next` on.
    let form = Browser::new(app.addr)
        .get("/accounts/login/?next=%2F%2Fevil.com")
        .await;
    assert_eq!(form.status, 200);
    assert!(!text_of(&form.body).contains("evil.com"), "{}", form.body);
    app.stop().await;
}

#[tokio::test]
async fn logging_in_rotates_the_session_and_the_one_held_before_stops_working() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("Ada").await;
    let before = ada.cookie("sessionid").expect("session").to_owned();
    let mut old_socket = ada.join("/ws/chat/lobby/").await.expect("joined");

    let page = ada.log_in("Ada", PASSWORD).await;
    assert_eq!(page.status, 303);
    let after = ada.cookie("sessionid").expect("a new session").to_owned();
    assert_ne!(before, after, "a login hands out a fresh session id");
    assert_eq!(
        old_socket.closed().await,
        Some(4401),
        "the replaced session's socket closes"
    );
    assert!(ada.get("/").await.body.contains("Signed in as"));

    let mut replay = Browser::new(app.addr);
    replay.set_cookie("sessionid", Some(&before));
    assert!(
        !replay.get("/").await.body.contains("Signed in as"),
        "the old id signs nobody in"
    );

    // Session fixation: an id planted in the browser before login is not the one it ends up with.
    let planted = crate::accounts::forged_secret();
    let mut victim = Browser::new(app.addr);
    victim.set_cookie("sessionid", Some(&planted));
    assert_eq!(victim.log_in("Ada", PASSWORD).await.status, 303);
    assert_ne!(victim.cookie("sessionid"), Some(planted.as_str()));
    let mut attacker = Browser::new(app.addr);
    attacker.set_cookie("sessionid", Some(&planted));
    assert!(!attacker.get("/").await.body.contains("Signed in as"));
    app.stop().await;
}

#[tokio::test]
async fn a_signup_without_a_matching_csrf_token_is_refused_with_403_and_creates_no_user() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let fields = [
        ("username", "Eve"),
        ("password1", PASSWORD),
        ("password2", PASSWORD),
    ];

    // No CSRF cookie and no field at all.
    let mut bare = Browser::new(app.addr);
    assert_eq!(
        bare.post_raw("/accounts/signup/", &fields).await.status,
        403
    );
    assert!(bare.cookie("sessionid").is_none());

    // The cookie, but no field; a wrong field; another browser's token; a wrong header.
    let mut browser = Browser::new(app.addr);
    browser.get("/").await;
    let mut other = Browser::new(app.addr);
    other.get("/").await;
    let others_token = other.cookie("csrftoken").expect("token").to_owned();
    assert_eq!(
        browser.post_raw("/accounts/signup/", &fields).await.status,
        403
    );
    for token in [forged_secret(), others_token, String::new(), "x".into()] {
        let mut forged = vec![("csrfmiddlewaretoken", token.as_str())];
        forged.extend_from_slice(&fields);
        let page = browser.post_raw("/accounts/signup/", &forged).await;
        assert_eq!(page.status, 403, "token {token:?}");
        assert!(browser.cookie("sessionid").is_none());
    }
    let response = send_form(
        app.addr,
        "/accounts/signup/",
        &browser.cookie_header(),
        &fields,
        &[("x-csrftoken", &forged_secret())],
    )
    .await;
    assert_eq!(response.status(), 403);
    assert!(set_cookie_line(&response, "sessionid").is_none());

    // Nothing was created: the name is free, and nobody can log in under it yet.
    let page = Browser::new(app.addr).log_in("Eve", PASSWORD).await;
    assert!(page.body.contains(INVALID_LOGIN), "{}", page.body);
    Browser::new(app.addr).sign_up("Eve").await;
    app.stop().await;
}

#[tokio::test]
async fn a_login_without_a_matching_csrf_token_is_refused_with_403_and_signs_nobody_in() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Ada").await;
    let fields = [("username", "Ada"), ("password", PASSWORD)];

    let mut bare = Browser::new(app.addr);
    assert_eq!(bare.post_raw("/accounts/login/", &fields).await.status, 403);
    assert!(bare.cookie("sessionid").is_none());

    let mut browser = Browser::new(app.addr);
    browser.get("/").await;
    let token = browser.cookie("csrftoken").expect("token").to_owned();
    assert_eq!(
        browser.post_raw("/accounts/login/", &fields).await.status,
        403
    );
    let forged = forged_secret();
    let page = browser
        .post_raw(
            "/accounts/login/",
            &[
                ("csrfmiddlewaretoken", &forged),
                ("username", "Ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    let response = send_form(
        app.addr,
        "/accounts/login/",
        &browser.cookie_header(),
        &fields,
        &[("x-csrftoken", &forged)],
    )
    .await;
    assert_eq!(response.status(), 403);
    assert!(set_cookie_line(&response, "sessionid").is_none());
    assert!(browser.cookie("sessionid").is_none());
    assert!(!browser.get("/").await.body.contains("Signed in as"));

    // The matching token in the header is as good as the field.
    let response = send_form(
        app.addr,
        "/accounts/login/",
        &browser.cookie_header(),
        &fields,
        &[("x-csrftoken", &token)],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(set_cookie_line(&response, "sessionid").is_some());
    app.stop().await;
}

#[tokio::test]
async fn a_form_post_with_basic_credentials_but_no_csrf_token_is_refused_with_403() {
    // A browser behind a proxy that asks for Basic auth sends those credentials on a forged cross-site
    // POST by itself; only a Bearer token (which no page can make a browser send) may skip CSRF.
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Ada").await;
    let basic = [("authorization", "Basic YWRhOnB3")];
    let signup = send_form(
        app.addr,
        "/accounts/signup/",
        "",
        &[
            ("username", "Eve"),
            ("password1", PASSWORD),
            ("password2", PASSWORD),
        ],
        &basic,
    )
    .await;
    assert_eq!(signup.status(), 403, "signup");
    assert!(set_cookie_line(&signup, "sessionid").is_none());
    let login = send_form(
        app.addr,
        "/accounts/login/",
        "",
        &[("username", "Ada"), ("password", PASSWORD)],
        &basic,
    )
    .await;
    assert_eq!(login.status(), 403, "login");
    assert!(set_cookie_line(&login, "sessionid").is_none());
    // Nothing was created: the name is still free.
    Browser::new(app.addr).sign_up("Eve").await;
    app.stop().await;
}

#[tokio::test]
async fn a_logout_without_a_matching_csrf_token_is_refused_with_403_and_the_session_stays() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("Ada").await;
    let mut socket = ada.join("/ws/chat/lobby/").await.expect("joined");

    assert_eq!(ada.post_raw("/accounts/logout/", &[]).await.status, 403);
    let forged = forged_secret();
    let page = ada
        .post_raw("/accounts/logout/", &[("csrfmiddlewaretoken", &forged)])
        .await;
    assert_eq!(page.status, 403);
    let mut cookieless = Browser::new(app.addr);
    cookieless.set_cookie("sessionid", ada.cookie("sessionid"));
    assert_eq!(
        cookieless.post_raw("/accounts/logout/", &[]).await.status,
        403
    );

    // Still signed in, and the socket still speaks as Ada.
    assert!(ada.cookie("sessionid").is_some());
    assert!(ada.get("/").await.body.contains("Signed in as"));
    socket.say("still here").await;
    let frame = socket.next_message().await;
    assert_eq!(
        (frame["user"].as_str(), frame["message"].as_str()),
        (Some("Ada"), Some("still here"))
    );

    assert_eq!(ada.log_out().await.status, 303);
    assert_eq!(socket.closed().await, Some(4401));
    app.stop().await;
}

#[tokio::test]
async fn a_guest_cannot_chat_under_a_registered_name_in_any_case_or_spelling() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Alice").await;
    Browser::new(app.addr).sign_up("José").await;
    let origin = app.origin();

    // Percent-encoded as the lobby writes the cookie.
    for nickname in [
        "Alice",
        "alice",
        "ALICE",
        "%20alice%20",
        "Jose%CC%81",
        "JOS%C3%89",
    ] {
        let refused = app
            .handshake("/ws/chat/lobby/", Some(&origin), Some(nickname))
            .await;
        assert_eq!(refused.err(), Some(403), "{nickname}");
        let mut guest = Browser::new(app.addr);
        guest.set_cookie("chatweb_nickname", Some(nickname));
        let page = guest.get("/chat/lobby/").await;
        assert_eq!(page.status, 303, "{nickname}");
        assert_eq!(
            page.location.as_deref(),
            Some("/?error=nickname_taken"),
            "{nickname}"
        );
    }
    let mut guest = Browser::new(app.addr);
    guest.set_cookie("chatweb_nickname", Some("alice"));
    let lobby = guest.get("/?error=nickname_taken").await;
    assert!(
        lobby
            .body
            .contains("That nickname belongs to a registered user"),
        "{}",
        lobby.body
    );

    // A zero-width space does not make a look-alike: the nickname is dropped for "anonymous".
    let mut lookalike = app
        .handshake("/ws/chat/lobby/", Some(&origin), Some("ali%E2%80%8Bce"))
        .await
        .expect("joined as anonymous");
    lookalike.say("it is me, alice").await;
    let frame = lookalike.next_message().await;
    assert_eq!(
        (frame["user"].as_str(), frame["guest"].as_bool()),
        (Some("anonymous"), Some(true))
    );
    let mut lookalike_page = Browser::new(app.addr);
    lookalike_page.set_cookie("chatweb_nickname", Some("ali%E2%80%8Bce"));
    assert_eq!(lookalike_page.get("/chat/lobby/").await.status, 200);

    // A free nickname is used as is.
    let mut bob = app
        .handshake("/ws/chat/lobby/", Some(&origin), Some("bob"))
        .await
        .expect("joined as bob");
    bob.say("hello").await;
    let frames = bob.messages(2).await;
    assert_eq!(
        (frames[1]["user"].as_str(), frames[1]["guest"].as_bool()),
        (Some("bob"), Some(true))
    );
    app.stop().await;
}

#[tokio::test]
async fn with_guests_off_a_guest_is_refused_and_sent_to_log_in_while_a_member_chats() {
    let dir = TempDir::new();
    let app = spawn_app_with(Config {
        guests: false,
        ..test_config(dir.sqlite_url())
    })
    .await;
    let origin = app.origin();
    assert_eq!(
        app.handshake("/ws/chat/room/", Some(&origin), None)
            .await
            .err(),
        Some(403)
    );
    assert_eq!(
        app.handshake("/ws/chat/room/", Some(&origin), Some("bob"))
            .await
            .err(),
        Some(403)
    );
    let mut guest = Browser::new(app.addr);
    let page = guest.get("/chat/room/").await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some("/accounts/login/?next=%2Fchat%2Froom%2F")
    );

    // Sign up, log out, then log in from the page the redirect leads to, and land in the room.
    let mut ada = Browser::new(app.addr);
    ada.sign_up("Ada").await;
    assert_eq!(ada.log_out().await.status, 303);
    let form = ada.get("/accounts/login/?next=%2Fchat%2Froom%2F").await;
    assert_eq!(form.status, 200);
    assert!(
        text_of(&form.body).contains("value=\"/chat/room/\""),
        "{}",
        form.body
    );
    let page = ada
        .post(
            "/accounts/login/",
            &[
                ("username", "Ada"),
                ("password", PASSWORD),
                ("next", "/chat/room/"),
            ],
        )
        .await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/chat/room/"))
    );
    assert_eq!(ada.get("/chat/room/").await.status, 200);
    let mut socket = ada.join("/ws/chat/room/").await.expect("a member joins");
    socket.say("members only").await;
    let frame = socket.next_message().await;
    assert_eq!(frame["user"], "Ada");
    assert!(frame.get("guest").is_none());
    app.stop().await;
}

#[tokio::test]
async fn cookies_are_http_only_lax_and_secure_behind_an_https_proxy_or_with_secure_cookies() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Ada").await;
    let client = reqwest::Client::new();
    let lobby = |https: bool| {
        let mut request = client.get(app.url("/"));
        if https {
            request = request.header("x-forwarded-proto", "https");
        }
        request.send()
    };
    let plain = lobby(false).await.expect("GET /");
    let csrf_plain = set_cookie_line(&plain, "csrftoken").expect("csrftoken set");
    assert!(!csrf_plain.contains("Secure"), "{csrf_plain}");
    let https = lobby(true).await.expect("GET /");
    let csrf_https = set_cookie_line(&https, "csrftoken").expect("csrftoken set");
    assert!(csrf_https.contains("; Secure"), "{csrf_https}");

    let addr = app.addr;
    let login = |proto: Option<&'static str>| {
        let token = forged_secret();
        async move {
            let cookie = format!("csrftoken={token}");
            let fields = [
                ("csrfmiddlewaretoken", token.as_str()),
                ("username", "Ada"),
                ("password", PASSWORD),
            ];
            let headers: Vec<(&str, &str)> = proto
                .map(|p| ("x-forwarded-proto", p))
                .into_iter()
                .collect();
            let response = send_form(addr, "/accounts/login/", &cookie, &fields, &headers).await;
            assert_eq!(response.status(), 303);
            set_cookie_line(&response, "sessionid").expect("session cookie set")
        }
    };
    let session_https = login(Some("https")).await;
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(session_https.contains(flag), "{flag}: {session_https}");
    }
    let session_plain = login(None).await;
    for flag in ["HttpOnly", "SameSite=Lax"] {
        assert!(session_plain.contains(flag), "{flag}: {session_plain}");
    }
    assert!(!session_plain.contains("Secure"), "{session_plain}");
    app.stop().await;

    // --secure-cookies marks them Secure without the proxy's word.
    let app = spawn_app_with(Config {
        secure_cookies: true,
        ..test_config(dir.sqlite_url())
    })
    .await;
    let plain = reqwest::get(app.url("/")).await.expect("GET /");
    let csrf = set_cookie_line(&plain, "csrftoken").expect("csrftoken set");
    assert!(csrf.contains("; Secure"), "{csrf}");
    let token = forged_secret();
    let response = send_form(
        app.addr,
        "/accounts/login/",
        &format!("csrftoken={token}"),
        &[
            ("csrfmiddlewaretoken", &token),
            ("username", "Ada"),
            ("password", PASSWORD),
        ],
        &[],
    )
    .await;
    assert_eq!(response.status(), 303);
    let session = set_cookie_line(&response, "sessionid").expect("session cookie set");
    assert!(
        session.contains("; Secure") && session.contains("HttpOnly"),
        "{session}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_one_node_signs_in_on_the_other_and_logging_out_closes_its_socket_there() {
    let test = "sessions_across_nodes";
    let Some(redis) = test_service("CHATWEB_TEST_REDIS_URL", test) else {
        return;
    };
    let Some(db) = TestDatabase::create(test).await else {
        return;
    };
    let prefix = unique_prefix(test);
    let a = spawn_app_with(node_config(&db.url, &redis, &prefix)).await;
    let b = spawn_app_with(node_config(&db.url, &redis, &prefix)).await;

    let mut on_a = Browser::new(a.addr);
    on_a.sign_up("Ada").await;
    let mut on_b = on_a.on(b.addr);
    assert!(
        on_b.get("/").await.body.contains("Signed in as"),
        "node B knows the session"
    );
    let mut socket = on_b.join("/ws/chat/hall/").await.expect("joined on B");
    let mut watcher = a.join("hall").await;
    socket
        .send_json(serde_json::json!({"message": "from b", "user": "mallory"}))
        .await;
    let frame = socket.next_message().await;
    assert_eq!(frame["user"], "Ada");
    assert!(frame.get("guest").is_none());
    let seen = watcher.next_message().await;
    assert_eq!(
        (seen["user"].as_str(), seen["message"].as_str()),
        (Some("Ada"), Some("from b"))
    );

    // A login through B is seen by A as well.
    let mut bea = Browser::new(b.addr);
    bea.sign_up("Bea").await;
    assert!(bea.on(a.addr).get("/").await.body.contains("Signed in as"));

    assert_eq!(on_a.log_out().await.status, 303);
    assert_eq!(
        socket.closed().await,
        Some(4401),
        "node B closes the logged-out session's socket"
    );
    on_b.set_cookie("sessionid", None);
    assert!(!on_b.get("/").await.body.contains("Signed in as"));
    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn a_socket_with_a_session_cookie_but_a_foreign_origin_is_refused() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut ada = Browser::new(app.addr);
    ada.sign_up("Ada").await;
    let headers = [
        ("origin", "http://evil.example".to_owned()),
        ("cookie", ada.cookie_header()),
    ];
    let refused = socket(app.addr, "/ws/chat/lobby/", &headers, false).await;
    assert_eq!(
        refused.err(),
        Some(403),
        "a signed-in browser's cookie does not open a socket cross-site"
    );
    app.stop().await;
}
