//! Registering, listing and removing outgoing webhooks, and who may: a room's hooks are for whoever may
//! manage the room (its owners, and staff: [`crate::access::Grant::may_manage`]), hooks of every room for
//! staff. Every decision asks the one access check; whoever may not read a room learns nothing of its
//! hooks (404). The sender asks the same of a hook's creator before each batch ([`Webhooks::creator_reads`]),
//! so a hook stops delivering a room its creator may no longer read.

use std::sync::Arc;

use crate::access::{Access, Denied};
use crate::accounts::{Credential, Identity, SignedIn};
use crate::domain::{RoomName, Username};
use crate::outbound::{Outbound, OutboundError};
use crate::storage::{DeliveryRow, HookRow, NewHook, Store, StoreError, Track, now_ms};
use crate::switch::Switch;

use super::events::EventName;

/// Most hooks one room (or the whole server, for hooks of every room) may have.
pub const MAX_HOOKS: usize = 20;
/// Longest receiver URL accepted.
pub const MAX_URL_BYTES: usize = 2048;

/// Which rooms a hook hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One room.
    Room(RoomName),
    /// Every room but direct ones (staff).
    All,
}

/// A hook just registered: its id and its secret, shown this once.
#[derive(Clone, Debug)]
pub struct Registered {
    /// The hook's id.
    pub id: i64,
    /// The signing secret.
    pub secret: String,
}

