//! Validated values. Each type has a `parse` constructor; holding one means the value is valid.

mod invisible;
mod message_body;
mod room_kind;
mod room_name;
mod username;

pub use message_body::{BodyError, MessageBody};
pub use room_kind::{Role, RoomKind};
pub use room_name::RoomName;
pub use username::{Username, UsernameError};
