//! [`post`]: one message from a single request (the publish API, an incoming webhook), through what a
//! socket's send goes through: read access (as at a socket's handshake), the room's moderation (a seat
//! taken for the request's length: bans, mutes, slow mode), the sender's rate limits (the same keyed
//! buckets as the sender's sockets, and the address's new rooms), [`super::compose`], then the store's
//! writer, which recognises a repeated `client_id`, refuses a locked room and fans the commit out.

use crate::access::Denied;
use crate::accounts::Identity;
use crate::accounts::revocation::StaffFlag;
use crate::domain::RoomName;
use crate::limits::{AddressKey, Refusal, SenderKey};
use crate::moderation::Hold;
use crate::state::AppState;
use crate::stats::Stats;
use crate::storage::StoreError;

use super::{Draft, Poster, Refused};

/// Who posts, from where, through which door.
pub struct Sender<'a> {
    /// The author: an account (the publish API), or an incoming webhook's name as a guest would be
    /// held (mutes and bans by that name apply).
    pub identity: &'a Identity,
    /// Whose buckets the send is counted in.
    pub key: SenderKey,
    /// The client's address (new rooms are counted per address).
    pub address: AddressKey,
    /// What is checked before the room's moderation.
    pub door: Door,
    /// A bot account or an incoming webhook.
    pub bot: bool,
}

/// How a sender came to the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// As a person: only into a room they may read (src/access/), like a socket's handshake.
    Reader,
    /// By an incoming webhook's token: an owner or staff made it for this room, which is grant enough.
    Hook,
}

/// A message posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posted {
    /// Stored now, with this id.
    Created(u64),
    /// Its `client_id` was stored before: the original's id, nothing new stored.
    Repeat(u64),
}

/// Why nothing was posted.
#[derive(Debug)]
pub enum PostError {
    /// The sender may not read the room (they learn nothing of it).
    Hidden,
    /// The sender is banned from the room.
    Banned,
    /// Muted, or too soon under slow mode.
    Held(Hold),
    /// Over a rate limit.
    Limited(Refusal),
    /// What the draft names is not there.
    Refused(Refused),
    /// The store refused it (a locked room) or failed.
    Store(StoreError),
}

impl From<StoreError> for PostError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// Posts `draft` into `room` as `sender` and waits for the store's answer.
pub async fn post(
    state: &AppState,
    sender: &Sender<'_>,
    room: &RoomName,
    draft: Draft,
) -> Result<Posted, PostError> {
    let identity = sender.identity;
    let known = match sender.door {
        Door::Reader => {
            let grant = state.access.grant(identity, room).await?;
            match grant.refusal() {
                Some(Denied::Banned) => return Err(PostError::Banned),
                Some(Denied::Hidden) => return Err(PostError::Hidden),
                None => grant.known_roles(),
            }
        }
        Door::Hook => None,
    };
    let staff = StaffFlag::new(identity.is_staff());
    let seat = state
        .moderation
        .enter(room, identity, staff, known)
        .await
        .map_err(|_| PostError::Banned)?;
    if sender.door == Door::Reader && !seat.admitted().await {
        return Err(PostError::Hidden);
    }
    // A request is a connection of one send: its own bucket is fresh, the sender's is shared with
    // their sockets, and a send into a room without messages counts against the address's new rooms.
    let room_was_empty = state.store.last_seq(room).await? == 0;
    state
        .limits
        .connection(sender.key, sender.address, None)
        .send(&state.limits, room_was_empty)
        .map_err(PostError::Limited)?;
    seat.check_send().map_err(PostError::Held)?;
    let owner = identity.client_id_owner();
    let poster = Poster {
        room,
        name: identity.name(),
        user_id: identity.user_id(),
        owner: &owner,
        privileged: seat.privileged(),
        bot: sender.bot,
    };
    let message = super::compose(state, poster, draft)
        .await
        .map_err(PostError::Refused)?;
    let appended = state.store.append(message).await?;
    Ok(if appended.duplicate {
        Posted::Repeat(appended.message.seq)
    } else {
        Stats::add(&state.stats.messages_received, 1);
        Posted::Created(appended.message.seq)
    })
}
