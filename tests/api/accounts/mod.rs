//! Accounts end to end: sign-up, login and logout at Django's URLs, and the socket speaking as the account.
//! Also what protects them: the sign-up rules, login throttling, safe `next` redirects, session rotation,
//! CSRF, cookie flags, guests kept off registered names, members-only rooms, and sessions shared by two
//! nodes on one PostgreSQL database. This file holds what those tests (and the admin's) share.

use std::net::SocketAddr;

use crate::helpers::TestApp;
use crate::people::{Browser, Page};

mod cluster;
mod csrf;
mod guests;
mod login;
mod signup;

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

/// A browser signed up (and signed in) as `name`.
pub async fn member(app: &TestApp, name: &str) -> Browser {
    let mut browser = Browser::new(app.addr);
    browser.sign_up(name).await;
    browser
}

/// Whether the lobby greets `browser` as a signed-in user.
pub async fn signed_in(browser: &mut Browser) -> bool {
    browser.get("/").await.body.contains("Signed in as")
}

/// Asserts `page` is the login form shown again with the invalid-credentials message; `context` says
/// which attempt it was.
pub fn assert_login_refused(page: &Page, context: &str) {
    assert_eq!(page.status, 200, "{context}: the login form again");
    assert!(
        page.body.contains(INVALID_LOGIN),
        "{context}: {}",
        page.body
    );
}

/// A new browser whose only cookie is the session id `session`.
fn holding_session(addr: SocketAddr, session: &str) -> Browser {
    let mut browser = Browser::new(addr);
    browser.set_cookie("sessionid", Some(session));
    browser
}

/// A new browser that has opened the lobby, so holds a CSRF cookie, and has sent no form yet.
async fn with_csrf_cookie(addr: SocketAddr) -> Browser {
    let mut browser = Browser::new(addr);
    browser.get("/").await;
    browser
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
