//! What keeps another site from acting as a signed-in browser: sign-up, login and logout refuse a post
//! without the matching CSRF token (in the form or the `X-CSRFToken` header) with 403, Basic credentials
//! do not skip the check, the cookies are HttpOnly, SameSite=Lax and Secure behind HTTPS, and a socket
//! with a session cookie but a foreign origin is refused.

use std::net::SocketAddr;

use chatweb::config::Config;

use crate::helpers::{TempDir, spawn_app, spawn_app_with, test_config};
use crate::people::{Browser, PASSWORD, socket};

use super::{
    INVALID_LOGIN, forged_secret, member, send_form, set_cookie_line, signed_in, with_csrf_cookie,
};

/// POSTs `fields` to `path` with `browser`'s cookies and `token` in the `X-CSRFToken` header rather than
/// in the form; returns the status and whether the response set a session cookie.
async fn post_with_header_token(
    addr: SocketAddr,
    browser: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    token: &str,
) -> (u16, bool) {
    let cookie = browser.cookie_header();
    let response = send_form(addr, path, &cookie, fields, &[("x-csrftoken", token)]).await;
    let session = set_cookie_line(&response, "sessionid");
    (response.status().as_u16(), session.is_some())
}

/// Logs `Ada` in with a forged CSRF cookie and the matching field, and these extra headers; returns the
/// `Set-Cookie` line of the session cookie the login sets.
async fn session_cookie(addr: SocketAddr, headers: &[(&str, &str)]) -> String {
    let token = forged_secret();
    let fields = [
        ("csrfmiddlewaretoken", token.as_str()),
        ("username", "Ada"),
        ("password", PASSWORD),
    ];
    let cookie = format!("csrftoken={token}");
    let response = send_form(addr, "/accounts/login/", &cookie, &fields, headers).await;
    assert_eq!(response.status(), 303);
    set_cookie_line(&response, "sessionid").expect("session cookie set")
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
    let mut browser = with_csrf_cookie(app.addr).await;
    let other = with_csrf_cookie(app.addr).await;
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
    let forged = forged_secret();
    assert_eq!(
        post_with_header_token(app.addr, &browser, "/accounts/signup/", &fields, &forged).await,
        (403, false)
    );

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

    let mut browser = with_csrf_cookie(app.addr).await;
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
    assert_eq!(
        post_with_header_token(app.addr, &browser, "/accounts/login/", &fields, &forged).await,
        (403, false)
    );
    assert!(browser.cookie("sessionid").is_none());
    assert!(!signed_in(&mut browser).await);

    // The matching token in the header is as good as the field.
    assert_eq!(
        post_with_header_token(app.addr, &browser, "/accounts/login/", &fields, &token).await,
        (303, true)
    );
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
    let mut ada = member(&app, "Ada").await;
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
    assert!(signed_in(&mut ada).await);
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

    let session_https = session_cookie(app.addr, &[("x-forwarded-proto", "https")]).await;
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(session_https.contains(flag), "{flag}: {session_https}");
    }
    let session_plain = session_cookie(app.addr, &[]).await;
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
    let session = session_cookie(app.addr, &[]).await;
    assert!(
        session.contains("; Secure") && session.contains("HttpOnly"),
        "{session}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_socket_with_a_session_cookie_but_a_foreign_origin_is_refused() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let ada = member(&app, "Ada").await;
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
