//! `Username`: the name shown next to a message. Two constructors: [`Username::parse_account`] for accounts
//! (Django's rule: letters and digits of any script and `@ . + - _`, at most 150 characters) and
//! [`Username::parse`] for a guest's nickname (any printable text of at most 32 characters). Both are
//! NFKC-normalised, as Django normalises usernames, so a fullwidth `ａｄｍｉｎ` or a ligature is the plain
//! name it looks like rather than a second account; and both refuse control, format and other invisible
//! characters (U+200B, U+202E, Hangul fillers, ...: see `invisible.rs`), so that no name can look like
//! another it is not, or empty. [`Username::key`] is the case-insensitive form two names collide on.
//!
//! Names used to be NFC only. Accounts stored then keep their name and key; [`Username::legacy_key`] is
//! the key a typed name had under that rule, so such an account can still be found by the name its owner
//! types.

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

/// A usable name: NFKC, trimmed, no control or format characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(Arc<str>);

impl Username {
    /// Accepts a guest nickname after trimming and NFKC normalisation; `None` if it is empty, longer than
    /// 32 characters or holds a control or format character.
    pub fn parse(name: &str) -> Option<Self> {
        let (name, had_invisible) = normalise(name);
        let count = name.chars().count();
        ((1..=MAX_USERNAME_CHARS).contains(&count) && !had_invisible).then(|| Self(Arc::from(name)))
    }

    /// Accepts an account name under Django's rule (letters and digits of any script, `@ . + - _`, 1 to 150
    /// characters), NFKC-normalised as Django's `normalize_username` does; `anonymous` is reserved for
    /// guests.
    pub fn parse_account(name: &str) -> Result<Self, UsernameError> {
        let (name, had_invisible) = normalise(name);
        let count = name.chars().count();
        if count == 0 {
            return Err(UsernameError::Empty);
        }
        if count > MAX_ACCOUNT_CHARS {
            return Err(UsernameError::TooLong);
        }
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_');
        if !name.chars().all(allowed) || had_invisible {
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

    /// The case-insensitive form names collide on: "Alice", "ALICE" and "ＡＬＩＣＥ" are one person.
    pub fn key(&self) -> String {
        key_of(&self.0)
    }

    /// The key `typed` had while names were NFC only: an account stored then is keyed by it. The same as
    /// the parsed name's [`Username::key`] for every name NFKC leaves alone (plain ASCII among them).
    pub fn legacy_key(typed: &str) -> String {
        let name: String = typed.trim().nfc().collect();
        name.to_lowercase().nfc().collect()
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

/// `name` trimmed and NFKC-normalised, and whether it held an invisible character before or after (NFKC
/// maps some onto others, and none of them may pass).
fn normalise(name: &str) -> (String, bool) {
    let trimmed = name.trim();
    let normal: String = trimmed.nfkc().collect();
    let normal = normal.trim().to_owned();
    let invisible = trimmed.chars().any(invisible) || normal.chars().any(invisible);
    (normal, invisible)
}

/// NFKC before lowercasing (NFKC can make capitals: U+210C, black-letter h, is "H"), and normalised again
/// after it (lowercasing can leave a form that is not).
fn key_of(name: &str) -> String {
    let folded = name.nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
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
    fn names_are_nfkc_so_fullwidth_and_compatibility_forms_are_the_plain_name() {
        let plain = Username::parse_account("admin").expect("valid");
        for lookalike in ["ａｄｍｉｎ", "ａdmin", "ＡＤＭＩＮ", " ａｄｍｉｎ\u{3000}"]
        {
            let parsed = Username::parse_account(lookalike).expect("valid");
            assert_eq!(parsed.key(), plain.key(), "{lookalike:?}");
            assert_eq!(
                Username::parse(lookalike).expect("valid").key(),
                plain.key()
            );
        }
        assert_eq!(
            Username::parse_account("ａｄｍｉｎ")
                .expect("valid")
                .as_str(),
            "admin",
            "stored as NFKC"
        );
        assert_eq!(
            Username::parse_account("ﬁnn").expect("valid").as_str(),
            "finn"
        );
        assert_eq!(
            Username::parse_account("\u{210C}ilda")
                .expect("valid")
                .key(),
            "hilda"
        );
        assert_eq!(
            Username::parse_account("ａｎｏｎｙｍｏｕｓ"),
            Err(UsernameError::Reserved)
        );
        // A fullwidth space or slash is a space or slash, which accounts refuse.
        for name in ["ada\u{3000}lovelace", "a\u{FF0F}b"] {
            assert_eq!(
                Username::parse_account(name),
                Err(UsernameError::InvalidCharacter),
                "{name:?}"
            );
        }
        // A halfwidth Hangul filler becomes another filler: still refused.
        assert!(Username::parse("\u{FFA0}").is_none());
        assert!(Username::parse("a\u{FFA0}b").is_none());
    }

    #[test]
    fn the_legacy_key_is_the_nfc_key_a_name_had_before_nfkc() {
        assert_eq!(Username::legacy_key(" ａｄｍｉｎ "), "ａｄｍｉｎ");
        assert_eq!(Username::legacy_key("Jose\u{301}"), "jos\u{E9}");
        for name in ["Ada", "José", "聊天", "Ада"] {
            assert_eq!(
                Username::legacy_key(name),
                Username::parse_account(name).expect("valid").key(),
                "{name}: NFKC changes nothing, so neither does the key"
            );
        }
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

        #[test]
        fn a_parsed_name_is_nfkc_and_parses_again_to_itself(s in "\\PC{0,40}") {
            let nickname = |n: &str| Username::parse(n);
            let account = |n: &str| Username::parse_account(n).ok();
            for parser in [&nickname as &dyn Fn(&str) -> Option<Username>, &account] {
                if let Some(name) = parser(&s) {
                    prop_assert!(unicode_normalization::is_nfkc(name.as_str()));
                    prop_assert_eq!(parser(name.as_str()), Some(name.clone()));
                }
            }
        }
    }
}
