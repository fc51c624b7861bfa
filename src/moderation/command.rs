//! Moderation on the socket: a staff client's command answered with a `moderated` frame or an error, and
//! the error frame a held send gets (`muted`, `banned`, `slow_mode`), which says when to try again.

use super::{Action, Hold, Moderation, ModerationError, Via};
use crate::accounts::Identity;
use crate::domain::RoomName;
use crate::domain::rfc3339_ms;
use crate::protocol::{ErrorCode, ServerFrame};
use crate::storage::now_ms;

impl Moderation {
    /// Carries out a socket command of `identity` on its `room`; returns the frame that answers it.
    pub async fn command(
        &self,
        identity: &Identity,
        room: &RoomName,
        action: Action,
        client_id: Option<&str>,
    ) -> String {
        let outcome = match identity.user() {
            Some(actor) => self.act(actor, room, &action, Via::Socket).await,
            None => Err(ModerationError::NotStaff),
        };
        match outcome {
            Ok(done) => {
                let until = done.until_ms.map(rfc3339_ms);
                ServerFrame::Moderated {
                    action: done.action,
                    room: room.as_str(),
                    user: done.user.as_deref(),
                    guest: done.guest,
                    until: until.as_deref(),
                    seconds: done.seconds,
                    client_id,
                }
                .encode()
            }
            Err(error) => {
                if let ModerationError::Store(cause) = &error {
                    tracing::warn!(error = %cause, "a moderation command could not be stored");
                }
                let detail = match &error {
                    // The database's words are for the log, not the client.
                    ModerationError::Store(_) => "the command was not stored; send it again".into(),
                    other => other.to_string(),
                };
                ServerFrame::Error {
                    code: error_code(&error),
                    detail: &detail,
                    client_id,
                }
                .encode()
            }
        }
    }
}

/// The code of the error frame that answers a command refused with `error`.
fn error_code(error: &ModerationError) -> ErrorCode {
    match error {
        ModerationError::NotStaff | ModerationError::StaffTarget(_) => ErrorCode::Forbidden,
        ModerationError::InvalidUser(_) => ErrorCode::InvalidUser,
        ModerationError::InvalidSeconds(_) => ErrorCode::InvalidSeconds,
        ModerationError::NotFound(_) => ErrorCode::NotFound,
        ModerationError::Store(_) => ErrorCode::StoreUnavailable,
    }
}

impl Hold {
    /// The error frame that answers a send (or an edit) held back, naming its `client_id`.
    pub fn frame(&self, client_id: Option<&str>) -> String {
        let now = now_ms();
        match self {
            Self::Muted { until_ms } => {
                let until = rfc3339_ms(*until_ms);
                let detail = format!("you are muted in this room until {until}");
                ServerFrame::Held {
                    code: ErrorCode::Muted,
                    detail: &detail,
                    client_id,
                    retry_after_ms: Some(u64::try_from(until_ms - now).unwrap_or(0)),
                    until: Some(&until),
                }
                .encode()
            }
            Self::Banned => ServerFrame::Held {
                code: ErrorCode::Banned,
                detail: "you are banned from this room",
                client_id,
                retry_after_ms: None,
                until: None,
            }
            .encode(),
            Self::SlowMode { retry_after } => {
                // Rounded up: a client that waits exactly this long is let through.
                let ms = u64::try_from(retry_after.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
                let detail =
                    format!("this room is in slow mode: wait {ms} ms before sending again");
                ServerFrame::Held {
                    code: ErrorCode::SlowMode,
                    detail: &detail,
                    client_id,
                    retry_after_ms: Some(ms),
                    until: None,
                }
                .encode()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;

    #[test]
    fn held_sends_say_why_and_when_to_try_again() {
        let frame: Value = serde_json::from_str(
            &Hold::SlowMode {
                retry_after: Duration::from_micros(1_500_001),
            }
            .frame(Some("c1")),
        )
        .expect("json");
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["code"], "slow_mode");
        assert_eq!(frame["retry_after_ms"], 1501);
        assert_eq!(frame["client_id"], "c1");
        assert!(frame.get("until").is_none());
        let until_ms = now_ms() + 60_000;
        let frame: Value =
            serde_json::from_str(&Hold::Muted { until_ms }.frame(None)).expect("json");
        assert_eq!(frame["code"], "muted");
        assert_eq!(frame["until"], rfc3339_ms(until_ms));
        let wait = frame["retry_after_ms"].as_u64().expect("retry_after_ms");
        assert!((59_000..=60_000).contains(&wait), "{wait}");
        assert!(frame.get("client_id").is_none());
    }
}
