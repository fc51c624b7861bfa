//! `GET /files/{id}/{name}` and `GET /files/{id}/thumb/{name}`: a file, checked on every request with
//! the one access check (whoever may not read its room gets 404, as for a file that never was; an upload
//! not yet attached is its uploader's alone). Served so a browser never runs it: the type is the one
//! its bytes showed, `nosniff`, a sandboxing CSP, and `attachment` for everything but PNG, JPEG, GIF and
//! WebP (so SVG and HTML are downloads, never pages). Files never change, so the id is the ETag and a
//! browser keeps them (`private`); `Range` serves parts of large ones.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue, IF_NONE_MATCH,
    RANGE, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use object_store::GetRange;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::FileStoreError;
use super::sniff::ImageKind;
use crate::accounts::Identity;
use crate::domain::RoomName;
use crate::state::AppState;
use crate::storage::{FileRow, Thumb};

/// A browser keeps a file this long without asking again.
const CACHE: &str = "private, max-age=86400";
/// What every file is served under: no script, no plugin, no request of its own.
const CSP: &str = "sandbox; default-src 'none'";

/// `RFC 5987` attribute characters: what `filename*` keeps unencoded.
const ATTR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `GET /files/{id}/{name}`.
pub async fn file(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &identity, &id, false, &headers).await
}

/// `GET /files/{id}/thumb/{name}`.
pub async fn thumb(
    State(state): State<AppState>,
    identity: Identity,
    Path((id, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &identity, &id, true, &headers).await
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such file\n").into_response()
}

async fn serve(
    state: &AppState,
    identity: &Identity,
    id: &str,
    thumb: bool,
    headers: &HeaderMap,
) -> Response {
    let row = match readable(state, identity, id).await {
        Ok(Some(row)) => row,
        Ok(None) => return not_found(),
        Err(error) => {
            tracing::error!(%error, "cannot read a file's row");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response();
        }
    };
    let image = ImageKind::of(&row.media_type);
    if thumb && image.is_none() {
        return not_found();
    }
    // Until the thumbnail is made, the image stands in for it (and is not kept under its URL).
    let from_thumb = thumb && row.thumb == Thumb::Made;
    let etag = if from_thumb {
        format!("\"{}-t\"", row.id)
    } else {
        format!("\"{}\"", row.id)
    };
    let cache = if thumb && !from_thumb {
        "no-cache"
    } else {
        CACHE
    };
    let mut out = HeaderMap::new();
    out.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    out.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    out.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(ETAG, value);
    }
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    let media_type = match image {
        Some(kind) if from_thumb => super::thumbs::thumb_type(kind),
        _ => row.media_type.as_str(),
    };
    let disposition = if image.is_some() {
        "inline"
    } else {
        "attachment"
    };
    out.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&content_disposition(disposition, &row.name))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    out.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let size = if from_thumb { None } else { Some(row.size) };
    let range = match (headers.get(RANGE), size) {
        (Some(value), Some(size)) => match parse_range(value.to_str().unwrap_or(""), size) {
            Ranged::Whole => None,
            Ranged::Part(start, end) => Some((start, end)),
            Ranged::Unsatisfiable => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    out.insert(CONTENT_RANGE, value);
                }
                return (StatusCode::RANGE_NOT_SATISFIABLE, out).into_response();
            }
        },
        _ => None,
    };
    let fetched = state
        .files
        .store
        .fetch(
            &row.id,
            from_thumb,
            range.map(|(start, end)| GetRange::Bounded(start..end + 1)),
        )
        .await;
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(FileStoreError::NotFound) => return not_found(),
        Err(error) => {
            tracing::error!(%error, id = %row.id, "cannot read a file");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response();
        }
    };
    let content_type = served_type(media_type);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        out.insert(CONTENT_TYPE, value);
    }
    let length = fetched.range.end - fetched.range.start;
    out.insert(CONTENT_LENGTH, HeaderValue::from(length));
    let status = if range.is_some() {
        if let Ok(value) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            fetched.range.start,
            fetched.range.end.saturating_sub(1),
            fetched.size
        )) {
            out.insert(CONTENT_RANGE, value);
        }
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    (status, out, Body::from_stream(fetched.body)).into_response()
}