/// Why a hook request was refused.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// No such hook or room, for this person.
    #[error("{0}")]
    NotFound(&'static str),
    /// The person may see the room but not manage its hooks.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Bad events, or too many hooks.
    #[error("{0}")]
    Invalid(String),
    /// The receiver's URL may not be asked (the SSRF guard's code says why).
    #[error("the URL is refused: {0}")]
    Refused(#[from] OutboundError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outgoing webhooks of the node: the SSRF-guarded client, and the checks.
#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    access: Access,
    outbound: Outbound,
    /// Room occupancy's switch: a hook asking for it turns it on.
    occupancy: Arc<Switch>,
}

impl Webhooks {
    /// Hooks stored in `store`, decided by `access`, asked through `outbound`; registering one that asks
    /// for room occupancy turns `occupancy` on.
    pub fn new(store: Store, access: Access, outbound: Outbound, occupancy: Arc<Switch>) -> Self {
        Self {
            store,
            access,
            outbound,
            occupancy,
        }
    }

    /// The guarded client receivers are asked with.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// Registers a hook of `scope` to `url` for `events`, made by `who`.
    pub async fn register(
        &self,
        who: &Arc<SignedIn>,
        scope: &Scope,
        url: &str,
        events: &[String],
    ) -> Result<Registered, HookError> {
        let room_id = self.managed(who, scope).await?;
        let events = parse_events(events)?;
        if url.len() > MAX_URL_BYTES {
            return Err(HookError::Invalid(format!(
                "the URL is longer than {MAX_URL_BYTES} bytes"
            )));
        }
        let url = self.outbound.check(url).await?;
        let db = self.store.db();
        if db.hooks(room_id).await?.len() >= MAX_HOOKS && room_id.is_some()
            || room_id.is_none()
                && db
                    .hooks(None)
                    .await?
                    .iter()
                    .filter(|h| h.room.is_none())
                    .count()
                    >= MAX_HOOKS
        {
            return Err(HookError::Invalid(format!(
                "at most {MAX_HOOKS} hooks; remove one first"
            )));
        }
        let secret = format!("whsec_{}", crate::accounts::secret::new_secret());
        let id = db
            .create_hook(&NewHook {
                room_id,
                url: url.as_str(),
                events: &events,
                secret: &secret,
                created_by: who.id,
                now_ms: now_ms(),
            })
            .await?;
        if EventName::list(&events)
            .iter()
            .any(|name| name.track() == Track::Occupancy)
        {
            self.occupancy.switch_on();
        }
        tracing::info!(hook = id, room = ?scope, user = %who.name.as_str(), "outgoing webhook registered");
        Ok(Registered { id, secret })
    }

    /// The hooks of `scope` (for [`Scope::All`]: the hooks of every room), for `who`.
    pub async fn list(
        &self,
        who: &Arc<SignedIn>,
        scope: &Scope,
    ) -> Result<Vec<HookRow>, HookError> {
        let room_id = self.managed(who, scope).await?;
        let hooks = self.store.db().hooks(room_id).await?;
        Ok(match scope {
            Scope::Room(_) => hooks,
            Scope::All => hooks.into_iter().filter(|h| h.room.is_none()).collect(),
        })
    }

    /// Hook `id`, if `who` may manage it (404 otherwise, as for no hook).
    pub async fn hook(&self, who: &Arc<SignedIn>, id: i64) -> Result<HookRow, HookError> {
        let hook = self
            .store
            .db()
            .hook(id)
            .await?
            .ok_or(HookError::NotFound("no such hook"))?;
        let scope = match &hook.room {
            Some((_, name)) => {
                Scope::Room(RoomName::parse(name).ok_or(HookError::NotFound("no such hook"))?)
            }
            None => Scope::All,
        };
        match self.managed(who, &scope).await {
            Ok(_) => Ok(hook),
            Err(HookError::Forbidden(_) | HookError::NotFound(_)) => {
                Err(HookError::NotFound("no such hook"))
            }
            Err(other) => Err(other),
        }
    }

    /// Removes hook `id`; it delivers nothing more (a batch on its way may still arrive).
    pub async fn delete(&self, who: &Arc<SignedIn>, id: i64) -> Result<(), HookError> {
        let hook = self.hook(who, id).await?;
        self.store.db().delete_hook(hook.id).await?;
        tracing::info!(hook = id, user = %who.name.as_str(), "outgoing webhook removed");
        Ok(())
    }

    /// Hook `id`'s recent deliveries and failures, newest first.
    pub async fn deliveries(
        &self,
        who: &Arc<SignedIn>,
        id: i64,
    ) -> Result<Vec<DeliveryRow>, HookError> {
        let hook = self.hook(who, id).await?;
        Ok(self.store.db().deliveries(hook.id).await?)
    }

    /// The room's id when `who` may manage the hooks of `scope`.
    async fn managed(&self, who: &Arc<SignedIn>, scope: &Scope) -> Result<Option<i64>, HookError> {
        let room = match scope {
            Scope::All if who.is_staff => return Ok(None),
            Scope::All => {
                return Err(HookError::Forbidden(
                    "only staff manage hooks of every room",
                ));
            }
            Scope::Room(room) => room,
        };
        let grant = self
            .access
            .grant(&Identity::User(who.clone()), room)
            .await?;
        match grant.refusal() {
            Some(Denied::Hidden) => return Err(HookError::NotFound("no such room")),
            Some(Denied::Banned) => {
                return Err(HookError::Forbidden("you are banned from this room"));
            }
            None => {}
        }
        if !grant.may_manage() {
            return Err(HookError::Forbidden(
                "only the room's owners and staff manage its hooks",
            ));
        }
        self.store
            .db()
            .room_id(room.as_str())
            .await?
            .map(Some)
            .ok_or(HookError::NotFound("the room has no messages yet"))
    }

    /// Whether `hook`'s creator may still read `room` (and, for a room's hook, manage it; for a hook of
    /// every room, is still staff), as the one access check says now.
    pub async fn creator_reads(&self, hook: &HookRow, room: &RoomName) -> Result<bool, StoreError> {
        let Some(user) = self.store.db().user_by_id(hook.created_by).await? else {
            return Ok(false);
        };
        if !user.is_active {
            return Ok(false);
        }
        // The hook acts for its creator as stored now; there is no request, so no credential of theirs
        // (an empty session digest, which no session has).
        let identity = Identity::User(Arc::new(SignedIn {
            id: user.id,
            name: Username::from_stored(&user.username),
            is_staff: user.is_staff,
            is_bot: user.is_bot,
            credential: Credential::Session(String::new()),
        }));
        let grant = self.access.grant(&identity, room).await?;
        Ok(grant.refusal().is_none()
            && match hook.room {
                Some(_) => grant.may_manage(),
                None => grant.staff,
            })
    }
}

/// The events asked for, checked, in their stored form (names separated by spaces, each once).
fn parse_events(events: &[String]) -> Result<String, HookError> {
    if events.is_empty() {
        return Err(HookError::Invalid("name at least one event".into()));
    }
    let mut names = Vec::new();
    for name in events {
        let event = EventName::parse(name).ok_or_else(|| {
            HookError::Invalid(format!(
                "unknown event {name:?}: use message_created, message_edited, message_deleted, \
                 member_added, member_removed, room_occupied or room_vacated"
            ))
        })?;
        if !names.contains(&event) {
            names.push(event);
        }
    }
    names.sort();
    Ok(names
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(" "))
}
