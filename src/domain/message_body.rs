//! `MessageBody`: the text of a chat message, not blank and within the configured size limit.

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
}

/// A valid message text, kept exactly as sent (white space included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageBody(Arc<str>);

impl MessageBody {
    /// Accepts `text` if it holds something other than white space and is at most `limit` bytes.
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
        Ok(Self(Arc::from(text)))
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
}
