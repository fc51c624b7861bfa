//! `Viewer`: who is asking the API, with the pages' rules. The shared [`Identity`] extractor (session
//! cookie or `Authorization: Bearer cwt_...`, else a guest); a bad token, or a guest on a members-only
//! server (`--guests=false`), is a JSON `login_required` (401) rather than the pages' text or redirect.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::accounts::Identity;
use crate::state::AppState;

/// The identity of an API request that may read.
#[derive(Clone, Debug)]
pub struct Viewer(pub Identity);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let identity = Identity::from_request_parts(parts, state).await?;
        if identity.is_guest() && !state.config.guests {
            return Err(ApiError::login_required(
                "this server is for members only: log in, or send Authorization: Bearer <token>",
            ));
        }
        Ok(Self(identity))
    }
}
