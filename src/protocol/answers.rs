//! The frames that answer a client's own frames, built from the values the rest of the server hands back:
//! an ack or the store's failure for a send, a refused frame, a limit's or moderation's hold, a staff
//! command's outcome. Each is a [`ServerFrame`]; the `error` ones carry an [`ErrorCode`].

use super::server::ServerFrame;
use super::{ErrorCode, ProtocolError};
use crate::domain::rfc3339_ms;
use crate::limits::refusal::Refusal;
use crate::moderation::action::{Done, Hold, ModerationError};
use crate::storage::{Outcome, StoreError, now_ms};

/// The error frame for a refused client frame.
pub fn refused(error: &ProtocolError) -> String {
    ServerFrame::Error {
        code: error.code,
        detail: &error.detail,
        client_id: error.client_id.as_deref(),
    }
    .encode()
}

/// The error frame for a frame a limit held back, naming the refused send's `client_id` if it had one.
pub fn rate_limited(refusal: &Refusal, client_id: Option<&str>) -> String {
    ServerFrame::Limited {
        code: ErrorCode::RateLimited,
        detail: refusal.limit.detail(),
        limit: refusal.limit.name(),
        retry_after_ms: refusal.retry_after_ms(),
        client_id,
    }
    .encode()
}

/// The error frame that answers a send (or an edit) moderation held back, naming its `client_id`.
pub fn held(hold: &Hold, client_id: Option<&str>) -> String {
    match hold {
        Hold::Muted { until_ms } => {
            let until = rfc3339_ms(*until_ms);
            let detail = format!("you are muted in this room until {until}");
            ServerFrame::Held {
                code: ErrorCode::Muted,
                detail: &detail,
                client_id,
                retry_after_ms: Some(u64::try_from(until_ms - now_ms()).unwrap_or(0)),
                until: Some(&until),
            }
            .encode()
        }
        Hold::Banned => ServerFrame::Held {
            code: ErrorCode::Banned,
            detail: "you are banned from this room",
            client_id,
            retry_after_ms: None,
            until: None,
        }
        .encode(),
        Hold::SlowMode { retry_after } => {
            // Rounded up: a client that waits exactly this long is let through.
            let ms = u64::try_from(retry_after.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
            let detail = format!("this room is in slow mode: wait {ms} ms before sending again");
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

/// The answer to a staff command on `room`: `moderated` once carried out, else an error frame.
pub fn moderation_answer(
    room: &str,
    outcome: &Result<Done, ModerationError>,
    client_id: Option<&str>,
) -> String {
    match outcome {
        Ok(done) => {
            let until = done.until_ms.map(rfc3339_ms);
            ServerFrame::Moderated {
                action: done.action,
                room,
                user: done.user.as_deref(),
                guest: done.guest,
                until: until.as_deref(),
                seconds: done.seconds,
                client_id,
            }
            .encode()
        }
        Err(error) => {
            let code = match error {
                ModerationError::NotStaff | ModerationError::StaffTarget(_) => ErrorCode::Forbidden,
                ModerationError::InvalidUser(_) => ErrorCode::InvalidUser,
                ModerationError::InvalidSeconds(_) => ErrorCode::InvalidSeconds,
                ModerationError::NotFound(_) => ErrorCode::NotFound,
                ModerationError::Store(_) => ErrorCode::StoreUnavailable,
            };
            let detail = match error {
                // The database's words are for the log, not the client.
                ModerationError::Store(_) => "the command was not stored; send it again".into(),
                other => other.to_string(),
            };
            ServerFrame::Error {
                code,
                detail: &detail,
                client_id,
            }
            .encode()
        }
    }
}

/// The frame telling a sender how its send, edit or deletion fared: an ack once stored (only for a
/// `client_id` send; plain Channels clients see their message arrive instead), an error frame otherwise.
pub fn outcome(client_id: Option<&str>, outcome: &Outcome) -> Option<String> {
    match (outcome, client_id) {
        (Ok(_), None) => None,
        (Ok(appended), Some(client_id)) => Some(
            ServerFrame::Ack {
                client_id,
                id: appended.message.seq,
                duplicate: appended.duplicate,
            }
            .encode(),
        ),
        (Err(error), client_id) => Some(store_failed(client_id, error)),
    }
}

/// The error frame for a send the store failed (or, `Closed`, that the writer did not take).
pub fn store_failed(client_id: Option<&str>, error: &StoreError) -> String {
    let (code, detail) = match error {
        StoreError::NotFound(detail) => (ErrorCode::NotFound, *detail),
        StoreError::Forbidden(detail) => (ErrorCode::Forbidden, *detail),
        // Only from a submit the writer did not take: known not to be stored.
        StoreError::Closed => (
            ErrorCode::ShuttingDown,
            "the server is stopping; send it again after reconnecting",
        ),
        StoreError::TimedOut(_) => (
            ErrorCode::OutcomeUnknown,
            "the store did not answer in time: the message may be stored; send it again with the \
             same client_id (a repeat is recognised) or look for it after resuming",
        ),
        StoreError::RoomLocked => (
            ErrorCode::RoomLocked,
            "this room is read-only: an administrator locked it",
        ),
        StoreError::Refused(_) => (
            ErrorCode::MessageRefused,
            "the store refused this message; sending it again unchanged fails again",
        ),
        StoreError::TooManyReactions(_) => (
            ErrorCode::TooManyReactions,
            "this message has as many different reactions as it may take",
        ),
        StoreError::TooManyPins(_) => (
            ErrorCode::TooManyPins,
            "this room has as many pins as it may hold: unpin one first",
        ),
        _ => (
            ErrorCode::StoreUnavailable,
            "the message was not stored; send it again",
        ),
    };
    ServerFrame::Error {
        code,
        detail,
        client_id,
    }
    .encode()
}

/// The answer to a send whose outcome this node cannot tell (never a failure: it may be stored).
pub fn outcome_unknown(client_id: Option<&str>) -> String {
    ServerFrame::Error {
        code: ErrorCode::OutcomeUnknown,
        detail: "the server stopped before it knew whether this message was stored: after \
                 reconnecting, resume with since and look for it (a send with client_id may be resent)",
        client_id,
    }
    .encode()
}

/// The last frame before a close with 1011: the room's messages cannot be delivered now.
pub fn unavailable() -> String {
    ServerFrame::Error {
        code: ErrorCode::Unavailable,
        detail: "messages could not be delivered right now; reconnect with since",
        client_id: None,
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::limits::Limit;

    #[test]
    fn a_rate_limited_frame_names_the_code_the_wait_and_the_send() {
        let refusal = Refusal {
            limit: Limit::Sends,
            retry_after: Duration::from_micros(49_001),
        };
        assert_eq!(
            rate_limited(&refusal, Some("c1")),
            r#"{"type":"error","code":"rate_limited","detail":"too many messages: wait retry_after_ms, then send it again","limit":"sends","retry_after_ms":50,"client_id":"c1"}"#
        );
        let frame: Value = serde_json::from_str(&rate_limited(&refusal, None)).expect("json");
        assert!(frame.get("client_id").is_none());
    }

    #[test]
    fn held_sends_say_why_and_when_to_try_again() {
        let slow = Hold::SlowMode {
            retry_after: Duration::from_micros(1_500_001),
        };
        assert_eq!(
            held(&slow, Some("c1")),
            r#"{"type":"error","code":"slow_mode","detail":"this room is in slow mode: wait 1501 ms before sending again","client_id":"c1","retry_after_ms":1501}"#
        );
        let until_ms = now_ms() + 60_000;
        let frame: Value =
            serde_json::from_str(&held(&Hold::Muted { until_ms }, None)).expect("json");
        assert_eq!(frame["code"], "muted");
        assert_eq!(frame["until"], rfc3339_ms(until_ms));
        let wait = frame["retry_after_ms"].as_u64().expect("retry_after_ms");
        assert!((59_000..=60_000).contains(&wait), "{wait}");
        assert!(frame.get("client_id").is_none());
        assert_eq!(
            held(&Hold::Banned, None),
            r#"{"type":"error","code":"banned","detail":"you are banned from this room"}"#
        );
    }

    #[test]
    fn moderation_answers_say_what_was_done_or_why_not() {
        let done = Done {
            action: "mute",
            user: Some("bob".into()),
            guest: true,
            until_ms: None,
            seconds: Some(60),
        };
        assert_eq!(
            moderation_answer("lobby", &Ok(done), Some("m1")),
            r#"{"type":"moderated","action":"mute","room":"lobby","user":"bob","guest":true,"seconds":60,"client_id":"m1"}"#
        );
        assert_eq!(
            moderation_answer("lobby", &Err(ModerationError::NotStaff), None),
            r#"{"type":"error","code":"forbidden","detail":"only staff and the room's owners and moderators may moderate it"}"#
        );
        let stored = Err(ModerationError::Store(StoreError::Closed));
        let frame: Value =
            serde_json::from_str(&moderation_answer("lobby", &stored, None)).expect("json");
        assert_eq!(
            (frame["code"].as_str(), frame["detail"].as_str()),
            (
                Some("store_unavailable"),
                Some("the command was not stored; send it again")
            )
        );
    }
}
