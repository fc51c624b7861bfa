//! Characters a name must not hold because they render as nothing or change how the text around them
//! is shown: control characters, every format character (general category Cf: bidirectional overrides
//! and isolates, zero-width spaces and joiners, the BOM, tags, ...), the other default-ignorable code
//! points (fillers, variation selectors, the combining grapheme joiner), line and paragraph separators,
//! and the blank braille pattern. With one of them a name could look like another it is not, or look empty.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Whether `c` is invisible in the sense above.
pub fn invisible(c: char) -> bool {
    c.is_control() || c.general_category() == GeneralCategory::Format || listed(c)
}

/// The default-ignorable code points (Unicode's DerivedCoreProperties, the Cf ones included so that the
/// rule holds even for text newer than the category table), line and paragraph separators, and a braille
/// cell without dots.
fn listed(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{34F}' | '\u{61C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{600}'..='\u{605}' | '\u{6DD}' | '\u{70F}'
        | '\u{890}' | '\u{891}' | '\u{8E2}' | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}'
        | '\u{2028}' | '\u{2029}' | '\u{2800}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_fillers_and_separators_are_invisible_and_letters_are_not() {
        for c in [
            '\u{0}',
            '\u{7F}',
            '\u{AD}',
            '\u{200B}',
            '\u{200D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{E0041}',
            '\u{3164}',
            '\u{115F}',
            '\u{FE0F}',
            '\u{34F}',
            '\u{2028}',
            '\u{2800}',
            '\u{180E}',
            '\u{1D173}',
        ] {
            assert!(invisible(c), "{} should be invisible", c.escape_unicode());
        }
        for c in ['a', 'é', 'я', '聊', '٣', '-', '.', ' ', '\u{301}', '😀'] {
            assert!(!invisible(c), "{c:?} is visible");
        }
    }

    #[test]
    fn the_list_alone_covers_every_format_character_the_table_knows() {
        let format: Vec<char> = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| c.general_category() == GeneralCategory::Format)
            .collect();
        assert!(
            format.len() > 150,
            "the table knows {} format characters",
            format.len()
        );
        for c in format {
            assert!(listed(c), "{} is Cf but not listed", c.escape_unicode());
        }
    }
}
