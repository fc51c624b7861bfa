//! Validated values, each with a `parse` constructor (or, like `ClientIdOwner`, only constructors that
//! cannot make an invalid one; holding one means the value is valid), and the one way a timestamp is
//! written (`rfc3339_ms`).

mod client_id_owner;
mod emoji;
mod file_ref;
mod invisible;
pub use invisible::invisible;
mod message_body;
mod room_kind;
mod room_name;
mod timestamp;
mod username;

pub use client_id_owner::{ClientIdOwner, IMPORT};
pub use emoji::{Emoji, MAX_EMOJI_BYTES, NotEmoji};
pub use file_ref::{FileRef, FileView, FileViews};
pub use message_body::{BodyError, MessageBody};
pub use room_kind::{Role, RoomKind};
pub use room_name::RoomName;
pub use timestamp::rfc3339_ms;
pub use username::{Username, UsernameError};
