//! The HTTP side: one router merging each module's routes (the Django `urls.py`), plus the request helpers
//! they share.

mod assets;
mod health;
mod views;

use axum::Router;
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::domain::Username;

pub use views::templates;

/// The cookie the lobby keeps the nickname in.
pub const NICKNAME_COOKIE: &str = "chatweb_nickname";

/// Every route of a node.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(views::router())
        .merge(assets::router())
        .merge(health::router())
        .merge(crate::ws::router())
        .layer(TraceLayer::new_for_http().make_span_with(trace_span))
        .with_state(state)
}

/// Request spans carry the route pattern, not the raw URI (which holds user text).
fn trace_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", axum::extract::MatchedPath::as_str);
    tracing::info_span!("http", method = %request.method(), route)
}

/// The nickname from the request's cookie, or `anonymous`.
pub fn nickname(headers: &HeaderMap) -> Username {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NICKNAME_COOKIE)
        .and_then(|(_, value)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()
        })
        .and_then(|name| Username::parse(&name))
        .unwrap_or_else(Username::anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(cookie).expect("header"));
        headers
    }

    #[test]
    fn the_nickname_comes_from_its_cookie_percent_decoded() {
        assert_eq!(
            nickname(&headers("a=1; chatweb_nickname=Ad%C3%A1%20L")).as_str(),
            "Adá L"
        );
        assert_eq!(
            nickname(&headers("chatweb_nickname=%20%20")).as_str(),
            "anonymous"
        );
        assert_eq!(nickname(&HeaderMap::new()).as_str(), "anonymous");
    }
}
