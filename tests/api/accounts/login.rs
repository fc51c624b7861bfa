//! Logging in: a wrong password or an unknown name gets the form again; failed logins lock the username
//! (429, for everyone) and the client address (for every username) until the lockout ends, and a success
//! clears the username's count; parallel guesses beyond the limit are refused unchecked; an
//! `X-Forwarded-For` is believed only from a trusted proxy; `next` is followed only when it is local; and
//! a login rotates the session, so the id held before (or planted before) signs nobody in.

use std::net::SocketAddr;
use std::time::Duration;

use chatweb::config::Config;
use chatweb::limits::LimitSettings;

use crate::helpers::{PATIENCE, TempDir, TestApp, spawn_app, spawn_app_with, test_config};
use crate::people::{Browser, PASSWORD, Page};

use super::{
    assert_login_refused, forged_secret, holding_session, member, send_form, signed_in, text_of,
    with_csrf_cookie,
};

/// A login attempt as a browser whose `X-Forwarded-For` names client address `from` (believed only by a
/// node that trusts the loopback proxy: [`behind_local_proxy`]); the body of the page is given with its
/// escapes decoded.
async fn log_in_from(addr: SocketAddr, from: &str, name: &str, password: &str) -> Page {
    let browser = with_csrf_cookie(addr).await;
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
    Page {
        status,
        location: None,
        body: text_of(&response.text().await.expect("body")),
    }
}

/// The test node's settings on `dir`, with nginx on this machine in front: 127.0.0.1's `X-Forwarded-For`
/// names the client, so [`log_in_from`] can speak from several addresses.
fn behind_local_proxy(dir: &TempDir) -> Config {
    let config = test_config(dir.sqlite_url());
    Config {
        limits: LimitSettings {
            trusted_proxies: vec!["127.0.0.1".into()],
            ..config.limits.clone()
        },
        ..config
    }
}

