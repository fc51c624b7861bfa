//! What every page shares: rendering a template with the base layout's context (who you are, the CSRF
//! token for its forms), a guest's guest id cookie, the client's address, and safe `next` redirects.

use axum::extract::FromRequestParts;
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
