//! `POST /api/rooms/{room}/files`: an upload, streamed from the multipart body to the file store
//! (`files::intake`), by someone who may write in the room (a guest only with `--guest-uploads`), within
//! `--max-upload-bytes` and the uploader's daily quota. It answers what a send then attaches by id, and
//! what messages show of a file ([`FileInfo`], also in history pages).

use axum::Json;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::members::readable;
use super::params::Room;
use crate::domain::FileRef;
use crate::files::intake::{self, IntakeError};
use crate::files::{ImageRefusal, ThumbJob, clean_name, new_id, thumbs};
use crate::state::AppState;
use crate::storage::{NewFile, now_ms};

/// Bytes of a request past the file's own that its multipart framing may take.
const FRAMING_BYTES: u64 = 64 * 1024;
/// Bytes of a refused request read (and dropped) so the client hears the refusal before its connection
/// closes; past this it is cut.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// Seconds a refused request is read for at most.
const DRAIN_SECS: u64 = 5;
/// A day, for the quota.
const DAY_MS: i64 = 24 * 3600 * 1000;

/// A file as messages show it, and as an upload answers.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "3f2a0c1d9b8e7f6a5b4c3d2e1f0a9b8c", "name": "cat.png", "size": 48213, "type": "image/png", "url": "/files/3f2a0c1d9b8e7f6a5b4c3d2e1f0a9b8c/cat.png", "thumb_url": "/files/3f2a0c1d9b8e7f6a5b4c3d2e1f0a9b8c/thumb/cat.png", "width": 1200, "height": 800}))]
pub struct FileInfo {
    /// The upload's id: what a send's `files` names.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Its media type, from its bytes (never from the uploader's claim).
    #[serde(rename = "type")]
    pub media_type: String,
    /// Where it is downloaded (for whoever may read its room).
    pub url: String,
    /// Its thumbnail, for an image larger than 400 pixels (the image itself until the thumbnail is made);
    /// `null` otherwise.
    #[schema(required = true)]
    pub thumb_url: Option<String>,
    /// Pixels across, for a PNG, JPEG, GIF or WebP image.
    #[schema(required = true)]
    pub width: Option<u32>,
    /// Pixels down, for an image.
    #[schema(required = true)]
    pub height: Option<u32>,
}

impl From<&FileRef> for FileInfo {
    fn from(file: &FileRef) -> Self {
        Self {
            id: file.id.clone(),
            name: file.name.clone(),
            size: file.size,
            media_type: file.media_type.clone(),
            url: file.url(),
            thumb_url: file.thumb_url(),
            width: file.width,
            height: file.height,
        }
    }
}

