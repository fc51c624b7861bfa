//! The guest id: 128 random bits (32 hex digits) in the `chatweb_guest` cookie (HttpOnly, SameSite=Lax, a
//! year), which tells one guest's browser from another's, so that a guest's `client_id`s are theirs alone
//! (`domain::ClientIdOwner`; a nickname cannot do it: two guests may share one, and most are `anonymous`).
//! Like the CSRF token it is made only when asked for: a guest's page and a guest's socket handshake ask,
//! and when the request brought no well-formed one, the response sets the new one. A client that keeps no
//! cookies (a plain Channels client, a script) gets a new one at every handshake, so its `client_id`s are
//! idempotent within one connection; a browser sends it back on its next page and socket, so a page's
//! resend after a reconnect is recognised.

use std::sync::{Arc, OnceLock};

use axum::extract::Request;
use axum::http::header::SET_COOKIE;
use axum::middleware::Next;
use axum::response::Response;

use super::cookies::{CookieOptions, GUEST_COOKIE, cookie, over_https, set_cookie};

/// A year: a guest's retries may come days later (a laptop closed mid-send).
const GUEST_COOKIE_SECS: u64 = 365 * 24 * 3600;
/// Random bytes in a guest id.
const GUEST_ID_BYTES: usize = 16;

/// This request's guest id: the cookie's, or a new one made the first time it is asked for (requests
/// that never ask, like the API's and a signed-in user's, never pay for one). A guest's `Identity` holds
/// it (one for the request alone on a router without [`keep`]).
#[derive(Clone, Debug, Default)]
pub struct GuestId(Arc<OnceLock<String>>);

impl GuestId {
    /// The id (made now if the request brought none).
    pub fn value(&self) -> &str {
        self.0.get_or_init(new_guest_id)
    }
}

/// A new guest id: [`GUEST_ID_BYTES`] from the OS, hex-encoded.
fn new_guest_id() -> String {
    let mut bytes = [0_u8; GUEST_ID_BYTES];
    // As for secrets (`secret.rs`): if the OS random source ever failed, nothing could be issued safely.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the OS random source works");
    hex::encode(bytes)
}

/// Whether `value` looks like a guest id we made (junk, or anything longer, is replaced).
fn well_formed(value: &str) -> bool {
    value.len() == 2 * GUEST_ID_BYTES && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The middleware: hands the request its [`GuestId`] and sets the cookie when one was made for it.
pub async fn keep(secure_cookies: bool, mut request: Request, next: Next) -> Response {
    let held = cookie(request.headers(), GUEST_COOKIE)
        .filter(|v| well_formed(v))
        .map(str::to_ascii_lowercase);
    let https = secure_cookies || over_https(request.headers());
    let id = GuestId::default();
    let fresh = match held {
        Some(held) => {
            let _ = id.0.set(held);
            false
        }
        None => true,
    };
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    if let Some(value) = id.0.get().filter(|_| fresh) {
        let options = CookieOptions {
            max_age: GUEST_COOKIE_SECS,
            http_only: true,
            secure: https,
        };
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie(GUEST_COOKIE, value, options));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_ids_are_128_random_bits_and_junk_is_not_one() {
        let (a, b) = (new_guest_id(), new_guest_id());
        assert!(well_formed(&a) && well_formed(&b));
        assert_ne!(a, b);
        assert!(!well_formed("junk"));
        assert!(!well_formed(&format!("{a}0")));
        let lazy = GuestId::default();
        assert_eq!(lazy.value(), lazy.clone().value(), "made once per request");
    }
}
