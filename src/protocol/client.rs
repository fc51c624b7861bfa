//! The frames a client sends and their parsing: a text frame becomes a [`ClientFrame`] or is refused with a
//! [`ProtocolError`] carrying a stable snake_case code (docs/PROTOCOL.md, "Client to server").

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::ErrorCode;
use crate::domain::{BodyError, Emoji, MessageBody, NotEmoji};
use crate::moderation::{
    Action, MAX_BAN_SECS, MAX_MUTE_SECS, MAX_SLOW_MODE_SECS, MAX_TARGET_CHARS,
};

/// Longest `client_id`, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;

/// A valid frame from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// `{"message": "..."}`, optionally with `"client_id"` and `"reply_to"` (and `"type": "message"`).
    Message {
        /// The text.
        body: MessageBody,
        /// The idempotency key, when given.
        client_id: Option<Arc<str>>,
        /// The message it answers, for a reply.
        reply_to: Option<u64>,
        /// Upload ids to attach (at most 10; none for a plain message).
        files: Vec<String>,
    },
    /// `{"type": "react", "id": N, "emoji": "..."}` (`add`) or `unreact`: one's reaction to message N.
    React {
        /// The message's id.
        target: u64,
        /// The emoji.
        emoji: Emoji,
        /// `react` (true) or `unreact`.
        add: bool,
        /// The idempotency key, when given.
        client_id: Option<Arc<str>>,
    },
    /// `{"type": "pin", "id": N}` (`add`) or `unpin`.
    Pin {
        /// The message's id.
        target: u64,
        /// `pin` (true) or `unpin`.
        add: bool,
        /// The idempotency key, when given.
        client_id: Option<Arc<str>>,
    },
    /// `{"type": "topic", "topic": "..."}`: the room's new topic (one line, trimmed).
    Topic {
        /// The topic ("" clears it).
        topic: String,
        /// The idempotency key, when given.
        client_id: Option<Arc<str>>,
    },
    /// `{"type": "resume", "since": N}`: replay everything after `since`, then go on live.
    Resume {
        /// The last id the client has.
        since: u64,
    },
    /// `{"type": "typing"}`: the sender is typing (ephemeral).
    Typing,
    /// `{"type": "edit", "id": N, "message": "..."}`: replace the text of message N.
    Edit {
        /// The message's id.
        target: u64,
        /// The new text.
        body: MessageBody,
        /// The idempotency key, when given.
        client_id: Option<Arc<str>>,
    },
    /// `{"type": "delete", "id": N}`: delete message N.
    Delete {
        /// The message's id.
        target: u64,
        /// The idempotency key, when given.
        client_id: Option<Arc<str>>,
    },
    /// `{"type": "read", "id": N}`: the sender has read the room up to N.
    Read {
        /// The last id read.
        id: u64,
    },
    /// A staff command on the room: `mute`, `unmute`, `ban`, `unban`, `kick` or `slow_mode`.
    Moderate {
        /// What to do.
        action: Action,
        /// Echoed in the answer, when given.
        client_id: Option<Arc<str>>,
    },
}

/// A refused client frame. The connection stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct ProtocolError {
    /// Why, for the client to match on.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub detail: String,
    /// The refused message's `client_id`, when it carried a valid one, so the client can drop it.
    pub client_id: Option<Arc<str>>,
}

impl ProtocolError {
    /// A refusal with `code` and `detail`, naming no `client_id`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            client_id: None,
        }
    }

    /// The answer to a binary frame.
    pub fn binary() -> Self {
        Self::new(
            ErrorCode::BinaryNotSupported,
            "binary frames are not supported; send JSON text",
        )
    }
}

#[derive(Deserialize)]
struct RawFrame {
    #[serde(rename = "type")]
    kind: Option<Value>,
    message: Option<Value>,
    client_id: Option<Value>,
    since: Option<Value>,
    id: Option<Value>,
    user: Option<Value>,
    seconds: Option<Value>,
    reply_to: Option<Value>,
    emoji: Option<Value>,
    topic: Option<Value>,
    files: Option<Value>,
}

