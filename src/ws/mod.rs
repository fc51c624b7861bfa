//! The WebSocket endpoint `/ws/chat/<room>/`: checks the handshake (origin, identity, room name, `since`),
//! then hands the socket to its consumer task. Like Channels' `AllowedHostsOriginValidator`, a handshake
//! without an allowed `Origin` is refused with 403 (a program signed in with a bearer token, which no
//! browser page can send, may omit it). Like `AuthMiddlewareStack`, the consumer knows who is speaking.
//! Before anything else, the client's address must be within its handshake rate and open-connection
//! cap, and a full-history replay within the client's replay rate (src/limits/): else 429. Whoever may not
//! read the room (src/access/: a private or direct room they are not a member of, or a ban) is refused
//! with 403. The connection's `client_id`s belong to its account, or to a guest's guest id
//! (`domain::ClientIdOwner`), decided here once.

mod consumer;
pub mod cursor;
mod fanout;
mod lean;
mod origin;
mod socket;
mod text_out;
mod upgrade;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::ORIGIN;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::access::Denied;
use crate::accounts::revocation::StaffFlag;
use crate::accounts::{Credential, Identity};
use crate::domain::RoomName;
use crate::error::AppError;
use crate::limits::{Admission, SenderKey};
use crate::protocol::V2_PROTOCOL;
use crate::state::AppState;

pub use fanout::{Fanout, StoreHeads};
pub use origin::origin_allowed;

/// The WebSocket routes. The node's state is one pointer (`AppState`): each connection keeps it for its
/// life (issue 22 measures bytes per idle connection).
pub fn router() -> Router<AppState> {
    Router::new().route("/ws/chat/{room}/", get(chat_socket))
}

#[derive(Deserialize)]
struct SocketParams {
    since: Option<String>,
}

/// `GET /ws/chat/{room}/`: the chat socket of a room.
async fn chat_socket(
    // The node's state: the pointer the connection keeps.
    State(state): State<AppState>,
    // First: a handshake over its address's limits is refused before any other work.
    admission: Admission,
    Path(room): Path<String>,
    Query(params): Query<SocketParams>,
    headers: HeaderMap,
    identity: Identity,
    upgrade: upgrade::Upgrade,
) -> Result<Response, AppError> {
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    let by_token = identity
        .user()
        .is_some_and(|u| matches!(u.credential, Credential::Token(_)));
    let allowed = match origin {
        Some(origin) => origin_allowed(origin, &state.origin_hosts),
        None => by_token,
    };
    if !allowed {
        tracing::info!(?origin, "handshake refused: origin not allowed");
        return Err(AppError::ForbiddenOrigin);
    }
    match &identity {
        Identity::Guest(_) if !state.config.guests => {
            return Err(AppError::Forbidden(
                "this chat is for members only: log in, or send Authorization: Bearer <token>",
            ));
        }
        Identity::Guest(guest) if guest.name_taken => {
            return Err(AppError::Forbidden(
                "that nickname belongs to a registered user: log in or choose another",
            ));
        }
        _ => {}
    }
    let room = RoomName::parse(&room).ok_or(AppError::NotFound("room"))?;
    let since = match params.since.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| AppError::BadRequest("since must be a non-negative integer".into()))?,
        ),
    };
    let grant = state
        .access
        .grant(&identity, &room)
        .await
        .map_err(|error| {
            AppError::Internal(anyhow::Error::new(error).context("checking access to a room"))
        })?;
    match grant.refusal() {
        Some(Denied::Banned) => return Err(AppError::Forbidden("you are banned from this room")),
        Some(Denied::Hidden) => {
            return Err(AppError::Forbidden(
                "this room is for its members only: ask an owner to add you",
            ));
        }
        None => {}
    }
    // Registered now, so a revocation (or a change of staff rights) between the handshake and the first
    // select is not missed.
    let watch = identity.user().map(|u| {
        Box::new(
            state
                .accounts
                .revocations()
                .watch(u.id, u.credential.clone(), u.is_staff),
        )
    });
    let staff = watch
        .as_ref()
        .map_or_else(StaffFlag::default, |w| w.staff.clone());
    // The seat listens before the ban and the membership are checked against what this node holds, so
    // a ban or a removal landing after the check above still closes the socket.
    let rules = state
        .moderation
        .enter(&room, &identity, staff, grant.known_roles())
        .await
        .map_err(|_| AppError::Forbidden("you are banned from this room"))?;
    if !rules.admitted().await {
        return Err(AppError::Forbidden(
            "this room is for its members only: ask an owner to add you",
        ));
    }
    let sender = SenderKey::new(identity.user_id(), admission.address);
    // A guest without a guest id gets one here, set on the handshake's response (a client that keeps no
    // cookie gets a new one each time); the connection builds its `client_id` owner from it at its first
    // send.
    if let Identity::Guest(guest) = &identity {
        guest.id.value();
    }
    if let Some(since) = since
        && state.limits.replays_limited()
    {
        // A store that does not answer fails the replay itself, with its own close code.
        let head = state.store.last_seq(&room).await.unwrap_or(0);
        if let Err(refusal) = state.limits.replay(sender, since, head) {
            return Ok(refusal.into_response());
        }
    }
    let limits = state
        .limits
        .connection(sender, admission.address, admission.slot);
    let upgrade = upgrade.protocols([V2_PROTOCOL]);
    let v2 = upgrade.selected_protocol().is_some();
    let tracker = state.tracker.clone();
    // One box: the connection's task holds a pointer to the handshake's values until the upgrade.
    let conn = Box::new(consumer::Connection {
        state,
        room,
        identity,
        since,
        v2,
        watch,
        limits,
        rules,
    });
    let (response, upgrading) = upgrade.accept();
    tracker.spawn(connection(upgrading, conn));
    Ok(response)
}

