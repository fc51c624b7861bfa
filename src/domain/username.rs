//! `Username`: the nickname shown next to a message. Without accounts it comes from the lobby's cookie;
//! anything missing or unusable becomes `anonymous`.

use std::fmt;
use std::sync::Arc;

/// Longest nickname, in characters.
pub const MAX_USERNAME_CHARS: usize = 32;

/// A usable nickname: trimmed, 1 to 32 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(Arc<str>);

impl Username {
    /// Accepts a nickname after trimming surrounding white space; `None` if it is empty, too long or holds a
    /// control character.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        let count = name.chars().count();
        ((1..=MAX_USERNAME_CHARS).contains(&count) && !name.chars().any(char::is_control))
            .then(|| Self(Arc::from(name)))
    }

    /// The name used when a client has none.
    pub fn anonymous() -> Self {
        Self(Arc::from("anonymous"))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
