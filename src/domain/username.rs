//! `Username`: the name shown next to a message. Two constructors: [`Username::parse_account`] for accounts
//! (Django's rule: letters and digits of any script and `@ . + - _`, at most 150 characters) and
//! [`Username::parse`] for a guest's nickname (any printable text of at most 32 characters). Both are
//! NFC-normalised and refuse control, format and other invisible characters (U+200B, U+202E, Hangul fillers,
//! ...: see `invisible.rs`), so that no name can look like another it is not, or empty; [`Username::key`] is
//! the case-insensitive form two names collide on.

use std::fmt;
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use super::invisible::invisible;

/// Longest guest nickname, in characters.
pub const MAX_USERNAME_CHARS: usize = 32;
/// Longest account name, in characters (Django's `auth_user.username`).
pub const MAX_ACCOUNT_CHARS: usize = 150;

/// The guest name of a client without a nickname; no account may take it.
const ANONYMOUS: &str = "anonymous";

/// Why an account name was refused (the text is shown on the sign-up form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Nothing left after trimming.
    #[error("Enter a username.")]
    Empty,
    /// Over [`MAX_ACCOUNT_CHARS`].
    #[error("Usernames are at most 150 characters.")]
    TooLong,
    /// A character outside letters, digits and `@ . + - _`.
    #[error("Usernames may contain only letters, digits and @ . + - _ characters.")]
    InvalidCharacter,
    /// A name kept for guests.
    #[error("That username is reserved.")]
    Reserved,
}

/// A usable name: NFC, trimmed, no control or format characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(Arc<str>);

impl Username {
    /// Accepts a guest nickname after trimming and NFC normalisation; `None` if it is empty, longer than 32
    /// characters or holds a control or format character.
    pub fn parse(name: &str) -> Option<Self> {
        let name: String = name.trim().nfc().collect();
        let count = name.chars().count();
        ((1..=MAX_USERNAME_CHARS).contains(&count) && !name.chars().any(invisible))
            .then(|| Self(Arc::from(name)))
    }

    /// Accepts an account name under Django's rule (letters and digits of any script, `@ . + - _`, 1 to 150
    /// characters), NFC-normalised; `anonymous` is reserved for guests.
    pub fn parse_account(name: &str) -> Result<Self, UsernameError> {
        let name: String = name.trim().nfc().collect();
        let count = name.chars().count();
        if count == 0 {
            return Err(UsernameError::Empty);
        }
        if count > MAX_ACCOUNT_CHARS {
            return Err(UsernameError::TooLong);
        }
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_');
        if !name.chars().all(allowed) || name.chars().any(invisible) {
            return Err(UsernameError::InvalidCharacter);
        }
        if key_of(&name) == ANONYMOUS {
            return Err(UsernameError::Reserved);
        }
        Ok(Self(Arc::from(name)))
    }

    /// The name used when a client has none.
    pub fn anonymous() -> Self {
        Self(Arc::from(ANONYMOUS))
    }

    /// Whether this is the default guest name, which no account can hold.
    pub fn is_anonymous(&self) -> bool {
        &*self.0 == ANONYMOUS
    }

    /// The case-insensitive form names collide on: "Alice" and "ALICE" are one person.
    pub fn key(&self) -> String {
        key_of(&self.0)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A name read back from the store, which only ever holds names that passed a parse.
    pub fn from_stored(name: &str) -> Self {
        Self(Arc::from(name))
    }
}

fn key_of(name: &str) -> String {
    name.to_lowercase().nfc().collect()
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nicknames_are_trimmed_and_bounded() {
        assert_eq!(
            Username::parse("  ada ").map(|u| u.to_string()),
            Some("ada".into())
        );
        assert!(Username::parse("   ").is_none());
        assert!(Username::parse(&"x".repeat(33)).is_none());
        assert!(Username::parse("a\nb").is_none());
        assert!(Username::parse("<b>Ада</b>").is_some());
    }

    #[test]
    fn invisible_characters_cannot_make_a_name_look_like_another() {
        for name in [
            "ali\u{200B}ce",
            "\u{202E}ecila",
            "alice\u{FEFF}",
            "al\u{2060}ice",
        ] {
            assert!(Username::parse(name).is_none(), "{name:?}");
            assert_eq!(
                Username::parse_account(name),
                Err(UsernameError::InvalidCharacter),
                "{name:?}"
            );
        }
    }

    #[test]
    fn nicknames_refuse_every_invisible_character_and_are_nfc() {
        for name in [
            "a\u{2028}b",
            "\u{2800}",
            "\u{3164}",
            "bob\u{E0041}",
            "x\u{2066}y\u{2069}",
            "\u{AD}ada",
            "ada\u{FE0F}",
        ] {
            assert!(Username::parse(name).is_none(), "{}", name.escape_unicode());
        }
        assert_eq!(
            Username::parse("Jose\u{301} L").map(|u| u.to_string()),
            Some("Jos\u{E9} L".into())
        );
    }

    #[test]
    fn names_are_nfc_and_collide_case_insensitively() {
        let composed = Username::parse_account("Jos\u{E9}").expect("valid");
        let decomposed = Username::parse_account("Jose\u{301}").expect("valid");
        assert_eq!(composed, decomposed);
        assert_eq!(
            Username::parse_account("ALICE").expect("valid").key(),
            Username::parse("alice").expect("valid").key()
        );
    }

    #[test]
    fn account_names_follow_djangos_rule() {
        for name in ["ada", "a.b+c-d_e@f", "Ада", "聊天", &"x".repeat(150)] {
            assert!(Username::parse_account(name).is_ok(), "{name}");
        }
        assert_eq!(Username::parse_account(" "), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse_account(&"x".repeat(151)),
            Err(UsernameError::TooLong)
        );
        for name in ["a b", "<b>", "a/b", "t\tab"] {
            assert_eq!(
                Username::parse_account(name),
                Err(UsernameError::InvalidCharacter),
                "{name:?}"
            );
        }
        assert_eq!(
            Username::parse_account("Anonymous"),
            Err(UsernameError::Reserved)
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_never_keeps_an_invisible_character(s in "\\PC{0,40}") {
            for name in [Username::parse(&s), Username::parse_account(&s).ok()].into_iter().flatten() {
                prop_assert!(!name.as_str().chars().any(invisible));
            }
        }
    }
}