/// A node behind a local proxy that locks a username for `lockout_secs` after five failed logins, with
/// `Ada` signed up.
async fn throttled(dir: &TempDir, lockout_secs: u64) -> TestApp {
    let app = spawn_app_with(Config {
        login_failures: 5,
        login_lockout_secs: lockout_secs,
        ..behind_local_proxy(dir)
    })
    .await;
    Browser::new(app.addr).sign_up("Ada").await;
    app
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_name_gets_the_login_form_again_with_a_clear_message() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Ada").await;
    for (name, password) in [("Ada", "not the password"), ("nobody", PASSWORD), ("", "")] {
        let mut browser = Browser::new(app.addr);
        let page = browser.log_in(name, password).await;
        assert_login_refused(&page, &format!("{name:?}"));
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
    let app = throttled(&dir, 1).await;
    let mut mallory = Browser::new(app.addr);
    for attempt in 1..=5 {
        let page = mallory.log_in("ada", &format!("guess {attempt}")).await;
        assert_login_refused(&page, &format!("attempt {attempt}"));
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
    let page = log_in_from(app.addr, "198.51.100.7", "ADA", PASSWORD).await;
    assert_eq!(
        page.status, 429,
        "the lock is on the username: {}",
        page.body
    );

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
    assert!(signed_in(&mut owner).await);
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_from_one_address_lock_that_address_for_every_username_and_no_other_address()
{
    let dir = TempDir::new();
    let app = spawn_app_with(behind_local_proxy(&dir)).await;
    Browser::new(app.addr).sign_up("Ada").await;
    for i in 0..5 {
        let page = log_in_from(app.addr, "203.0.113.5", &format!("user{i}"), PASSWORD).await;
        assert_login_refused(&page, &format!("attempt {i}"));
    }
    let page = log_in_from(app.addr, "203.0.113.5", "Ada", PASSWORD).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(
        page.body.contains("Too many failed login attempts"),
        "{}",
        page.body
    );
    let page = log_in_from(app.addr, "203.0.113.6", "Ada", PASSWORD).await;
    assert_eq!(
        page.status, 303,
        "another address is not locked: {}",
        page.body
    );
    app.stop().await;
}

#[tokio::test]
async fn a_forged_x_forwarded_for_is_ignored_by_default_so_failed_logins_lock_the_peers_own_address()
 {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    Browser::new(app.addr).sign_up("Ada").await;
    // Each guess claims an address of its own; with no proxy trusted, all of them are 127.0.0.1.
    for i in 0..5 {
        let from = format!("203.0.113.{i}");
        let page = log_in_from(app.addr, &from, &format!("user{i}"), PASSWORD).await;
        assert_login_refused(&page, &format!("attempt {i}"));
    }
    let page = log_in_from(app.addr, "198.51.100.99", "Ada", PASSWORD).await;
    assert_eq!(
        page.status, 429,
        "the peer's own address is locked: {}",
        page.body
    );
    app.stop().await;
}

#[tokio::test]
async fn a_successful_login_clears_the_usernames_count_of_failures() {
    let dir = TempDir::new();
    let app = throttled(&dir, 60).await;
    // Each round from its own address, so only the username's count could add up across rounds.
    for (round, from) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
        .into_iter()
        .enumerate()
    {
        for attempt in 1..=4 {
            let page = log_in_from(app.addr, from, "Ada", "a wrong guess").await;
            assert_login_refused(&page, &format!("round {round} attempt {attempt}"));
        }
        let page = log_in_from(app.addr, from, "Ada", PASSWORD).await;
        assert_eq!(
            page.status, 303,
            "round {round}: four failures do not lock: {}",
            page.body
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn three_hundred_parallel_wrong_logins_for_one_username_verify_at_most_five_and_the_rest_get_429()
 {
    let dir = TempDir::new();
    let app = throttled(&dir, 60).await;
    let browser = with_csrf_cookie(app.addr).await;
    let csrf = browser.cookie("csrftoken").expect("csrftoken").to_owned();
    let cookie = browser.cookie_header();
    // Each guess from an address of its own, so only the username's count can hold them back.
    let guesses = (0..300u32).map(|i| {
        let (csrf, cookie) = (csrf.clone(), cookie.clone());
        let from = format!("198.51.{}.{}", 100 + i / 200, 1 + i % 200);
        let guess = format!("guess {i}");
        async move {
            let fields = [
                ("csrfmiddlewaretoken", csrf.as_str()),
                ("username", "Ada"),
                ("password", guess.as_str()),
            ];
            let response = send_form(
                app.addr,
                "/accounts/login/",
                &cookie,
                &fields,
                &[("x-forwarded-for", from.as_str())],
            )
            .await;
            response.status().as_u16()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    // A wrong guess that was checked gets the form again (200); one refused unchecked gets 429.
    let verified = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(verified + refused, 300, "{statuses:?}");
    assert!(
        verified <= 5,
        "{verified} wrong guesses were verified (and {refused} refused); the limit is 5"
    );
    // The username is locked now, for its owner too.
    let page = log_in_from(app.addr, "192.0.2.77", "Ada", PASSWORD).await;
    assert_eq!(page.status, 429, "{}", page.body);
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
    let mut ada = member(&app, "Ada").await;
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
    assert!(signed_in(&mut ada).await);

    let mut replay = holding_session(app.addr, &before);
    assert!(!signed_in(&mut replay).await, "the old id signs nobody in");

    // Session fixation: an id planted in the browser before login is not the one it ends up with.
    let planted = forged_secret();
    let mut victim = holding_session(app.addr, &planted);
    assert_eq!(victim.log_in("Ada", PASSWORD).await.status, 303);
    assert_ne!(victim.cookie("sessionid"), Some(planted.as_str()));
    let mut attacker = holding_session(app.addr, &planted);
    assert!(!signed_in(&mut attacker).await);
    app.stop().await;
}
