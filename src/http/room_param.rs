//! The `{room}` of a page's path as a [`RoomName`]: an extractor, so the pages and the admin never parse a
//! room name by hand. A name that cannot be a room is 404 (`room not found`), the answer each of those
//! handlers gave when it parsed the name itself; a segment that is not UTF-8 gets axum's own 400, as
//! `Path<String>` gave. The API has its own extractor (`api::params::Room`), which answers in its JSON
//! error dialect; the socket parses the name itself, after its origin and guest checks.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::domain::RoomName;
use crate::error::AppError;

/// A valid room name from the path's `{room}` (other parameters of the path are left to the handler).
#[derive(Clone, Debug)]
pub struct RoomParam(pub RoomName);

/// The path's parameters as sent; a struct, so a path with more parameters than `{room}` serves too.
#[derive(Deserialize)]
struct Raw {
    room: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RoomParam {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path(raw) = Path::<Raw>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        RoomName::parse(&raw.room)
            .map(Self)
            .ok_or_else(|| AppError::NotFound("room").into_response())
    }
}
