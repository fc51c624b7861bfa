//! Reading and setting the cookies accounts use: the session (`sessionid`, HttpOnly), the CSRF token
//! (`csrftoken`, readable by pages, like Django's), a guest's nickname (`chatweb_nickname`) and a guest's
//! id (`chatweb_guest`, HttpOnly: see `guest_id.rs`).

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};

/// The session cookie (Django's name).
pub const SESSION_COOKIE: &str = "sessionid";
/// The CSRF cookie (Django's name).
pub const CSRF_COOKIE: &str = "csrftoken";
/// The cookie the lobby keeps a guest's nickname in.
pub const NICKNAME_COOKIE: &str = "chatweb_nickname";
/// The cookie that tells one guest's browser from another's (their `client_id`s are theirs alone).
pub const GUEST_COOKIE: &str = "chatweb_guest";

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// How a cookie is set.
#[derive(Clone, Copy)]
pub struct CookieOptions {
    /// Seconds it lives; 0 deletes it.
    pub max_age: u64,
    /// Hidden from page scripts.
    pub http_only: bool,
    /// Only sent over https.
    pub secure: bool,
}

/// A `Set-Cookie` value for `name=value` on the whole site, SameSite=Lax. `value` must be cookie-safe
/// (ours are hex or percent-encoded).
pub fn set_cookie(name: &str, value: &str, options: CookieOptions) -> HeaderValue {
    let mut text = format!(
        "{name}={value}; Path=/; Max-Age={}; SameSite=Lax",
        options.max_age
    );
    if options.http_only {
        text.push_str("; HttpOnly");
    }
    if options.secure {
        text.push_str("; Secure");
    }
    // Names are ours and values are hex or percent-encoded: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether the request came over https (directly or, per the proxy, `X-Forwarded-Proto: https`).
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name_and_set_with_their_attributes() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=1; sessionid=abc ; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
        let set = set_cookie(
            SESSION_COOKIE,
            "abc",
            CookieOptions {
                max_age: 60,
                http_only: true,
                secure: true,
            },
        );
        assert_eq!(
            set.to_str().expect("ascii"),
            "sessionid=abc; Path=/; Max-Age=60; SameSite=Lax; HttpOnly; Secure"
        );
    }
}
