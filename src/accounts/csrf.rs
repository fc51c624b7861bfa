//! CSRF protection on every state-changing request, after Django's: a random token in the `csrftoken`
//! cookie, and the same token in the form's hidden `csrfmiddlewaretoken` field or the `X-CSRFToken` header.
//! A POST (PUT, PATCH, DELETE) without a matching pair is refused with 403 before any handler runs, so it
//! changes nothing. Requests signed in only by a bearer token (no cookies) cannot be forged by a browser
//! and pass. Pages read the token from the [`CsrfToken`] request extension; the cookie is set on the first
//! page that renders a form.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use super::cookies::{CSRF_COOKIE, CookieOptions, cookie, over_https, set_cookie};
use super::secret;

/// The form field (Django's name).
pub const CSRF_FIELD: &str = "csrfmiddlewaretoken";
/// The header (Django's name).
pub const CSRF_HEADER: &str = "x-csrftoken";
/// Largest form body read to find the field.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// A year, like Django's CSRF_COOKIE_AGE.
const CSRF_COOKIE_SECS: u64 = 365 * 24 * 3600;

/// This request's CSRF token, for the forms a page renders: the cookie's, or a new one made the first time
/// a page asks (requests that render no form, like socket handshakes, never pay for one).
#[derive(Clone, Debug, Default)]
pub struct CsrfToken(Arc<OnceLock<String>>);

impl CsrfToken {
    /// The token.
    pub fn value(&self) -> &str {
        self.0.get_or_init(secret::new_secret)
    }
}

#[derive(Deserialize)]
struct Field {
    csrfmiddlewaretoken: Option<String>,
}

/// The middleware: checks unsafe requests, hands pages their token, sets the cookie when it was missing.
pub async fn protect(secure_cookies: bool, request: Request, next: Next) -> Response {
    let held = cookie(request.headers(), CSRF_COOKIE)
        .filter(|t| secret::well_formed(t))
        .map(str::to_owned);
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    // Only a Bearer token: a browser never sends one by itself (it does send cached Basic credentials).
    let bearer_only = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "))
        && !request.headers().contains_key(COOKIE);
    let mut request = request;
    if unsafe_method && !bearer_only {
        let (checked, ok) = check(request, held.as_deref()).await;
        if !ok {
            return (
                StatusCode::FORBIDDEN,
                "CSRF verification failed: the form's csrfmiddlewaretoken (or X-CSRFToken) must match \
                 the csrftoken cookie. Reload the page and try again.",
            )
                .into_response();
        }
        request = checked;
    }
    let https = secure_cookies || over_https(request.headers());
    let token = CsrfToken::default();
    let fresh = match held {
        Some(held) => {
            let _ = token.0.set(held);
            false
        }
        None => true,
    };
    request.extensions_mut().insert(token.clone());
    let mut response = next.run(request).await;
    // A page that rendered a form made a token: hand it to the browser.
    if let Some(value) = token.0.get().filter(|_| fresh) {
        let options = CookieOptions {
            max_age: CSRF_COOKIE_SECS,
            http_only: false,
            secure: https,
        };
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie(CSRF_COOKIE, value, options));
    }
    response
}

/// Whether a state-changing API request may pass on its headers alone: signed in by a bearer token (the
/// API's identity is then the token's, whatever cookies come along, and no cross-site page can set an
/// `Authorization` header), or carrying the `csrftoken` cookie's value in the `X-CSRFToken` header.
pub fn header_check(headers: &axum::http::HeaderMap) -> bool {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if bearer {
        return true;
    }
    let held = cookie(headers, CSRF_COOKIE).filter(|t| secret::well_formed(t));
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    matches!((held, sent), (Some(held), Some(sent)) if secret::same(sent, held))
}

/// Whether the request carries the cookie's token in its header or form field; gives the request back
/// with its body intact.
async fn check(request: Request, held: Option<&str>) -> (Request, bool) {
    let Some(held) = held else {
        return (request, false);
    };
    if let Some(sent) = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        let ok = secret::same(sent, held);
        return (request, ok);
    }
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (request, false);
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return (Request::from_parts(parts, Body::empty()), false);
    };
    let probe = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
    let ok = match axum::Form::<Field>::from_request(probe, &()).await {
        Ok(axum::Form(Field {
            csrfmiddlewaretoken: Some(sent),
        })) => secret::same(&sent, held),
        _ => false,
    };
    (Request::from_parts(parts, Body::from(bytes)), ok)
}
