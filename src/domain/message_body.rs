//! `MessageBody`: the text of a chat message, not blank, within the configured size limit, and free of U+0000
//! (which PostgreSQL cannot store in text, so no store is ever handed one).

use std::sync::Arc;

/// Why a message text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Empty, or only white space.
    #[error("the message is empty")]
    Empty,
    /// Longer than the limit, in bytes of UTF-8.
    #[error("the message is {len} bytes; the limit is {limit}")]
    TooLong {
        /// The message's size.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Holds U+0000 (NUL), which no text column of PostgreSQL accepts.
    #[error("the message contains U+0000 (NUL), which cannot be stored")]
    Nul,
}

/// A valid message text, kept exactly as sent (white space included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageBody(Arc<str>);

impl MessageBody {
    /// Accepts `text` if it holds something other than white space, is at most `limit` bytes and has no
    /// U+0000.
    pub fn parse(text: &str, limit: usize) -> Result<Self, BodyError> {
        if text.trim().is_empty() {
            return Err(BodyError::Empty);
        }
        if text.len() > limit {
            return Err(BodyError::TooLong {
                len: text.len(),
                limit,
            });
        }
        if text.contains('\0') {
            return Err(BodyError::Nul);
        }
        Ok(Self(Arc::from(text)))
    }

    /// No text: a message that only attaches files.
    pub fn empty() -> Self {
        Self(Arc::from(""))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_oversized_texts_are_refused() {
        assert_eq!(MessageBody::parse(" \n\t", 10), Err(BodyError::Empty));
        assert_eq!(MessageBody::parse("", 10), Err(BodyError::Empty));
        assert_eq!(
            MessageBody::parse("ééééé é", 10),
            Err(BodyError::TooLong { len: 13, limit: 10 })
        );
        assert_eq!(
            MessageBody::parse(" hi ", 10).map(|b| b.as_str().to_owned()),
            Ok(" hi ".into())
        );
    }

    #[test]
    fn nul_is_refused_anywhere_in_the_text() {
        assert_eq!(MessageBody::parse("a\0b", 10), Err(BodyError::Nul));
        assert_eq!(MessageBody::parse("\0", 10), Err(BodyError::Nul));
        assert_eq!(MessageBody::parse("hi\0", 10), Err(BodyError::Nul));
        // Other control characters are text like any other.
        assert!(MessageBody::parse("a\u{1}b\u{7f}", 10).is_ok());
    }
}
