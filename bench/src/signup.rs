//! The accounts of live clients (`fanout --live`): read marks are kept only for signed-in users, so each live
//! connection gets its own account, signed up over HTTP exactly as a browser does it: GET the sign-up form
//! for its `csrftoken` cookie and hidden `csrfmiddlewaretoken` field, then POST `username`, `password1`
//! and `password2` with both; the 303 answer sets the `sessionid` cookie the connection then carries.
//! After a run, `GET /api/rooms/` with that cookie says whether the user's read mark in a room was stored.
//! HTTP/1.1 by hand (one request per connection, `Connection: close`) to the loopback server only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chatweb::accounts::cookies::{CSRF_COOKIE, SESSION_COOKIE};
use chatweb::accounts::csrf::CSRF_FIELD;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Sign-ups in flight at once: each costs the server an Argon2 hash (19 MiB), and it has two cores.
const SIGNUPS_AT_ONCE: usize = 4;
/// Largest answer read.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;
/// How long a read mark may take to reach the store after the run (the writer coalesces them).
const MARK_WAIT: Duration = Duration::from_secs(3);

/// An HTTP answer as the bench reads it.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The value a `Set-Cookie` header of this answer gives cookie `name`.
    fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, value)| value.split(';').next()?.split_once('='))
            .find(|(key, _)| key.trim() == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }
}

/// Sends one request to `addr` and reads the whole answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<Response> {
    crate::server::ensure_loopback(addr.ip())?;
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head.push_str(body);
    stream.write_all(head.as_bytes()).await?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut raw)
        .await
        .with_context(|| format!("reading the answer to {method} {path}"))?;
    parse_response(&raw).with_context(|| format!("the answer to {method} {path}"))
}

/// Parses an HTTP/1.1 answer (status line, headers, a plain or chunked body).
fn parse_response(raw: &[u8]) -> anyhow::Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .context("no status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The body of a `Transfer-Encoding: chunked` answer.
fn dechunk(mut rest: &str) -> anyhow::Result<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest
            .split_once("\r\n")
            .context("a chunk without its size")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .context("a chunk size that is not hexadecimal")?;
        if size == 0 {
            return Ok(body);
        }
        let chunk = after.get(..size).context("a chunk cut short")?;
        body.push_str(chunk);
        rest = after.get(size..).unwrap_or("").trim_start_matches("\r\n");
    }
}

/// The value of the form's hidden CSRF field in `html`, if there is one.
fn csrf_field(html: &str) -> Option<&str> {
    let at = html.find(&format!("name=\"{CSRF_FIELD}\""))?;
    let rest = &html[at..];
    let value = rest.find("value=\"")? + "value=\"".len();
    let end = rest[value..].find('"')?;
    Some(&rest[value..value + end])
}

/// The name and password of the live client `index` of run `tag`: only letters, digits and `-`, so they
/// need no form encoding.
fn credentials(tag: &str, index: usize) -> (String, String) {
    (format!("live{tag}-{index}"), format!("bench-pass-{tag}"))
}

/// Signs up `count` new users on the server at `addr`, at most [`SIGNUPS_AT_ONCE`] at a time, giving up
/// at `deadline`; returns their session cookies in order.
pub async fn sign_up(
    addr: SocketAddr,
    count: usize,
    tag: &str,
    deadline: Instant,
) -> anyhow::Result<Vec<Arc<str>>> {
    let work = async {
        let form = request(addr, "GET", "/accounts/signup/", &[], "").await?;
        if form.status != 200 {
            bail!("GET /accounts/signup/ answered {}", form.status);
        }
        let cookie = form
            .set_cookie(CSRF_COOKIE)
            .context("the sign-up form set no csrftoken cookie")?
            .to_owned();
        let field = csrf_field(&form.body).unwrap_or(&cookie).to_owned();
        let (cookie, field) = (&cookie, &field);
        futures_util::stream::iter(0..count)
            .map(|index| async move {
                let (username, password) = credentials(tag, index);
                let body = format!(
                    "{CSRF_FIELD}={field}&username={username}&password1={password}&password2={password}"
                );
                let cookie = format!("{CSRF_COOKIE}={cookie}");
                let headers = [
                    ("Cookie", cookie.as_str()),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ];
                let answer = request(addr, "POST", "/accounts/signup/", &headers, &body).await?;
                match answer.set_cookie(SESSION_COOKIE) {
                    Some(session) if answer.status == 303 => Ok(Arc::from(session)),
                    _ => bail!(
                        "signing up {username}: expected 303 with a session cookie, got {}",
                        answer.status
                    ),
                }
            })
            .buffered(SIGNUPS_AT_ONCE)
            .collect::<Vec<anyhow::Result<Arc<str>>>>()
            .await
            .into_iter()
            .collect()
    };
    tokio::time::timeout_at(deadline, work)
        .await
        .context("timed out while signing up the live clients")?
}

/// Whether the user of `session` has a read mark in `room`: the rooms API gives an unread count (not
/// null) exactly then. Asks again until it does or [`MARK_WAIT`] has passed.
pub async fn has_read_mark(addr: SocketAddr, session: &str, room: &str) -> anyhow::Result<bool> {
    let give_up = Instant::now() + MARK_WAIT;
    let cookie = format!("{SESSION_COOKIE}={session}");
    loop {
        let answer = request(addr, "GET", "/api/rooms/", &[("Cookie", &cookie)], "").await?;
        if answer.status != 200 {
            bail!(
                "GET /api/rooms/ answered {}: {}",
                answer.status,
                answer.body
            );
        }
        let rooms: serde_json::Value =
            serde_json::from_str(&answer.body).context("GET /api/rooms/: not JSON")?;
        let marked = rooms["rooms"].as_array().is_some_and(|rooms| {
            rooms
                .iter()
                .any(|r| r["name"] == room && r["unread"].is_u64())
        });
        if marked || Instant::now() >= give_up {
            return Ok(marked);
        }
        // Nothing to await: the writer stores marks in its own time.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_give_status_cookies_and_body() {
        let raw = b"HTTP/1.1 303 See Other\r\nset-cookie: sessionid=abc; HttpOnly; Path=/\r\n\
                    Set-Cookie: csrftoken=; Max-Age=0\r\ncontent-length: 2\r\n\r\nok";
        let answer = parse_response(raw).expect("an answer");
        assert_eq!(answer.status, 303);
        assert_eq!(answer.set_cookie(SESSION_COOKIE), Some("abc"));
        assert_eq!(answer.set_cookie(CSRF_COOKIE), None);
        assert_eq!(answer.body, "ok");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).expect("chunked").body, r#"{"a":1}"#);
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn the_csrf_field_is_read_from_the_form() {
        let html = r#"<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="f00d"><input name="username"></form>"#;
        assert_eq!(csrf_field(html), Some("f00d"));
        assert_eq!(csrf_field("<form></form>"), None);
        let (name, password) = credentials("12-34", 7);
        assert_eq!(name, "live12-34-7");
        assert!(password.len() >= 8 && password != name);
    }
}
