//! Validated values, each with a `parse` constructor (holding one means the value is valid), and the one
//! way a timestamp is written (`rfc3339_ms`).

mod invisible;
mod message_body;
mod room_kind;
mod room_name;
mod timestamp;
mod username;

pub use message_body::{BodyError, MessageBody};
pub use room_kind::{Role, RoomKind};
pub use room_name::RoomName;
pub use timestamp::rfc3339_ms;
pub use username::{Username, UsernameError};
