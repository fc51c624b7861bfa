//! Property tests on everything a client can type: frames, room names, nicknames, account names. Whatever
//! the input, no panic, and every input is either accepted as a valid value or refused with a known code.

use chatweb::domain::{RoomName, Username};
use chatweb::protocol::{ClientFrame, parse_client_frame};
use proptest::prelude::*;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

/// Every code a refused frame may carry (docs/PROTOCOL.md, "error").
const FRAME_CODES: &[&str] = &[
    "invalid_json",
    "invalid_frame",
    "missing_message",
    "empty_message",
    "message_too_long",
    "invalid_client_id",
    "invalid_since",
    "unknown_type",
    "invalid_id",
    "invalid_character",
];

/// Any JSON value, a few levels deep, with the protocol's keys more likely than random ones.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("message".to_owned()),
        Just("client_id".to_owned()),
        Just("since".to_owned()),
        Just("id".to_owned()),
        "\\PC{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("message".to_owned()),
            Just("resume".to_owned()),
            Just("typing".to_owned()),
            Just("edit".to_owned()),
            Just("delete".to_owned()),
            Just("read".to_owned()),
            "\\PC{0,40}",
            ".{0,20}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn no_invisible(text: &str) -> bool {
    !text.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_frame_is_accepted_or_refused_with_a_known_code(value in json_value()) {
        match parse_client_frame(&value.to_string(), 4096) {
            Ok(ClientFrame::Message { body, client_id, .. }) => {
                prop_assert!(!body.as_str().trim().is_empty());
                prop_assert!(!body.as_str().contains('\0'));
                prop_assert!(client_id.is_none_or(|id| !id.is_empty() && id.len() <= 64 && !id.contains('\0')));
            }
            Ok(_) => {}
            Err(error) => prop_assert!(FRAME_CODES.contains(&error.code.as_str()), "unknown code {}", error.code),
        }
    }

    #[test]
    fn any_text_frame_is_accepted_or_refused_with_a_known_code(text in "\\PC{0,200}|.{0,50}") {
        if let Err(error) = parse_client_frame(&text, 4096) {
            prop_assert!(FRAME_CODES.contains(&error.code.as_str()), "unknown code {}", error.code);
        }
    }

    #[test]
    fn a_room_name_is_refused_or_a_canonical_reachable_name(text in "\\PC{0,70}|[.a-zA-Z\u{0300}-\u{0301}\u{200b}\u{202e}é]{0,6}") {
        if let Some(room) = RoomName::parse(&text) {
            let name = room.as_str();
            prop_assert!(!name.is_empty() && name.chars().count() <= 64);
            prop_assert!(name != "." && name != "..", "unreachable from a browser: {name:?}");
            prop_assert!(no_invisible(name), "{name:?}");
            prop_assert_eq!(name.nfc().collect::<String>(), name.to_owned(), "NFC");
            prop_assert_eq!(RoomName::parse(name), Some(room.clone()), "stable");
        }
    }

    #[test]
    fn a_nickname_is_refused_or_visible_nfc_text(text in "\\PC{0,40}|[ab\u{0300}\u{200b}\u{202e}\u{feff}\u{0}]{0,6}") {
        if let Some(name) = Username::parse(&text) {
            let name = name.as_str();
            prop_assert!(!name.is_empty() && name.chars().count() <= 32);
            prop_assert!(no_invisible(name), "{name:?}");
            prop_assert_eq!(name.nfc().collect::<String>(), name.to_owned(), "NFC");
        }
    }

    #[test]
    fn an_account_name_is_refused_or_follows_djangos_rule(text in "\\PC{0,160}|[aB1@.+_\u{0300}\u{202e}-]{0,8}") {
        if let Ok(name) = Username::parse_account(&text) {
            let name = name.as_str();
            prop_assert!(name.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)), "{name:?}");
            prop_assert!(name.chars().count() <= 150);
        }
    }
}