/// Parses a text frame; `max_message_bytes` bounds the message text.
pub fn parse_client_frame(
    text: &str,
    max_message_bytes: usize,
) -> Result<ClientFrame, ProtocolError> {
    let raw: RawFrame = match serde_json::from_str(text) {
        Ok(raw) => raw,
        Err(e) if e.is_data() => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidFrame,
                "the frame must be a JSON object",
            ));
        }
        Err(_) => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidJson,
                "the frame is not valid JSON",
            ));
        }
    };
    match raw.kind.as_ref().map(|k| k.as_str()) {
        None | Some(Some("message")) => parse_message(raw, max_message_bytes),
        Some(Some("resume")) => parse_resume(raw),
        Some(Some("typing")) => Ok(ClientFrame::Typing),
        Some(Some("edit")) => {
            let client_id = parse_client_id(raw.client_id.as_ref())?;
            let target = parse_id(raw.id.as_ref(), &client_id)?;
            let body = parse_body(raw.message, max_message_bytes, &client_id)?;
            Ok(ClientFrame::Edit {
                target,
                body,
                client_id,
            })
        }
        Some(Some("delete")) => {
            let client_id = parse_client_id(raw.client_id.as_ref())?;
            let target = parse_id(raw.id.as_ref(), &client_id)?;
            Ok(ClientFrame::Delete { target, client_id })
        }
        Some(Some("read")) => Ok(ClientFrame::Read {
            id: parse_id(raw.id.as_ref(), &None)?,
        }),
        Some(Some(kind @ ("react" | "unreact"))) => {
            let client_id = parse_client_id(raw.client_id.as_ref())?;
            let target = parse_id(raw.id.as_ref(), &client_id)?;
            let emoji = match raw.emoji.as_ref() {
                Some(Value::String(text)) => Emoji::parse(text).ok(),
                _ => None,
            };
            let Some(emoji) = emoji else {
                return Err(ProtocolError {
                    client_id,
                    ..ProtocolError::new(ErrorCode::InvalidEmoji, NotEmoji.to_string())
                });
            };
            Ok(ClientFrame::React {
                target,
                emoji,
                add: kind == "react",
                client_id,
            })
        }
        Some(Some(kind @ ("pin" | "unpin"))) => {
            let client_id = parse_client_id(raw.client_id.as_ref())?;
            let target = parse_id(raw.id.as_ref(), &client_id)?;
            Ok(ClientFrame::Pin {
                target,
                add: kind == "pin",
                client_id,
            })
        }
        Some(Some("topic")) => {
            let client_id = parse_client_id(raw.client_id.as_ref())?;
            let topic = match raw.topic.as_ref() {
                Some(Value::String(text)) => crate::access::parse_topic(text).ok(),
                _ => None,
            };
            let Some(topic) = topic else {
                return Err(ProtocolError {
                    client_id,
                    ..ProtocolError::new(
                        ErrorCode::InvalidTopic,
                        format!(
                            "\"topic\" must be a string of at most {} characters",
                            crate::access::MAX_TOPIC_CHARS
                        ),
                    )
                });
            };
            Ok(ClientFrame::Topic { topic, client_id })
        }
        Some(Some(kind @ ("mute" | "unmute" | "ban" | "unban" | "kick" | "slow_mode"))) => {
            parse_moderation(kind, &raw)
        }
        Some(_) => Err(ProtocolError::new(
            ErrorCode::UnknownType,
            "\"type\" must be one of message, resume, typing, edit, delete, read, react, unreact, \
             pin, unpin, topic, mute, unmute, ban, unban, kick, slow_mode",
        )),
    }
}

fn parse_client_id(value: Option<&Value>) -> Result<Option<Arc<str>>, ProtocolError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        // Refused as such, without naming it: the client cannot match an id the store could not keep.
        Some(Value::String(id)) if id.contains('\0') => Err(ProtocolError::new(
            ErrorCode::InvalidCharacter,
            "\"client_id\" contains U+0000 (NUL), which cannot be stored",
        )),
        Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_CLIENT_ID_BYTES => {
            Ok(Some(Arc::from(id.as_str())))
        }
        Some(_) => Err(ProtocolError::new(
            ErrorCode::InvalidClientId,
            format!("\"client_id\" must be a string of 1 to {MAX_CLIENT_ID_BYTES} bytes"),
        )),
    }
}

