//! Rooms and messages in the admin. Rooms: a paginated list with message counts and last activity; lock
//! (read-only: sends get `room_locked`), unlock, delete every message. Messages: listed by room, by user
//! and by text; delete one. A deletion is stored as an event in the room's sequence, so open pages drop
//! the message live and history returns a tombstone, never the old text. Retention per room: keep
//! everything, keep N days, or follow the server's `--retention-days` (the form on the room's page).

use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;

use super::{Back, PAGE_SIZE, Staff, done, paginate};
use crate::domain::rfc3339_ms;
use crate::domain::{ClientIdOwner, RoomName};
use crate::error::AppError;
use crate::http::page::urlencode;
use crate::http::room_param::RoomParam;
use crate::state::AppState;
use crate::storage::{Amend, Amendment, Authority, MessageFilter};

/// The room and message routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/rooms/", get(rooms))
        .route("/admin/rooms/{room}/lock", post(lock))
        .route("/admin/rooms/{room}/unlock", post(unlock))
        .route("/admin/rooms/{room}/clear", post(clear))
        .route("/admin/rooms/{room}/retention", post(set_retention))
        .route("/admin/messages/", get(messages))
        .route("/admin/messages/{room}/{id}/delete", post(delete))
}

#[derive(Deserialize, Default)]
struct RoomsQuery {
    page: Option<i64>,
    notice: Option<String>,
}

async fn rooms(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<RoomsQuery>,
) -> Result<Html<String>, AppError> {
    let db = state.accounts.db();
    let (_, total) = db.admin_rooms(0, 0).await?;
    let (offset, pager) = paginate(query.page, total);
    let (rooms, _) = db.admin_rooms(PAGE_SIZE, offset).await?;
    let rooms: Vec<_> = rooms
        .iter()
        .map(|r| {
            context! {
                name => &r.name, href => urlencode(&r.name), messages => r.messages,
                last_id => r.last_seq, updated_at => rfc3339_ms(r.updated_at), locked => r.locked,
                kind => r.kind.as_str(),
            }
        })
        .collect();
    staff.render(
        &state,
        "admin/rooms.html",
        context! { rooms => rooms, pager => pager, notice => query.notice },
    )
}

/// Stores `action` on `room` as an event by this staff user and audits it; returns the event's id.
async fn amend(
    state: &AppState,
    staff: &Staff,
    room: &RoomName,
    action: Amend,
    (audit_action, target): (&str, &str),
) -> Result<u64, AppError> {
    let event = state
        .store
        .amend(Amendment {
            room: room.clone(),
            actor: staff.user.name.clone(),
            actor_id: Some(staff.user.id),
            action,
            authority: Authority::Moderator,
            client_id: None,
            owner: ClientIdOwner::user(staff.user.id),
        })
        .await?;
    let detail = format!("event {}", event.seq);
    staff.audit(state, audit_action, target, &detail).await?;
    Ok(event.seq)
}

async fn lock(
    state: State<AppState>,
    staff: Staff,
    room: RoomParam,
    back: Form<Back>,
) -> Result<Response, AppError> {
    set_locked(state, staff, room, back, Lock::Locked).await
}

async fn unlock(
    state: State<AppState>,
    staff: Staff,
    room: RoomParam,
    back: Form<Back>,
) -> Result<Response, AppError> {
    set_locked(state, staff, room, back, Lock::Unlocked).await
}

/// What a lock form asks of a room.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// Read-only: sends get `room_locked`.
    Locked,
    /// Open again.
    Unlocked,
}

async fn set_locked(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(back): Form<Back>,
    lock: Lock,
) -> Result<Response, AppError> {
    let locked = lock == Lock::Locked;
    if !state
        .accounts
        .db()
        .set_room_locked(room.as_str(), locked)
        .await?
    {
        return Err(AppError::NotFound("room"));
    }
    let action = if locked { "room.lock" } else { "room.unlock" };
    staff.audit(&state, action, room.as_str(), "").await?;
    let notice = if locked {
        "room locked: it is read-only"
    } else {
        "room unlocked"
    };
    Ok(done(back.next.as_deref(), "/admin/rooms/", notice))
}

async fn clear(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(back): Form<Back>,
) -> Result<Response, AppError> {
    let audit = ("room.clear", room.as_str());
    amend(&state, &staff, &room, Amend::Clear, audit).await?;
    let notice = "every message of the room was deleted";
    Ok(done(back.next.as_deref(), "/admin/rooms/", notice))
}

