//! `RoomName`: 1 to 64 characters, each a letter or digit of any script, `-`, `_` or `.`.

use std::fmt;
use std::sync::Arc;

/// Longest room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 64;

/// A valid room name. Cheap to clone (shared string).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(Arc<str>);

impl RoomName {
    /// Accepts `name` if it is 1 to 64 letters, digits, `-`, `_` or `.`; `None` otherwise.
    pub fn parse(name: &str) -> Option<Self> {
        let count = name.chars().count();
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
        ((1..=MAX_ROOM_NAME_CHARS).contains(&count) && name.chars().all(allowed))
            .then(|| Self(Arc::from(name)))
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
        ] {
            assert!(
                RoomName::parse(name).is_none(),
                "{name:?} should be refused"
            );
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_keeps_the_text(s in "\\PC{0,80}") {
            if let Some(room) = RoomName::parse(&s) {
                prop_assert_eq!(room.as_str(), s.as_str());
                prop_assert!(s.chars().count() <= MAX_ROOM_NAME_CHARS);
            }
        }
    }
}
