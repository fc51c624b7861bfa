//! Posting: one chat message, from whichever door it came (a socket's `message` frame, the publish API,
//! an incoming webhook), made ready for the store the same way. [`compose`] checks what the message
//! names (its thread's root, its files) and resolves its mentions, off the writer; the caller has
//! already counted it against the limits and the room's moderation. A socket queues the result and
//! answers in turn (src/ws/consumer/frames.rs); a request waits for it ([`once`]). The store's writer
//! then does the rest alike for all: a repeated `client_id` answered with the original, a locked room
//! refused, the commit fanned out to every node.

pub mod once;

use std::sync::Arc;

use crate::access::{MAX_MENTIONS, Mentioner};
use crate::domain::{ClientIdOwner, FileRef, MessageBody, RoomName, Username};
use crate::state::AppState;
use crate::storage::{Attached, Mentions, NewMessage, StoreError, Thumb};

/// What a sender asks to post.
#[derive(Clone, Debug)]
pub struct Draft {
    /// The text (empty only when it attaches files).
    pub body: MessageBody,
    /// The sender's idempotency key.
    pub client_id: Option<Arc<str>>,
    /// The message it replies to.
    pub reply_to: Option<u64>,
    /// Upload ids to attach.
    pub files: Vec<String>,
}

/// Who posts, as the message is stored.
pub struct Poster<'a> {
    /// The room it goes to.
    pub room: &'a RoomName,
    /// The name it is shown under.
    pub name: &'a Username,
    /// The author's account (`None`: a guest, or an incoming webhook).
    pub user_id: Option<i64>,
    /// Whose `client_id`s the sender's are.
    pub owner: &'a ClientIdOwner,
    /// Whether the author moderates the room now (for `@room` and `@here` in a large room).
    pub privileged: bool,
    /// A bot account or an incoming webhook.
    pub bot: bool,
}

/// Why a draft was not made a message.
#[derive(Debug)]
pub enum Refused {
    /// `reply_to` names no message of the room, or a deleted one.
    NoThreadRoot,
    /// A file is not an upload of the sender's to this room waiting to be attached.
    FileNotFound,
    /// The database could not be read.
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// The message `poster` posts with `draft`, ready for [`crate::storage::Store::submit`].
pub async fn compose(
    state: &AppState,
    poster: Poster<'_>,
    draft: Draft,
) -> Result<NewMessage, Refused> {
    let room = poster.room;
    // A reply names its thread's root; checked here, off the writer (a root deleted meanwhile keeps
    // its thread, as a deleted message keeps its id).
    let reply_to = match draft.reply_to {
        Some(id) => match state.store.db().thread_root(room, id, true).await? {
            Some(root) => Some(root),
            None => return Err(Refused::NoThreadRoot),
        },
        None => None,
    };
    let files = attach(state, &poster, draft.files, draft.client_id.as_deref())
        .await?
        .ok_or(Refused::FileNotFound)?;
    let mentions = if draft.body.as_str().contains('@') {
        let presence = &state.presence;
        let from = Mentioner {
            room,
            author_id: poster.user_id,
            privileged: poster.privileged,
            here: (
                presence.accounts_here(room, MAX_MENTIONS),
                presence.member_count(room),
            ),
            all_max: state.config.mention_all_max,
        };
        state.access.mentions(from, draft.body.as_str()).await?
    } else {
        Mentions::default()
    };
    Ok(NewMessage {
        room: room.clone(),
        author: poster.name.clone(),
        author_id: poster.user_id,
        body: draft.body,
        client_id: draft.client_id,
        owner: poster.owner.clone(),
        reply_to,
        mentions,
        files,
        bot: poster.bot,
    })
}

/// The uploads `ids` as a send attaches them: each an upload of the sender's to this room not attached
/// yet (`None` when one is not). Checked here, off the writer; the writer attaches them in the message's
/// transaction. A repeat of a stored send (its files attached by then) goes on without them: the writer
/// answers it with the original.
async fn attach(
    state: &AppState,
    poster: &Poster<'_>,
    ids: Vec<String>,
    client_id: Option<&str>,
) -> Result<Option<Attached>, StoreError> {
    if ids.is_empty() {
        return Ok(Some(Attached::default()));
    }
    let db = state.store.db();
    let (room, owner) = (poster.room.as_str(), poster.owner.as_str());
    let rows = db.attachable(room, owner, &ids).await?;
    if rows.len() < ids.len() {
        let repeat = match client_id {
            Some(client_id) => db.sent(room, owner, client_id).await?,
            None => false,
        };
        return Ok(repeat.then(Attached::default));
    }
    let files: Vec<FileRef> = rows
        .into_iter()
        .map(|row| FileRef {
            id: row.id,
            name: row.name,
            size: row.size,
            media_type: row.media_type,
            width: row.width,
            height: row.height,
            thumb: row.thumb != Thumb::None,
        })
        .collect();
    Ok(Some(Attached {
        json: FileRef::store(&files),
        ids,
    }))
}