#[derive(Deserialize, Default)]
struct MessagesQuery {
    room: Option<String>,
    user: Option<String>,
    q: Option<String>,
    page: Option<i64>,
    notice: Option<String>,
}

async fn messages(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<MessagesQuery>,
) -> Result<Html<String>, AppError> {
    let room = query.room.clone().filter(|r| !r.trim().is_empty());
    let user = query.user.clone().filter(|u| !u.trim().is_empty());
    let user_id = match &user {
        Some(name) => match state.accounts.user_named(name).await {
            Ok(found) => Some(found.id),
            // No such user: nothing matches.
            Err(_) => Some(-1),
        },
        None => None,
    };
    let filter = MessageFilter {
        room: room.clone(),
        user_id,
        text: query.q.clone().unwrap_or_default(),
    };
    let db = state.accounts.db();
    let (_, total) = db.admin_messages(&filter, 0, 0).await?;
    let (offset, pager) = paginate(query.page, total);
    let (found, _) = db.admin_messages(&filter, PAGE_SIZE, offset).await?;
    let rows: Vec<_> = found
        .iter()
        .map(|m| {
            context! {
                room => &m.room, room_href => urlencode(&m.room), id => m.seq, ts => rfc3339_ms(m.ts_ms),
                author => &m.author, guest => m.author_id.is_none(), body => &m.body, deleted => m.deleted,
            }
        })
        .collect();
    staff.render(
        &state,
        "admin/messages.html",
        context! {
            messages => rows, pager => pager, room => room, user => user, q => filter.text,
            notice => query.notice,
        },
    )
}

async fn delete(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Path((_, id)): Path<(String, u64)>,
    Form(back): Form<Back>,
) -> Result<Response, AppError> {
    let target = format!("{}#{id}", room.as_str());
    let audit = ("message.delete", target.as_str());
    amend(&state, &staff, &room, Amend::Delete { target: id }, audit).await?;
    Ok(done(
        back.next.as_deref(),
        "/admin/messages/",
        "message deleted",
    ))
}

/// The longest retention the form takes, in days (a hundred years).
const MAX_RETENTION_DAYS: u32 = 36_500;

/// The retention form: `keep` is `default` (the server's rule), `forever` or `days` (with `days`).
#[derive(Deserialize)]
struct RetentionForm {
    keep: String,
    days: Option<String>,
}

/// What the room's page shows of its retention: its own rule, the server's, the first id still kept.
pub(super) async fn retention_context(
    state: &AppState,
    room: &RoomName,
) -> Result<minijinja::Value, AppError> {
    let kept = state.store.db().room_retention(room).await?;
    let keep = match kept.days {
        None => "default",
        Some(0) => "forever",
        Some(_) => "days",
    };
    Ok(context! {
        keep => keep, days => kept.days.filter(|d| *d > 0), first_kept => kept.first_kept,
        server_days => state.config.retention_days, max_days => MAX_RETENTION_DAYS,
    })
}

async fn set_retention(
    State(state): State<AppState>,
    staff: Staff,
    RoomParam(room): RoomParam,
    Form(form): Form<RetentionForm>,
) -> Result<Response, AppError> {
    let days = match form.keep.as_str() {
        "default" => None,
        "forever" => Some(0),
        "days" => {
            let days = form.days.as_deref().unwrap_or_default().trim();
            match days.parse::<u32>() {
                Ok(n) if (1..=MAX_RETENTION_DAYS).contains(&n) => Some(n),
                _ => {
                    return Err(AppError::BadRequest(format!(
                        "days must be a whole number from 1 to {MAX_RETENTION_DAYS}"
                    )));
                }
            }
        }
        _ => {
            return Err(AppError::BadRequest(
                "keep must be default, forever or days".into(),
            ));
        }
    };
    state
        .store
        .db()
        .set_room_retention(&room, days, crate::storage::now_ms())
        .await?;
    let detail = match days {
        None => "server default".to_owned(),
        Some(0) => "keep everything".to_owned(),
        Some(n) => format!("{n} days"),
    };
    staff
        .audit(&state, "room.retention", room.as_str(), &detail)
        .await?;
    let notice = format!("retention: {detail}");
    let page = format!("/admin/rooms/{}/", urlencode(room.as_str()));
    Ok(done(None, &page, &notice))
}
