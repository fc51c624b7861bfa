//! Validated values. Each type has a `parse` constructor (or, like `ClientIdOwner`, only constructors that
//! cannot make an invalid one); holding one means the value is valid.

mod client_id_owner;
mod invisible;
mod message_body;
mod room_name;
mod username;

pub use client_id_owner::{ClientIdOwner, IMPORT};
pub use message_body::{BodyError, MessageBody};
pub use room_name::RoomName;
pub use username::{Username, UsernameError};
