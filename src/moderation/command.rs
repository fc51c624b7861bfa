//! Moderation on the socket: a staff client's command carried out, its outcome returned for the socket to
//! answer (`crate::protocol` encodes the `moderated` frame or the error).

use super::{Action, Done, Moderation, ModerationError, Via};
use crate::accounts::Identity;
use crate::domain::RoomName;

impl Moderation {
    /// Carries out a socket command of `identity` on its `room`. A store failure is logged here; the
    /// client is only told to send it again.
    pub async fn command(
        &self,
        identity: &Identity,
        room: &RoomName,
        action: Action,
    ) -> Result<Done, ModerationError> {
        let outcome = match identity.user() {
            Some(actor) => self.act(actor, room, &action, Via::Socket).await,
            None => Err(ModerationError::NotStaff),
        };
        if let Err(ModerationError::Store(cause)) = &outcome {
            tracing::warn!(error = %cause, "a moderation command could not be stored");
        }
        outcome
    }
}