/// The multipart form of an upload.
#[derive(ToSchema)]
#[allow(dead_code)] // only described, for the OpenAPI document
pub struct UploadForm {
    /// The file (its name is the part's filename).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// Uploads a file to a room, for a send to attach.
#[utoipa::path(
    post,
    path = "/api/rooms/{room}/files",
    tag = "rooms",
    operation_id = "upload_file",
    params(super::params::RoomPath),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored: attach it to a message by sending its id in `files`; never attached within an hour, it is removed", body = FileInfo),
        (status = 400, description = "`invalid_parameter`: not a multipart body with a part named `file`", body = ErrorBody),
        (status = 401, description = "`login_required`: a guest (unless the server runs with `--guest-uploads`), or a bad bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: a session without the CSRF header, or banned from the room", body = ErrorBody),
        (status = 404, description = "`invalid_room` or `not_found`: no such room for the caller", body = ErrorBody),
        (status = 413, description = "`too_large` (over `--max-upload-bytes`) or `quota_exceeded` (over the daily quota); nothing is kept", body = ErrorBody),
        (status = 422, description = "`image_too_large` (more pixels than the server decodes) or `invalid_image`; nothing is kept", body = ErrorBody),
        (status = 500, description = "`internal`: the server failed", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = [])),
)]
pub async fn upload(
    Viewer(identity): Viewer,
    Room(room): Room,
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<FileInfo>), ApiError> {
    let settings = state.files.settings;
    if identity.is_guest() && !settings.guest_uploads {
        return Err(ApiError::login_required(
            "log in, or send Authorization: Bearer <token>, to upload files",
        ));
    }
    if !crate::accounts::csrf::header_check(&headers) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "CSRF verification failed: send the csrftoken cookie's value in the X-CSRFToken header",
        ));
    }
    readable(&state, &identity, &room).await?;
    let mut multipart = multipart.map_err(|rejection| {
        ApiError::invalid_parameter(format!(
            "send multipart/form-data with a part named \"file\": {rejection}"
        ))
    })?;
    let owner = identity.client_id_owner();
    let db = state.store.db();
    let used = db.uploaded_since(owner.as_str(), now_ms() - DAY_MS).await?;
    let left = settings.quota_bytes.saturating_sub(used);
    let limit = settings.max_upload_bytes.min(left);
    let too_large = || {
        if left < settings.max_upload_bytes {
            ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "this upload would pass your quota of {} bytes a day ({left} left)",
                    settings.quota_bytes
                ),
            )
        } else {
            ApiError::new(
                ErrorCode::TooLarge,
                format!("files are at most {} bytes here", settings.max_upload_bytes),
            )
        }
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(FRAMING_BYTES)) {
        drain(&mut multipart).await;
        return Err(too_large());
    }
    // The first part named `file`; other parts before it are read past (a little of them).
    let mut skipped: u64 = 0;
    let field = loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => break field,
            Ok(Some(mut other)) => {
                while let Some(Ok(chunk)) = other.next().await {
                    skipped += chunk.len() as u64;
                    if skipped > FRAMING_BYTES {
                        return Err(ApiError::invalid_parameter(
                            "the form holds more than the part named \"file\"",
                        ));
                    }
                }
            }
            Ok(None) => {
                return Err(ApiError::invalid_parameter(
                    "the form has no part named \"file\"",
                ));
            }
            Err(error) => {
                return Err(ApiError::invalid_parameter(format!(
                    "the multipart body is malformed: {error}"
                )));
            }
        }
    };
    let name = clean_name(field.file_name().unwrap_or("file"));
    let id = new_id();
    let received = intake::receive(
        &state.files.store,
        &id,
        field,
        limit,
        settings.max_image_pixels,
    )
    .await;
    let received = match received {
        Ok(received) => received,
        Err(error) => {
            let refusal = match error {
                IntakeError::TooLarge { .. } => too_large(),
                IntakeError::Image(refusal @ ImageRefusal::TooLarge { .. }) => {
                    ApiError::new(ErrorCode::ImageTooLarge, refusal.to_string())
                }
                IntakeError::Image(refusal @ ImageRefusal::Unreadable) => {
                    ApiError::new(ErrorCode::InvalidImage, refusal.to_string())
                }
                IntakeError::Scrub(error) => {
                    ApiError::new(ErrorCode::InvalidImage, error.to_string())
                }
                IntakeError::Body(detail) => ApiError::invalid_parameter(format!(
                    "the upload did not arrive whole: {detail}"
                )),
                IntakeError::Store(error) => ApiError::internal(&error),
            };
            drain(&mut multipart).await;
            return Err(refusal);
        }
    };
    let thumb = match (received.image, received.width, received.height) {
        (Some(_), Some(w), Some(h)) => thumbs::wanted(w, h),
        _ => false,
    };
    let recorded = db
        .insert_file(&NewFile {
            id: &id,
            room: room.as_str(),
            uploader_id: identity.user_id(),
            uploader_key: owner.as_str(),
            name: &name,
            size: received.size,
            media_type: received.media_type,
            width: received.width,
            height: received.height,
            thumb,
            created_at: now_ms(),
        })
        .await;
    if let Err(error) = recorded {
        if let Err(error) = state.files.store.remove(&id, false).await {
            tracing::warn!(%error, "an upload not recorded stays in the file store");
        }
        return Err(error.into());
    }
    if let (true, Some(kind)) = (thumb, received.image) {
        let queued = state.files.thumbs.queue(ThumbJob {
            id: id.clone(),
            kind,
        });
        if !queued {
            tracing::warn!("the thumbnail queue is full: an image keeps no thumbnail");
        }
    }
    tracing::debug!(
        size = received.size,
        media_type = received.media_type,
        scrubbed = received.scrubbed,
        "file uploaded"
    );
    let file = FileRef {
        id,
        name,
        size: received.size,
        media_type: received.media_type.to_owned(),
        width: received.width,
        height: received.height,
        thumb,
    };
    Ok((StatusCode::CREATED, Json(FileInfo::from(&file))))
}

/// Reads what is left of a refused upload (at most [`DRAIN_BYTES`] of new parts, for at most
/// [`DRAIN_SECS`]), so that the client, still sending, reads the refusal instead of a reset connection.
async fn drain(multipart: &mut Multipart) {
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(DRAIN_SECS),
        drain_parts(multipart),
    )
    .await;
}

async fn drain_parts(multipart: &mut Multipart) {
    let mut read: u64 = 0;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Some(Ok(chunk)) = field.next().await {
            read += chunk.len() as u64;
            if read > DRAIN_BYTES {
                return;
            }
        }
    }
}
