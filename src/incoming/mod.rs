//! Incoming webhooks, Slack-compatible (issue 21): a room's owner or staff makes one and gets a URL
//! `/hooks/<token>`, shown once (only the token's SHA-256 is stored, as for API tokens); a program that
//! POSTs `{"text": ...}` there posts into that room under the hook's name, with `"bot": true`, through
//! the same path as every send (`crate::posting::once`). Who may make, list and revoke hooks is the
//! access check's `may_manage` (the room's owners and staff; never in a direct room). The HTTP side is
//! `crate::api` (`incoming_hooks.rs`: the management API and the receiver).

use unicode_normalization::UnicodeNormalization;

use crate::access::{Denied, Grant};
use crate::accounts::secret;
use crate::accounts::{AccountError, Identity};
use crate::domain::{RoomKind, RoomName, Username, invisible};
use crate::state::AppState;
use crate::storage::{IncomingHookRow, StoreError, now_ms};

/// Incoming hook tokens start with this (API tokens with `cwt_`), so people and scanners tell them apart.
pub const HOOK_TOKEN_PREFIX: &str = "cwh_";

/// Why a hook could not be made, found or used.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// No such room for the caller, or no such live hook (or token).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The caller may read the room but not manage its hooks.
    #[error("only the room's owners and staff manage its incoming webhooks")]
    Forbidden,
    /// The name is not a usable display name.
    #[error("a hook's name is 1 to 32 characters, at least one of them an ASCII letter or digit")]
    InvalidName,
    /// The name is a registered user's.
    #[error("{0:?} is a registered user's name: choose another")]
    NameTaken(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The accounts could not be read.
    #[error(transparent)]
    Accounts(#[from] AccountError),
}

/// A hook just made: its id and its token (shown once).
pub struct NewHook {
    /// The hook's id.
    pub id: i64,
    /// The token: the last segment of its URL.
    pub token: String,
}

/// Checks that `identity` may manage the hooks of `room`.
pub async fn may_manage(
    state: &AppState,
    identity: &Identity,
    room: &RoomName,
) -> Result<Grant, HookError> {
    let grant = state.access.grant(identity, room).await?;
    match grant.refusal() {
        Some(Denied::Hidden) => return Err(HookError::NotFound("room")),
        Some(Denied::Banned) => return Err(HookError::Forbidden),
        None => {}
    }
    if grant.kind == RoomKind::Direct || !grant.may_manage() {
        return Err(HookError::Forbidden);
    }
    Ok(grant)
}

/// The longest hook name, in characters.
pub const MAX_HOOK_NAME_CHARS: usize = 32;

/// The name a hook posts under: `typed` (1 to 32 characters, at least one an ASCII letter or digit)
/// without its control and invisible characters, normalised as a guest's nickname is (NFKC, trimmed,
/// cut to 32 characters), and no account's.
pub async fn display_name(state: &AppState, typed: &str) -> Result<Username, HookError> {
    let count = typed.chars().count();
    if !(1..=MAX_HOOK_NAME_CHARS).contains(&count)
        || !typed.chars().any(|c| c.is_ascii_alphanumeric())
    {
        return Err(HookError::InvalidName);
    }
    let visible: String = typed.chars().filter(|&c| !invisible(c)).collect();
    let name = Username::parse(&visible)
        .or_else(|| {
            // NFKC may lengthen it ("ﷺ" is 18 letters): cut it to the limit.
            let cut: String = visible.trim().nfkc().take(MAX_HOOK_NAME_CHARS).collect();
            Username::parse(&cut)
        })
        .filter(|n| !n.is_anonymous())
        .ok_or(HookError::InvalidName)?;
    if state.accounts.name_registered(&name).await? {
        return Err(HookError::NameTaken(name.as_str().to_owned()));
    }
    Ok(name)
}

/// Makes a hook of `room` named `name` for `identity` (who may manage the room's hooks).
pub async fn create(
    state: &AppState,
    identity: &Identity,
    room: &RoomName,
    name: &str,
) -> Result<NewHook, HookError> {
    may_manage(state, identity, room).await?;
    let name = display_name(state, name).await?;
    let creator = identity.user_id().ok_or(HookError::Forbidden)?;
    let raw = secret::new_secret();
    let id = state
        .store
        .db()
        .create_incoming_hook(
            room.as_str(),
            name.as_str(),
            &secret::digest(&raw),
            creator,
            now_ms(),
        )
        .await?;
    tracing::info!(hook = id, %room, name = %name, "incoming webhook created");
    Ok(NewHook {
        id,
        token: format!("{HOOK_TOKEN_PREFIX}{raw}"),
    })
}

/// The live hooks of `room`, for whoever may manage them.
pub async fn list(
    state: &AppState,
    identity: &Identity,
    room: &RoomName,
) -> Result<Vec<IncomingHookRow>, HookError> {
    may_manage(state, identity, room).await?;
    Ok(state.store.db().incoming_hooks(Some(room.as_str())).await?)
}

/// Revokes hook `id`: its URL answers 404 from now on. Whoever may not manage its room learns nothing
/// of it (404).
pub async fn revoke(state: &AppState, identity: &Identity, id: i64) -> Result<(), HookError> {
    let db = state.store.db();
    let hook = db
        .incoming_hook(id)
        .await?
        .ok_or(HookError::NotFound("incoming webhook"))?;
    let room = RoomName::parse(&hook.room).ok_or(HookError::NotFound("incoming webhook"))?;
    match may_manage(state, identity, &room).await {
        Ok(_) => {}
        Err(error @ (HookError::Store(_) | HookError::Accounts(_))) => return Err(error),
        Err(_) => return Err(HookError::NotFound("incoming webhook")),
    }
    if !db.revoke_incoming_hook(id, now_ms()).await? {
        return Err(HookError::NotFound("incoming webhook"));
    }
    tracing::info!(hook = id, room = %hook.room, "incoming webhook revoked");
    Ok(())
}

/// The live hook whose token is `token` (`None` for anything else, junk included, without a lookup).
pub async fn find(state: &AppState, token: &str) -> Result<Option<IncomingHookRow>, StoreError> {
    let Some(raw) = token
        .strip_prefix(HOOK_TOKEN_PREFIX)
        .filter(|raw| secret::well_formed(raw))
    else {
        return Ok(None);
    };
    state
        .store
        .db()
        .incoming_hook_by_token(&secret::digest(raw))
        .await
}
