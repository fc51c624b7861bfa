//! What every page shares: rendering a template with the base layout's context (who you are, the CSRF
//! token for its forms), a guest's guest id cookie, the client's address, and safe `next` redirects.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::response::Html;
use minijinja::{Value, context};

use crate::accounts::csrf::CsrfToken;
use crate::accounts::{Identity, csrf::CSRF_FIELD};
use crate::error::AppError;
use crate::state::AppState;

/// What a page needs to render its layout: the identity and the CSRF token of the request.
pub struct Page {
    /// Who is asking.
    pub identity: Identity,
    /// The token the page's forms carry.
    pub csrf: String,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let identity = Identity::from_request_parts(parts, state).await?;
        if let Identity::Guest(guest) = &identity {
            // A guest's page hands the browser its guest id (set on the response when new), so the
            // page's socket sends come with it (src/accounts/guest_id.rs).
            guest.id.value();
        }
        let csrf = parts
            .extensions
            .get::<CsrfToken>()
            .map(|t| t.value().to_owned())
            .unwrap_or_default();
        Ok(Self { identity, csrf })
    }
}

impl Page {
    /// The layout's part of a template context.
    pub fn layout(&self) -> Value {
        let (user, guest) = match &self.identity {
            Identity::User(user) => (
                Some(context! { name => user.name.as_str(), is_staff => user.is_staff }),
                None,
            ),
            Identity::Guest(guest) => (None, Some(guest.name.as_str())),
        };
        context! { user => user, guest => guest, csrf_token => &self.csrf, csrf_field => CSRF_FIELD }
    }

    /// Renders `name` with `ctx` plus the layout's context.
    pub fn render(
        &self,
        state: &AppState,
        name: &str,
        ctx: Value,
    ) -> Result<Html<String>, AppError> {
        render(state, name, context! { ..ctx, ..self.layout() })
    }
}

/// Renders template `name` with `ctx`.
pub fn render(state: &AppState, name: &str, ctx: Value) -> Result<Html<String>, AppError> {
    let template = state
        .templates
        .get_template(name)
        .map_err(|e| anyhow::anyhow!(e).context("loading template"))?;
    let html = template
        .render(ctx)
        .map_err(|e| anyhow::anyhow!(e).context("rendering template"))?;
    Ok(Html(html))
}

/// The client's address: the peer, or when the peer is a proxy named in `--trusted-proxies` (default:
/// loopback), the client it put in `X-Forwarded-For` (see `limits::TrustedProxies`). `None` only without
/// connection info (a router served without it). The one extractor of the client's address: login
/// throttling and every limit per address use it.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(state.limits.client_address(peer, &parts.headers)))
    }
}

/// [`ClientIp`] as text, for login throttling (`unknown` without connection info).
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        Ok(Self(
            ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
        ))
    }
}

/// `next` if it is a path on this site, else `/`: a login link cannot send people elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && !next.starts_with("/\\")
                && !next.chars().any(char::is_control) =>
        {
            next.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `s` percent-encoded for a URL path segment or query value.
pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/chat/a/")), "/chat/a/");
        for evil in [
            "//evil.com",
            "https://evil.com",
            "/\\evil.com",
            "evil",
            "/\r\nx",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