/// A message id: a positive integer.
/// A JSON number that is a whole number, written `42` or `42.0` (JSON Schema's `integer` takes both, and
/// so do Python's and other clients' encoders of a float), up to 2^53.
fn whole(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let float = value.as_f64()?;
        let whole = float.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&float);
        whole.then_some(float as u64)
    })
}

fn parse_id(value: Option<&Value>, client_id: &Option<Arc<str>>) -> Result<u64, ProtocolError> {
    match value.and_then(whole) {
        Some(id) if id > 0 => Ok(id),
        _ => Err(ProtocolError {
            client_id: client_id.clone(),
            ..ProtocolError::new(ErrorCode::InvalidId, "\"id\" must be a positive integer")
        }),
    }
}

fn parse_body(
    message: Option<Value>,
    max_message_bytes: usize,
    client_id: &Option<Arc<str>>,
) -> Result<MessageBody, ProtocolError> {
    let refuse = |code, detail: String| ProtocolError {
        client_id: client_id.clone(),
        ..ProtocolError::new(code, detail)
    };
    let Some(Value::String(text)) = message else {
        return Err(refuse(
            ErrorCode::MissingMessage,
            "a chat frame needs a string \"message\"".into(),
        ));
    };
    MessageBody::parse(&text, max_message_bytes).map_err(|e| match e {
        BodyError::Empty => refuse(ErrorCode::EmptyMessage, e.to_string()),
        BodyError::TooLong { .. } => refuse(ErrorCode::MessageTooLong, e.to_string()),
        BodyError::Nul => refuse(ErrorCode::InvalidCharacter, e.to_string()),
    })
}

fn parse_message(raw: RawFrame, max_message_bytes: usize) -> Result<ClientFrame, ProtocolError> {
    let client_id = parse_client_id(raw.client_id.as_ref())?;
    let reply_to = parse_reply_to(raw.reply_to, &client_id)?;
    let files = parse_files(raw.files, &client_id)?;
    let body = if says_nothing(raw.message.as_ref(), &files) {
        MessageBody::empty()
    } else {
        parse_body(raw.message, max_message_bytes, &client_id)?
    };
    Ok(ClientFrame::Message {
        body,
        client_id,
        reply_to,
        files,
    })
}

/// `reply_to` of a message: absent, `null`, or the id (a positive integer) of the message it answers
/// (whether the room has it is `crate::posting::compose`'s to check). Shared with the publish API.
pub fn parse_reply_to(
    value: Option<Value>,
    client_id: &Option<Arc<str>>,
) -> Result<Option<u64>, ProtocolError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => parse_id(Some(&value), client_id).map(Some),
    }
}

/// Whether a message's `message` may be left out or blank: it attaches `files` (a message may attach
/// files and say nothing). Shared with the publish API.
pub fn says_nothing(message: Option<&Value>, files: &[String]) -> bool {
    match message {
        _ if files.is_empty() => false,
        None => true,
        Some(Value::String(text)) => text.trim().is_empty(),
        Some(_) => false,
    }
}

/// `files`: absent, `null`, or a list of at most [`crate::files::MAX_FILES_PER_MESSAGE`] distinct
/// upload ids. Shared with the publish API.
pub fn parse_files(
    files: Option<Value>,
    client_id: &Option<Arc<str>>,
) -> Result<Vec<String>, ProtocolError> {
    let refuse = || ProtocolError {
        client_id: client_id.clone(),
        ..ProtocolError::new(
            ErrorCode::InvalidFiles,
            "\"files\" is a list of at most 10 upload ids",
        )
    };
    let list = match files {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) if list.len() <= crate::files::MAX_FILES_PER_MESSAGE => list,
        Some(_) => return Err(refuse()),
    };
    let mut ids: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        match item {
            Value::String(id) if crate::files::is_id(&id) => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => return Err(refuse()),
        }
    }
    Ok(ids)
}

