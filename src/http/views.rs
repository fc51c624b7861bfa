//! The room page (Django's `views.py` + `template/`) at `/chat/<room>/`, rendered with minijinja from
//! templates compiled into the binary (the lobby is `lobby.rs`). HTML autoescaping keeps user text as text.
//! The room page's first messages are rendered here (and as JSON for its script); the rest comes over the
//! socket. Its owners and moderators also get the members panel, whose forms `members.rs` serves.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;

use super::page::{Page, urlencode};
use super::room_param::RoomParam;
use crate::access::{Denied, Grant};
use crate::accounts::Identity;
use crate::domain::{Role, RoomKind, RoomName, rfc3339_ms};
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::MessageKind;

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat/{room}/", get(room))
        .route("/chat/{room}", get(add_slash))
}

/// What the room page says about the last change made from it.
#[derive(Default)]
pub struct Feedback {
    /// A change that was made (one of [`notice_of`]'s sentences).
    pub notice: Option<&'static str>,
    /// A change that was refused, in a sentence.
    pub error: Option<String>,
    /// A new invite link (`/invite/<token>/`), shown once, and when it stops working (RFC 3339).
    pub invite: Option<(String, String)>,
}

/// The sentence for `?done=<code>`, the code a panel form redirects with: fixed sentences, so a link
/// cannot make the page say something else.
pub fn notice_of(code: &str) -> Option<&'static str> {
    Some(match code {
        "added" => "Member added.",
        "removed" => "Member removed.",
        "role" => "Role changed.",
        "topic" => "Topic changed.",
        "locked" => "The room is locked: it is read-only for its members.",
        "unlocked" => "The room is open again.",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct RoomQuery {
    done: Option<String>,
}

async fn room(
    State(state): State<AppState>,
    RoomParam(room): RoomParam,
    page: Page,
    Query(query): Query<RoomQuery>,
) -> Result<Response, AppError> {
    if let Identity::Guest(guest) = &page.identity {
        if !state.config.guests {
            let next = urlencode(&format!("/chat/{}/", room.as_str()));
            return Ok(Redirect::to(&format!("/accounts/login/?next={next}")).into_response());
        }
        if guest.name_taken {
            return Ok(Redirect::to("/?error=nickname_taken").into_response());
        }
    }
    let grant = readable(&state, &page.identity, &room).await?;
    let feedback = Feedback {
        notice: query.done.as_deref().and_then(notice_of),
        ..Feedback::default()
    };
    Ok(render_room(&state, &page, &room, &grant, feedback)
        .await?
        .into_response())
}

/// `identity`'s grant in `room`, refusing whoever may not read it: 404 as for no room (they learn nothing
/// of it, not even that it exists), 403 for someone banned from it.
pub async fn readable(
    state: &AppState,
    identity: &Identity,
    room: &RoomName,
) -> Result<Grant, AppError> {
    let grant = state
        .access
        .grant(identity, room)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("checking access to a room"))?;
    match grant.refusal() {
        Some(Denied::Banned) => Err(AppError::Forbidden("you are banned from this room")),
        Some(Denied::Hidden) => Err(AppError::NotFound("room")),
        None => Ok(grant),
    }
}

/// A file as the API shows it ([`crate::domain::FileView`]), for the page's first messages.
fn file_value(file: &crate::domain::FileRef) -> minijinja::Value {
    use minijinja::Value;
    Value::from_pairs([
        ("id", Value::from(file.id.as_str())),
        ("name", Value::from(file.name.as_str())),
        ("size", Value::from(file.size)),
        ("type", Value::from(file.media_type.as_str())),
        ("url", Value::from(file.url())),
        ("thumb_url", Value::from(file.thumb_url())),
        ("width", Value::from(file.width)),
        ("height", Value::from(file.height)),
    ])
}

/// The room page for someone holding `grant` (who may read it), with `feedback`.
pub async fn render_room(
    state: &AppState,
    page: &Page,
    room: &RoomName,
    grant: &Grant,
    feedback: Feedback,
) -> Result<Html<String>, AppError> {
    let history = state
        .store
        .recent(room, state.config.history)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("loading history"))?;
    let last_id = history.last().map_or(0, |m| m.seq);
    // Messages and tombstones, with edits already applied; the events that made them are not lines.
    let lines: Vec<_> = history
        .iter()
        .filter(|m| matches!(m.kind, MessageKind::Message | MessageKind::Deleted))
        .map(|m| {
            let files = crate::domain::FileRef::list(&m.files);
            context! {
                files => files.iter().map(file_value).collect::<Vec<_>>(),
                id => m.seq,
                ts => rfc3339_ms(m.ts_ms),
                user => &m.author,
                message => &m.body,
                guest => m.guest,
                bot => m.bot,
                deleted => m.kind == MessageKind::Deleted,
                edited => m.edited,
            }
        })
        .collect();
    let signed_in = page.identity.user().is_some();
    let panel = if signed_in && grant.may_add_members() {
        Some(panel(state, page, room, grant).await?)
    } else {
        None
    };
    let (invite, invite_expires) = feedback.invite.unzip();
    page.render(
        state,
        "room.html",
        context! {
            room => room.as_str(),
            room_href => urlencode(room.as_str()),
            kind => grant.kind.as_str(),
            topic => &grant.topic,
            role => grant.role.map(|r| r.as_str()),
            manages => grant.may_add_members(),
            panel => panel,
            may_leave => grant.role.is_some() && grant.kind != RoomKind::Direct,
            notice => feedback.notice,
            error => feedback.error,
            invite => invite,
            invite_expires => invite_expires,
            messages => lines,
            last_id => last_id,
            max_bytes => state.config.max_message_bytes,
            nickname => page.identity.name().as_str(),
            may_upload => signed_in || state.files.settings.guest_uploads,
            max_upload_bytes => state.files.settings.max_upload_bytes,
        },
    )
}

/// The members panel of an owner or moderator (or staff): each member with what the viewer may do to
/// them, and which forms the viewer gets. `src/access/` decides again when a form is sent.
async fn panel(
    state: &AppState,
    page: &Page,
    room: &RoomName,
    grant: &Grant,
) -> Result<Value, AppError> {
    let me = page.identity.user_id();
    let owner = grant.may_manage();
    let members: Vec<_> = state
        .store
        .db()
        .members(room.as_str())
        .await?
        .into_iter()
        .map(|m| {
            let is_me = Some(m.user_id) == me;
            context! {
                user => &m.username,
                href => urlencode(&m.username),
                role => m.role.as_str(),
                me => is_me,
                removable => !is_me && (owner || m.role == Role::Member),
                role_editable => owner && !is_me,
            }
        })
        .collect();
    let locked = state
        .store
        .db()
        .room_access(room.as_str(), None)
        .await?
        .is_some_and(|row| row.locked);
    Ok(context! {
        members => members,
        owner => owner,
        locked => locked,
        invites => grant.kind == RoomKind::Private,
        roles => ["member", "moderator", "owner"],
        // The events an outgoing webhook may hear, as the hooks API takes them.
        hook_events => crate::hooks::events::ALL.map(|e| e.as_str()),
    })
}

/// Django's APPEND_SLASH: `/chat/x` redirects to `/chat/x/`.
async fn add_slash(RoomParam(room): RoomParam) -> Redirect {
    Redirect::permanent(&format!("/chat/{}/", urlencode(room.as_str())))
}
