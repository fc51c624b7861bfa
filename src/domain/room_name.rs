//! `RoomName`: 1 to 64 characters, each a letter or digit of any script, `-`, `_` or `.`, NFC-normalised (a
//! name typed decomposed is the same room), never `.` or `..` (a browser resolves those path segments away,
//! so such a room could be listed yet never opened), and without invisible characters (format characters,
//! fillers: see `invisible.rs`), so that no room looks like another it is not.

use std::fmt;
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use super::invisible::invisible;

/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;

/// Input longer than this many characters cannot normalise to a valid name (composition merges at most a
/// few code points into one), so it is refused before normalising it.
const MAX_INPUT_CHARS: usize = MAX_ROOM_NAME_CHARS * 8;

/// A valid room name. Cheap to clone (shared string).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(Arc<str>);

impl RoomName {
    /// Accepts `name`, NFC-normalised, if it is 1 to 64 letters, digits, `-`, `_` or `.`, is not `.` or
    /// `..` and holds no invisible character; `None` otherwise.
    pub fn parse(name: &str) -> Option<Self> {
        if name.chars().nth(MAX_INPUT_CHARS).is_some() {
            return None;
        }
        let name: String = name.nfc().collect();
        let count = name.chars().count();
        let allowed =
            |c: char| (c.is_alphanumeric() || matches!(c, '-' | '_' | '.')) && !invisible(c);
        let valid = (1..=MAX_ROOM_NAME_CHARS).contains(&count)
            && name.chars().all(allowed)
            && name != "."
            && name != "..";
        valid.then(|| Self(Arc::from(name)))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn letters_digits_and_punctuation_of_any_script_are_accepted() {
        for name in [
            "lobby",
            "Room-1",
            "a_b.c",
            "café",
            "чат",
            "聊天室",
            "٣",
            "...",
            ".x",
            "a..b",
            &"x".repeat(64),
        ] {
            assert!(RoomName::parse(name).is_some(), "{name} should be valid");
        }
    }

    #[test]
    fn empty_long_and_special_names_are_refused() {
        let long = "x".repeat(65);
        for name in [
            "",
            "a b",
            "a/b",
            "<script>",
            "a?b",
            "room%20",
            &long,
            "tab\t",
            "é\u{301}",
            ".",
            "..",
            "\u{3164}",
            "ali\u{200B}ce",
            "\u{202E}moor",
            "room\u{2066}",
            "a\u{AD}b",
            "lobby\u{FE0F}",
            "x\u{E0041}",
        ] {
            assert!(
                RoomName::parse(name).is_none(),
                "{name:?} should be refused"
            );
        }
    }

    #[test]
    fn a_decomposed_name_is_the_same_room_as_the_composed_one() {
        let composed = RoomName::parse("caf\u{E9}").expect("valid");
        let decomposed = RoomName::parse("cafe\u{301}").expect("valid");
        assert_eq!(composed, decomposed);
        assert_eq!(decomposed.as_str(), "caf\u{E9}");
        // 64 letters, each typed as a letter and a combining accent: 128 characters, 64 once composed.
        let long = "e\u{301}".repeat(64);
        assert_eq!(
            RoomName::parse(&long).map(|r| r.as_str().chars().count()),
            Some(64)
        );
        assert!(RoomName::parse(&"e\u{301}".repeat(65)).is_none());
        assert!(RoomName::parse(&"x".repeat(100_000)).is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_keeps_the_text_composed(s in "\\PC{0,80}") {
            if let Some(room) = RoomName::parse(&s) {
                prop_assert_eq!(room.as_str(), s.nfc().collect::<String>());
                prop_assert!(room.as_str().chars().count() <= MAX_ROOM_NAME_CHARS);
                prop_assert!(!room.as_str().chars().any(invisible));
                prop_assert!(room.as_str() != "." && room.as_str() != "..");
                prop_assert_eq!(RoomName::parse(room.as_str()), Some(room.clone()));
            }
        }

        #[test]
        fn names_that_differ_only_in_normalisation_are_one_room(s in "[a-zA-Z\u{C0}-\u{17F}\u{1E00}-\u{1EFF}]{1,20}") {
            let nfd: String = s.nfd().collect();
            prop_assert_eq!(RoomName::parse(&s), RoomName::parse(&nfd));
        }
    }
}