/// A connection's task: waits for the upgrade, then serves the socket. The socket's making is awaited
/// inside it, not captured by it: a future's captures stay in it for its whole life, and this one lives
/// as long as the connection (issue 22 measures bytes per idle connection). An `async move` block, not
/// an `async fn`, which would keep a second copy of its arguments.
#[allow(clippy::manual_async_fn)]
fn connection(
    upgrading: upgrade::Upgrading,
    conn: Box<consumer::Connection>,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        // The socket is moved into the consumer in a scope that ends before the consumer runs: a binding
        // still in scope would keep its place in the task beside the consumer, moved or not.
        let serve = match upgrading.socket(socket_config(&conn.state.config)).await {
            Some(socket) => consumer::run(socket, conn),
            None => return,
        };
        serve.await;
    }
}

/// Tungstenite's settings for a chat socket.
fn socket_config(config: &crate::config::Config) -> WebSocketConfig {
    let max_frame = config.max_frame_bytes();
    WebSocketConfig::default()
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame))
        // Its reads go through `LeanTcp`'s buffer, held only while bytes wait (lean.rs).
        .read_buffer_size(lean::TUNGSTENITE_READ_BYTES)
        .write_buffer_size(config.send_buffer_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns.
    fn future_size<A, B, R>(_: fn(A, B) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// A connection's task is allocated once and held for the connection's life: the making of its
    /// socket must not stay in it beside the consumer (issue 22).
    #[test]
    fn a_connection_task_is_no_bigger_than_its_consumer_s_future() {
        let task = future_size(connection);
        let run = future_size(consumer::run);
        assert!(task <= run + 64, "task {task} bytes, run {run} bytes");
        // tokio allocates a task as a 128-byte aligned cell: its 32-byte header, the future with 24 bytes
        // of its own around it, a 48-byte trailer. Up to 1,688 bytes of future it is 1,792 bytes, the next
        // step 1,920 (2,048 before issue 22's third pass: 1,872 bytes then).
        assert!(
            task <= 1688,
            "task {task} bytes: its cell is over 1,792 bytes"
        );
    }
}