/// The file `id` when `identity` may have it: attached to a message of a room they may read, or their
/// own upload not attached yet.
async fn readable(
    state: &AppState,
    identity: &Identity,
    id: &str,
) -> Result<Option<FileRow>, crate::storage::StoreError> {
    if id.len() > 64 {
        return Ok(None);
    }
    let Some(row) = state.store.db().file(id).await? else {
        return Ok(None);
    };
    if row.gone {
        return Ok(None);
    }
    if row.seq.is_none() && row.uploader_key != identity.client_id_owner().as_str() {
        return Ok(None);
    }
    if identity.is_guest() && !state.config.guests {
        return Ok(None);
    }
    let Some(room) = RoomName::parse(&row.room) else {
        return Ok(None);
    };
    let grant = state.access.grant(identity, &room).await?;
    Ok(grant.refusal().is_none().then_some(row))
}

/// The `Content-Type` a file is served with: its own, except for types a browser would run (HTML, SVG,
/// XML, scripts), served as plain bytes even though they are attachments.
fn served_type(media_type: &str) -> &str {
    let scriptable = ["html", "svg", "xml", "javascript", "ecmascript"];
    if scriptable.iter().any(|s| media_type.contains(s)) {
        "application/octet-stream"
    } else if media_type == "text/plain" {
        "text/plain; charset=utf-8"
    } else {
        media_type
    }
}

/// `inline` or `attachment`, with the name as ASCII and as UTF-8 (RFC 6266).
fn content_disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR)
    )
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    /// The whole file (no range, several ranges, or one this server does not read).
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A range that starts past the end.
    Unsatisfiable,
}

/// One `bytes=` range (`a-b`, `a-` or `-n`); anything else is served whole, as RFC 9110 allows.
fn parse_range(value: &str, size: u64) -> Ranged {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let (start, end) = (start.trim(), end.trim());
    let parsed = if start.is_empty() {
        match end.parse::<u64>() {
            Ok(0) => return Ranged::Unsatisfiable,
            Ok(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            Err(_) => return Ranged::Whole,
        }
    } else {
        let Ok(start) = start.parse::<u64>() else {
            return Ranged::Whole;
        };
        let end = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            match end.parse::<u64>() {
                Ok(end) if end >= start => end.min(size.saturating_sub(1)),
                _ => return Ranged::Whole,
            }
        };
        (start, end)
    };
    if size == 0 || parsed.0 >= size {
        return Ranged::Unsatisfiable;
    }
    Ranged::Part(parsed.0, parsed.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ranged::Part(0, 99));
        assert_eq!(parse_range("bytes=900-", 1000), Ranged::Part(900, 999));
        assert_eq!(parse_range("bytes=-100", 1000), Ranged::Part(900, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), Ranged::Part(0, 999));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ranged::Part(990, 999));
        assert_eq!(parse_range("bytes=1000-", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ranged::Whole);
        assert_eq!(parse_range("bytes=5-1", 1000), Ranged::Whole);
        assert_eq!(parse_range("items=0-1", 1000), Ranged::Whole);
        assert_eq!(parse_range("bytes=x-1", 1000), Ranged::Whole);
    }

    #[test]
    fn what_a_browser_would_run_is_served_as_plain_bytes() {
        assert_eq!(served_type("text/html"), "application/octet-stream");
        assert_eq!(served_type("image/svg+xml"), "application/octet-stream");
        assert_eq!(
            served_type("application/xhtml+xml"),
            "application/octet-stream"
        );
        assert_eq!(served_type("image/png"), "image/png");
        assert_eq!(served_type("application/pdf"), "application/pdf");
        assert_eq!(served_type("text/plain"), "text/plain; charset=utf-8");
    }

    #[test]
    fn the_name_is_given_safely_in_both_forms() {
        let header = content_disposition("attachment", "résumé \"x\".pdf");
        assert_eq!(
            header,
            "attachment; filename=\"r_sum_ _x_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22.pdf"
        );
        assert!(HeaderValue::from_str(&header).is_ok());
    }
}
