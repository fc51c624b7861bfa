//! `Identity`: who is making a request, as the server sees it. A user signed in by the session cookie (a
//! browser) or by `Authorization: Bearer <token>` (programs and bots), or a guest under a nickname. Pages
//! and the socket take an `Identity` from this extractor and never read cookies themselves.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::Accounts;
use super::cookies::{NICKNAME_COOKIE, SESSION_COOKIE, cookie};
use super::guest_id::GuestId;
use crate::domain::{ClientIdOwner, Username};
use crate::error::AppError;

/// How a signed-in request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A session; the SHA-256 of its cookie.
    Session(String),
    /// An API token, by id.
    Token(i64),
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The user's id.
    pub id: i64,
    /// The user's name.
    pub name: Username,
    /// May use the admin.
    pub is_staff: bool,
    /// A bot account: its messages say `"bot": true`.
    pub is_bot: bool,
    /// What signed them in.
    pub credential: Credential,
}

/// A visitor without an account.
#[derive(Clone, Debug)]
pub struct Guest {
    /// The nickname (`anonymous` when none or unusable).
    pub name: Username,
    /// The nickname belongs to a registered user, so the guest cannot use it.
    pub name_taken: bool,
    /// Which browser: its guest id cookie, made when first asked for (`guest_id.rs`). It, not the
    /// nickname (two guests may share one), is whose `client_id`s the guest's sends carry.
    pub id: GuestId,
}

/// Who is making a request.
#[derive(Clone, Debug)]
pub enum Identity {
    /// Signed in.
    User(Arc<SignedIn>),
    /// A guest.
    Guest(Guest),
}

impl Identity {
    /// The name shown next to what they say.
    pub fn name(&self) -> &Username {
        match self {
            Self::User(user) => &user.name,
            Self::Guest(guest) => &guest.name,
        }
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&SignedIn> {
        match self {
            Self::User(user) => Some(user),
            Self::Guest(_) => None,
        }
    }

    /// The user's id; `None` for guests.
    pub fn user_id(&self) -> Option<i64> {
        self.user().map(|u| u.id)
    }

    /// Whether this is a guest.
    pub fn is_guest(&self) -> bool {
        matches!(self, Self::Guest(_))
    }

    /// Whether this is a staff user.
    pub fn is_staff(&self) -> bool {
        self.user().is_some_and(|u| u.is_staff)
    }

    /// Whose `client_id`s this identity's sends carry: the account, or the guest's guest id (made now,
    /// and set on the response, if the request brought none). Built once per connection.
    pub fn client_id_owner(&self) -> ClientIdOwner {
        match self {
            Self::User(user) => ClientIdOwner::user(user.id),
            Self::Guest(guest) => ClientIdOwner::guest(guest.id.value()),
        }
    }
}

/// The guest nickname from its cookie (percent-encoded), or `anonymous`.
pub fn nickname(parts: &axum::http::HeaderMap) -> Username {
    cookie(parts, NICKNAME_COOKIE)
        .and_then(|value| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()
        })
        .and_then(|name| Username::parse(&name))
        .unwrap_or_else(Username::anonymous)
}

impl<S> FromRequestParts<S> for Identity
where
    Accounts: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    /// Resolves the request's identity once; later extractions in the same request reuse it.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if let Some(identity) = parts.extensions.get::<Identity>() {
            return Ok(identity.clone());
        }
        let accounts = Accounts::from_ref(state);
        // Only the Bearer scheme means us (a proxy's Basic credentials are not ours to judge).
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "));
        let identity = if let Some(token) = bearer {
            let user = accounts
                .token_user(token.trim())
                .await?
                .ok_or(AppError::Unauthorized("invalid or revoked token"))?;
            Identity::User(Arc::new(user))
        } else if let Some(user) = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(session) => accounts.session_user(session).await?,
            None => None,
        } {
            Identity::User(Arc::new(user))
        } else {
            let name = nickname(&parts.headers);
            let name_taken = !name.is_anonymous() && accounts.name_registered(&name).await?;
            let id = parts
                .extensions
                .get::<GuestId>()
                .cloned()
                .unwrap_or_default();
            Identity::Guest(Guest {
                name,
                name_taken,
                id,
            })
        };
        parts.extensions.insert(identity.clone());
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn the_nickname_comes_from_its_cookie_percent_decoded() {
        let headers = |cookie: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("cookie", HeaderValue::from_str(cookie).expect("header"));
            headers
        };
        assert_eq!(
            nickname(&headers("a=1; chatweb_nickname=Ad%C3%A1%20L")).as_str(),
            "Adá L"
        );
        assert_eq!(
            nickname(&headers("chatweb_nickname=%20%20")).as_str(),
            "anonymous"
        );
        assert_eq!(
            nickname(&headers("chatweb_nickname=ali%E2%80%8Bce")).as_str(),
            "anonymous",
            "a zero-width space is refused"
        );
        assert_eq!(
            nickname(&headers("chatweb_nickname=%E2%80%AEevil")).as_str(),
            "anonymous",
            "a bidi override is refused"
        );
        assert_eq!(
            nickname(&headers("chatweb_nickname=%E3%85%A4")).as_str(),
            "anonymous",
            "a Hangul filler (a blank letter) is refused"
        );
        assert_eq!(
            nickname(&headers("chatweb_nickname=Jose%CC%81")).as_str(),
            "Jos\u{E9}",
            "a decomposed name is stored composed"
        );
        assert_eq!(nickname(&HeaderMap::new()).as_str(), "anonymous");
    }
}
