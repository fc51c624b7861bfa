//! Folding: the form text is indexed and searched in. Each character is decomposed (NFKD: `ﬁ` is `fi`,
//! `é` is `e` and an accent), its combining marks dropped and the rest lowercased, so `Café`, `CAFE` and
//! `café` are the same word; control characters (line breaks, U+0000) become spaces. [`Folded`] keeps, for every folded character, the original character it came
//! from, so a match found in the folded text is highlighted in the original.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// `text` folded.
pub fn fold(text: &str) -> String {
    Folded::of(text).text
}

/// Folded text with the way back to the original.
pub struct Folded {
    /// The folded text.
    pub text: String,
    /// For each character of `text` (by index in characters), the index of the original character it
    /// came from.
    origin: Vec<usize>,
}

impl Folded {
    /// Folds `text`, remembering where each folded character came from.
    pub fn of(text: &str) -> Self {
        let mut folded = String::with_capacity(text.len());
        let mut origin = Vec::with_capacity(text.len());
        for (i, c) in text.chars().enumerate() {
            // A control character (a line break, U+0000) separates words and is never searched for.
            if c.is_control() {
                folded.push(' ');
                origin.push(i);
                continue;
            }
            for d in std::iter::once(c).nfkd() {
                if matches!(
                    d.general_category(),
                    GeneralCategory::NonspacingMark | GeneralCategory::EnclosingMark
                ) {
                    continue;
                }
                for l in d.to_lowercase() {
                    folded.push(l);
                    origin.push(i);
                }
            }
        }
        Self {
            text: folded,
            origin,
        }
    }

    /// Where each of `needles` (already folded) occurs, as `[start, end)` offsets in characters of the
    /// original text, in order, overlapping ranges merged.
    pub fn highlights(&self, needles: &[String]) -> Vec<[usize; 2]> {
        let chars: Vec<char> = self.text.chars().collect();
        let mut ranges: Vec<[usize; 2]> = Vec::new();
        for needle in needles {
            let needle: Vec<char> = needle.chars().collect();
            if needle.is_empty() || needle.len() > chars.len() {
                continue;
            }
            let mut at = 0;
            while at + needle.len() <= chars.len() {
                if chars[at..at + needle.len()] == needle[..] {
                    let start = self.origin[at];
                    let end = self.origin[at + needle.len() - 1] + 1;
                    ranges.push([start, end]);
                    at += needle.len();
                } else {
                    at += 1;
                }
            }
        }
        ranges.sort_unstable();
        let mut merged: Vec<[usize; 2]> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                Some(last) if range[0] <= last[1] => last[1] = last[1].max(range[1]),
                _ => merged.push(range),
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_accents_and_compatibility_forms_fold_away() {
        assert_eq!(fold("Café CRÈME"), "cafe creme");
        assert_eq!(fold("ﬁle Ｃ++20"), "file c++20");
        assert_eq!(fold("東京タワー"), "東京タワー");
        assert_eq!(fold("Straße"), "straße");
        assert_eq!(fold("a\nb\u{0}c"), "a b c");
    }

    #[test]
    fn highlights_point_into_the_original_in_characters() {
        let folded = Folded::of("Ünïcode café, CAFÉ!");
        assert_eq!(folded.highlights(&["cafe".into()]), [[8, 12], [14, 18]]);
        let folded = Folded::of("deploy the deployment");
        assert_eq!(
            folded.highlights(&["depl".into(), "deploy the".into()]),
            [[0, 10], [11, 15]]
        );
        assert!(Folded::of("x").highlights(&["xyz".into()]).is_empty());
    }
}