/// A staff command: `user` (an account name or a guest's nickname) and `seconds` as the command needs.
fn parse_moderation(kind: &str, raw: &RawFrame) -> Result<ClientFrame, ProtocolError> {
    let client_id = parse_client_id(raw.client_id.as_ref())?;
    let refuse = |code, detail: &str| ProtocolError {
        client_id: client_id.clone(),
        ..ProtocolError::new(code, detail)
    };
    let user = || match raw.user.as_ref() {
        Some(Value::String(user))
            if !user.trim().is_empty() && user.chars().count() <= MAX_TARGET_CHARS =>
        {
            Ok(user.trim().to_owned())
        }
        _ => Err(refuse(
            ErrorCode::InvalidUser,
            "\"user\" must name a user or a guest's nickname (1 to 150 characters)",
        )),
    };
    let seconds = |max: u64, optional: bool| match raw.seconds.as_ref() {
        None | Some(Value::Null) if optional => Ok(None),
        Some(value) => match value.as_u64() {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(refuse(
                ErrorCode::InvalidSeconds,
                &format!("\"seconds\" must be an integer from 0 to {max}"),
            )),
        },
        None => Err(refuse(ErrorCode::InvalidSeconds, "\"seconds\" is required")),
    };
    let action = match kind {
        "mute" => match seconds(MAX_MUTE_SECS, false)? {
            Some(seconds @ 1..) => Action::Mute {
                user: user()?,
                seconds,
            },
            _ => {
                return Err(refuse(
                    ErrorCode::InvalidSeconds,
                    "a mute lasts at least 1 second",
                ));
            }
        },
        "unmute" => Action::Unmute { user: user()? },
        // 0 or none: until lifted.
        "ban" => Action::Ban {
            user: user()?,
            seconds: seconds(MAX_BAN_SECS, true)?.filter(|&s| s > 0),
        },
        "unban" => Action::Unban { user: user()? },
        "kick" => Action::Kick { user: user()? },
        _ => Action::SlowMode {
            seconds: seconds(MAX_SLOW_MODE_SECS, false)?.unwrap_or(0),
        },
    };
    Ok(ClientFrame::Moderate { action, client_id })
}

