//! `Emoji`: a reaction, which is one emoji and never text. One grapheme cluster of at most
//! [`MAX_EMOJI_BYTES`] bytes whose first character is shown as an emoji: either by default
//! (`Emoji_Presentation`, which covers flags) or because the emoji presentation selector (U+FE0F) follows it,
//! as in `❤️` and the keycaps (`1️⃣`). Skin tones and ZWJ sequences ride in the same cluster.

use unicode_properties::emoji::{EmojiStatus, UnicodeEmoji};
use unicode_segmentation::UnicodeSegmentation;

/// Longest emoji, in bytes (the longest ZWJ sequences in use take about 30).
pub const MAX_EMOJI_BYTES: usize = 32;

/// One emoji, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emoji(String);

/// Why a reaction's text is not an emoji.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a reaction is one emoji (one grapheme cluster of at most {MAX_EMOJI_BYTES} bytes)")]
pub struct NotEmoji;

impl Emoji {
    /// Checks `text`.
    pub fn parse(text: &str) -> Result<Self, NotEmoji> {
        if text.is_empty() || text.len() > MAX_EMOJI_BYTES || text.graphemes(true).nth(1).is_some()
        {
            return Err(NotEmoji);
        }
        let mut chars = text.chars();
        let first = chars.next().ok_or(NotEmoji)?;
        let presented = matches!(
            first.emoji_status(),
            EmojiStatus::EmojiPresentation
                | EmojiStatus::EmojiPresentationAndModifierBase
                | EmojiStatus::EmojiPresentationAndEmojiComponent
                | EmojiStatus::EmojiPresentationAndModifierAndEmojiComponent
        );
        let selected = first.is_emoji_char() && chars.next() == Some('\u{FE0F}');
        if presented || selected {
            Ok(Self(text.to_owned()))
        } else {
            Err(NotEmoji)
        }
    }

    /// The emoji.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_of_every_shape_are_reactions() {
        for emoji in ["👍", "👍🏽", "❤️", "🇫🇷", "1️⃣", "👩‍👩‍👧‍👦", "🏳️‍🌈", "🦀", "✅"]
        {
            assert_eq!(
                Emoji::parse(emoji).map(|e| e.0),
                Ok(emoji.to_owned()),
                "{emoji}"
            );
        }
    }

    #[test]
    fn text_is_not_a_reaction() {
        for text in [
            "", "a", "1", "#", "ok", "👍👍", "👍 ", " 👍", "é", "©", "<b>", "❤", "\u{FE0F}", "👍a",
        ] {
            assert_eq!(Emoji::parse(text), Err(NotEmoji), "{text:?}");
        }
        assert_eq!(Emoji::parse(&"👍🏽".repeat(5)), Err(NotEmoji));
    }
}