fn parse_resume(raw: RawFrame) -> Result<ClientFrame, ProtocolError> {
    match raw.since.as_ref().and_then(Value::as_u64) {
        Some(since) => Ok(ClientFrame::Resume { since }),
        None => Err(ProtocolError::new(
            ErrorCode::InvalidSince,
            "\"since\" must be a non-negative integer",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(text: &str) -> &'static str {
        parse_client_frame(text, 16)
            .expect_err("should be refused")
            .code
            .as_str()
    }

    #[test]
    fn the_channels_frame_and_our_extensions_parse() {
        let frame = parse_client_frame(r#"{"message":"hi"}"#, 16).expect("valid");
        assert!(matches!(
            frame,
            ClientFrame::Message {
                client_id: None,
                reply_to: None,
                ref files,
                ..
            } if files.is_empty()
        ));
        // Files: ids attached, the text may then be empty; anything else about them is refused.
        let id = "0123456789abcdef0123456789abcdef";
        let frame =
            parse_client_frame(&format!(r#"{{"message":" ","files":["{id}","{id}"]}}"#), 16)
                .expect("valid");
        assert!(
            matches!(frame, ClientFrame::Message { ref body, ref files, .. } if body.as_str().is_empty() && files == &[id])
        );
        for bad in [
            r#"{"message":"hi","files":"x"}"#.to_owned(),
            r#"{"message":"hi","files":["../etc"]}"#.to_owned(),
            format!(
                r#"{{"message":"hi","files":[{}]}}"#,
                vec![format!("\"{id}\""); 11].join(",")
            ),
        ] {
            let error = parse_client_frame(&bad, 16).expect_err(&bad);
            assert_eq!(error.code, ErrorCode::InvalidFiles, "{bad}");
        }
        let error = parse_client_frame(r#"{"message":"","files":[]}"#, 16).expect_err("empty");
        assert_eq!(error.code, ErrorCode::EmptyMessage);
        let frame = parse_client_frame(r#"{"type":"message","message":"hi","client_id":"c1"}"#, 16)
            .expect("valid");
        assert!(matches!(frame, ClientFrame::Message { client_id: Some(c), .. } if &*c == "c1"));
        assert_eq!(
            parse_client_frame(r#"{"type":"resume","since":7}"#, 16),
            Ok(ClientFrame::Resume { since: 7 })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"typing"}"#, 16),
            Ok(ClientFrame::Typing)
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"read","id":9}"#, 16),
            Ok(ClientFrame::Read { id: 9 })
        );
        let frame = parse_client_frame(
            r#"{"type":"edit","id":3,"message":"new","client_id":"e"}"#,
            16,
        )
        .expect("valid");
        assert!(
            matches!(frame, ClientFrame::Edit { target: 3, ref body, client_id: Some(ref c) } if body.as_str() == "new" && &**c == "e")
        );
        assert!(matches!(
            parse_client_frame(r#"{"type":"delete","id":3}"#, 16),
            Ok(ClientFrame::Delete {
                target: 3,
                client_id: None
            })
        ));
    }

    #[test]
    fn bad_frames_get_stable_codes() {
        assert_eq!(code("not json"), "invalid_json");
        assert_eq!(code("[1,2]"), "invalid_frame");
        assert_eq!(code(r#"{"msg":"hi"}"#), "missing_message");
        assert_eq!(code(r#"{"message":5}"#), "missing_message");
        assert_eq!(code(r#"{"message":"  "}"#), "empty_message");
        assert_eq!(
            code(r#"{"message":"12345678901234567"}"#),
            "message_too_long"
        );
        assert_eq!(
            code(r#"{"message":"hi","client_id":7}"#),
            "invalid_client_id"
        );
        assert_eq!(code(r#"{"type":"resume","since":-1}"#), "invalid_since");
        assert_eq!(code(r#"{"type":"dance"}"#), "unknown_type");
        assert_eq!(
            code(r#"{"type":"edit","id":0,"message":"x"}"#),
            "invalid_id"
        );
        assert_eq!(
            code(r#"{"type":"edit","id":"3","message":"x"}"#),
            "invalid_id"
        );
        assert_eq!(code(r#"{"type":"edit","id":3}"#), "missing_message");
        assert_eq!(
            code(r#"{"type":"edit","id":3,"message":" "}"#),
            "empty_message"
        );
        assert_eq!(code(r#"{"type":"delete"}"#), "invalid_id");
        assert_eq!(code(r#"{"type":"read","id":-2}"#), "invalid_id");
        assert_eq!(code(r#"{"type":"read","id":2.5}"#), "invalid_id");
        assert_eq!(code(r#"{"type":"read","id":0.0}"#), "invalid_id");
        assert_eq!(code(r#"{"type":"read","id":1e300}"#), "invalid_id");
    }

    #[test]
    fn a_whole_number_written_as_a_float_is_an_id() {
        // JSON Schema's integer (the OpenAPI document's) takes 4374.0, and so must the server.
        assert_eq!(whole(&serde_json::json!(4374.0)), Some(4374));
        assert_eq!(whole(&serde_json::json!(4374)), Some(4374));
        assert_eq!(whole(&serde_json::json!(-1.0)), None);
        assert_eq!(
            parse_reply_to(Some(serde_json::json!(41.0)), &None).ok(),
            Some(Some(41))
        );
    }

    #[test]
    fn a_refused_message_names_its_client_id() {
        let error =
            parse_client_frame(r#"{"message":" ","client_id":"c9"}"#, 16).expect_err("empty");
        assert_eq!(error.client_id.as_deref(), Some("c9"));
    }

    #[test]
    fn nul_is_refused_in_texts_edits_and_client_ids_with_its_own_code() {
        let error = parse_client_frame(r#"{"message":"a\u0000b","client_id":"c1"}"#, 16)
            .expect_err("NUL in a message");
        assert_eq!(
            (error.code, error.client_id.as_deref()),
            (ErrorCode::InvalidCharacter, Some("c1"))
        );
        let error = parse_client_frame(
            r#"{"type":"edit","id":3,"message":"\u0000","client_id":"e"}"#,
            16,
        )
        .expect_err("NUL in an edit");
        assert_eq!(
            (error.code, error.client_id.as_deref()),
            (ErrorCode::InvalidCharacter, Some("e"))
        );
        let error = parse_client_frame(r#"{"message":"hi","client_id":"c\u0000"}"#, 16)
            .expect_err("NUL in a client_id");
        assert_eq!(
            (error.code, error.client_id),
            (ErrorCode::InvalidCharacter, None)
        );
        let error = parse_client_frame(r#"{"type":"delete","id":3,"client_id":"\u0000"}"#, 16)
            .expect_err("NUL in a delete's client_id");
        assert_eq!(error.code, ErrorCode::InvalidCharacter);
    }

    #[test]
    fn staff_commands_parse_and_their_bounds_have_codes() {
        let action = |text: &str| match parse_client_frame(text, 16) {
            Ok(ClientFrame::Moderate { action, .. }) => action,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            action(r#"{"type":"mute","user":" bob ","seconds":600}"#),
            Action::Mute {
                user: "bob".into(),
                seconds: 600
            }
        );
        assert_eq!(
            action(r#"{"type":"ban","user":"bob"}"#),
            Action::Ban {
                user: "bob".into(),
                seconds: None
            }
        );
        assert_eq!(
            action(r#"{"type":"ban","user":"bob","seconds":0}"#),
            Action::Ban {
                user: "bob".into(),
                seconds: None
            }
        );
        assert_eq!(
            action(r#"{"type":"unban","user":"bob"}"#),
            Action::Unban { user: "bob".into() }
        );
        assert_eq!(
            action(r#"{"type":"kick","user":"bob"}"#),
            Action::Kick { user: "bob".into() }
        );
        assert_eq!(
            action(r#"{"type":"slow_mode","seconds":0}"#),
            Action::SlowMode { seconds: 0 }
        );
        let frame = parse_client_frame(r#"{"type":"unmute","user":"bob","client_id":"m1"}"#, 16);
        assert!(
            matches!(frame, Ok(ClientFrame::Moderate { client_id: Some(ref c), .. }) if &**c == "m1")
        );
        assert_eq!(code(r#"{"type":"mute","user":"bob"}"#), "invalid_seconds");
        assert_eq!(
            code(r#"{"type":"mute","user":"bob","seconds":0}"#),
            "invalid_seconds"
        );
        assert_eq!(
            code(r#"{"type":"mute","user":"bob","seconds":-5}"#),
            "invalid_seconds"
        );
        assert_eq!(
            code(r#"{"type":"slow_mode","seconds":21601}"#),
            "invalid_seconds"
        );
        assert_eq!(code(r#"{"type":"kick"}"#), "invalid_user");
        assert_eq!(code(r#"{"type":"kick","user":"  "}"#), "invalid_user");
        assert_eq!(code(r#"{"type":"ban","user":7}"#), "invalid_user");
        let error =
            parse_client_frame(r#"{"type":"kick","client_id":"k"}"#, 16).expect_err("no user");
        assert_eq!(error.client_id.as_deref(), Some("k"));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}") {
            let _ = parse_client_frame(&text, 64);
        }

        #[test]
        fn any_valid_message_round_trips(text in "\\PC{1,64}", id in "[a-z0-9-]{1,64}") {
            prop_assume!(!text.trim().is_empty());
            let json = serde_json::json!({"message": text, "client_id": id}).to_string();
            match parse_client_frame(&json, 1024) {
                Ok(ClientFrame::Message { body, client_id, .. }) => {
                    prop_assert_eq!(body.as_str(), text.as_str());
                    prop_assert_eq!(client_id.as_deref(), Some(id.as_str()));
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
