//! SMS encoding and segment accounting (R8).
//!
//! A text travels as GSM-7 when every character is in the GSM 03.38 basic
//! table or its extension table (extension characters are sent as ESC + code,
//! so they cost two septets); otherwise the whole text is UCS-2 and costs one
//! UTF-16 code unit per BMP character, two for anything outside it (emoji).
//!
//! A single message holds 160 septets / 70 units. Concatenated messages lose
//! room to the 6-octet UDH, leaving 153 septets / 67 units per segment, and a
//! segment must never end in the middle of an ESC pair or a surrogate pair.
//! Segments are therefore counted by packing characters, exactly as
//! [`split`] cuts them, never by dividing the total.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }

    /// Units that fit a message sent as a single segment.
    pub fn single_segment_units(self) -> u32 {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// Units per segment of a concatenated message (after the UDH).
    pub fn concatenated_segment_units(self) -> u32 {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }

    /// What one character costs in this encoding: septets for GSM-7 (ESC
    /// pairs count 2), UTF-16 code units for UCS-2. `None` when GSM-7 cannot
    /// carry the character.
    fn cost(self, c: char) -> Option<u32> {
        match self {
            Encoding::Gsm7 => gsm7_septets(c),
            Encoding::Ucs2 => Some(c.len_utf16() as u32),
        }
    }
}

/// How a text travels as SMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsInfo {
    pub encoding: Encoding,
    /// Number of SMS segments (1 for an empty text).
    pub segments: u32,
    /// Septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2).
    pub units: u32,
    /// Characters (Unicode scalar values) in the text.
    pub chars: u32,
}

/// Septets per ASCII byte: 0 = not in GSM-7, 1 = basic table, 2 = extension
/// table. ASCII is most of what we send, so it gets a table instead of a match.
const ASCII_SEPTETS: [u8; 128] = {
    let mut t = [1u8; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 0;
        i += 1;
    }
    t[b'\n' as usize] = 1;
    t[b'\r' as usize] = 1;
    // Form feed is in the extension table (ESC 0x0A, a page break).
    t[0x0C] = 2;
    t[0x7F] = 0;
    // Backtick is not in GSM 03.38 at all (0x60 there is ¿).
    t[b'`' as usize] = 0;
    let ext = *b"^{}\\[~]|";
    let mut j = 0;
    while j < ext.len() {
        t[ext[j] as usize] = 2;
        j += 1;
    }
    t
};

/// Septets `c` costs in GSM-7, `None` when it is not in GSM 03.38.
pub fn gsm7_septets(c: char) -> Option<u32> {
    if c.is_ascii() {
        return match ASCII_SEPTETS[c as usize] {
            0 => None,
            n => Some(u32::from(n)),
        };
    }
    match c {
        // Basic table, non-ASCII part.
        '£' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | 'Ø' | 'ø' | 'Å' | 'å' | 'Δ' | 'Φ' | 'Γ'
        | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' | 'Æ' | 'æ' | 'ß' | 'É' | '¤' | '¡' | 'Ä'
        | 'Ö' | 'Ñ' | 'Ü' | '§' | '¿' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => Some(1),
        '€' => Some(2),
        _ => None,
    }
}

/// Whether GSM-7 can carry every character of `text`.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

fn encoding_of(text: &str) -> Encoding {
    if is_gsm7(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Cuts `text` into segments: calls `emit` with the byte range of each.
/// Returns the total units.
fn pack(text: &str, encoding: Encoding, mut emit: impl FnMut(usize, usize)) -> u32 {
    let cost = |c: char| encoding.cost(c).unwrap_or(1);
    let total: u32 = text.chars().map(cost).sum();
    if total <= encoding.single_segment_units() {
        emit(0, text.len());
        return total;
    }
    let room = encoding.concatenated_segment_units();
    let (mut start, mut used) = (0, 0);
    for (i, c) in text.char_indices() {
        let n = cost(c);
        // A character that does not fit whole opens the next segment, so an
        // ESC pair or surrogate pair is never split across two.
        if used + n > room {
            emit(start, i);
            start = i;
            used = 0;
        }
        used += n;
    }
    emit(start, text.len());
    total
}

/// Encoding, size and segment count of `text` as it would be sent.
pub fn analyze(text: &str) -> SmsInfo {
    let encoding = encoding_of(text);
    let mut segments = 0;
    let units = pack(text, encoding, |_, _| segments += 1);
    SmsInfo {
        encoding,
        segments,
        units,
        chars: text.chars().count() as u32,
    }
}

/// The texts of the segments `text` is sent as, in order (one empty segment
/// for an empty text), cut exactly as [`analyze`] counts them.
pub fn split(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    pack(text, encoding_of(text), |a, b| {
        parts.push(text[a..b].to_string())
    });
    parts
}

/// The GSM-7 look-alike of a typographic character, after Twilio's Smart
/// Encoding list; `None` when the character has no replacement. An empty
/// replacement drops invisible characters.
fn smart_replacement(c: char) -> Option<&'static str> {
    Some(match c {
        // Double quotes and guillemets.
        '\u{00AB}' | '\u{00BB}' | '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}'
        | '\u{02BA}' | '\u{02DD}' | '\u{02EE}' | '\u{05F4}' | '\u{2033}' | '\u{2036}'
        | '\u{275D}' | '\u{275E}' | '\u{301D}' | '\u{301E}' | '\u{301F}' | '\u{FF02}' => "\"",
        // Single quotes, primes, accents used as apostrophes, and the ASCII
        // backtick, which GSM-7 lacks.
        '`' | '\u{00B4}' | '\u{02B9}' | '\u{02BB}' | '\u{02BC}' | '\u{02BD}' | '\u{02C8}'
        | '\u{02CA}' | '\u{02CB}' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}'
        | '\u{2032}' | '\u{2035}' | '\u{275B}' | '\u{275C}' | '\u{FF07}' | '\u{FF40}' => "'",
        // Hyphens, dashes, minus signs, and bullets used as list dashes.
        '\u{00AD}' => "",
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2043}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' | '\u{2022}'
        | '\u{2023}' | '\u{2219}' | '\u{25E6}' => "-",
        '\u{2026}' => "...",
        '\u{203C}' => "!!",
        '\u{2047}' => "??",
        '\u{2039}' | '\u{FF1C}' => "<",
        '\u{203A}' | '\u{FF1E}' => ">",
        '\u{2044}' | '\u{2215}' | '\u{FF0F}' => "/",
        '\u{2216}' | '\u{FF3C}' => "\\",
        '\u{02C4}' | '\u{02C6}' | '\u{FF3E}' => "^",
        '\u{02DC}' | '\u{FF5E}' => "~",
        '\u{00A6}' | '\u{01C0}' | '\u{2223}' | '\u{FF5C}' => "|",
        '\u{2217}' | '\u{204E}' | '\u{FF0A}' => "*",
        '\u{02D0}' | '\u{2236}' | '\u{FF1A}' => ":",
        '\u{FF0C}' => ",",
        '\u{FF1B}' => ";",
        '\u{FF0E}' => ".",
        '\u{FF01}' => "!",
        '\u{FF1F}' => "?",
        '\u{FF03}' => "#",
        '\u{FF05}' => "%",
        '\u{FF06}' => "&",
        '\u{FF08}' => "(",
        '\u{FF09}' => ")",
        '\u{FF0B}' => "+",
        '\u{FF1D}' => "=",
        '\u{FF20}' => "@",
        '\u{FF3B}' => "[",
        '\u{FF3D}' => "]",
        '\u{FF3F}' => "_",
        '\u{FF5B}' => "{",
        '\u{FF5D}' => "}",
        // Tab, no-break, typographic and ideographic spaces.
        '\t' | '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        // Zero-width characters and the byte-order mark are invisible.
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => "",
        _ => return None,
    })
}

/// Replaces typographic characters by their GSM-7 look-alikes (R8's optional
/// smart encoding): curly quotes become `"`/`'`, dashes `-`, `…` `...`,
/// unusual spaces a plain space. Characters without a look-alike (emoji,
/// š, ž, CJK…) are kept, so the result may still need UCS-2. Borrows when
/// nothing changes.
pub fn smart_encode(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(|c| smart_replacement(c).is_some()) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match smart_replacement(c) {
            Some(r) => out.push_str(r),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(encoding: Encoding, segments: u32, units: u32, chars: u32) -> SmsInfo {
        SmsInfo {
            encoding,
            segments,
            units,
            chars,
        }
    }

    #[test]
    fn r8_empty_text_is_one_gsm_segment() {
        assert_eq!(analyze(""), info(Encoding::Gsm7, 1, 0, 0));
        assert_eq!(split(""), vec![String::new()]);
    }

    #[test]
    fn r8_160_gsm_chars_fit_one_segment_161_need_two() {
        assert_eq!(analyze(&"a".repeat(160)), info(Encoding::Gsm7, 1, 160, 160));
        assert_eq!(analyze(&"a".repeat(161)), info(Encoding::Gsm7, 2, 161, 161));
    }

    #[test]
    fn r8_concatenated_gsm_segments_hold_153_septets() {
        assert_eq!(analyze(&"a".repeat(306)).segments, 2);
        assert_eq!(analyze(&"a".repeat(307)).segments, 3);
        let parts = split(&"a".repeat(307));
        let lens: Vec<usize> = parts.iter().map(String::len).collect();
        assert_eq!(lens, [153, 153, 1]);
    }

    #[test]
    fn r8_euro_sign_counts_two_septets() {
        assert_eq!(analyze("€"), info(Encoding::Gsm7, 1, 2, 1));
        assert_eq!(analyze(&format!("{}€", "a".repeat(158))).segments, 1);
        assert_eq!(
            analyze(&format!("{}€", "a".repeat(159))),
            info(Encoding::Gsm7, 2, 161, 160)
        );
    }

    #[test]
    fn r8_extension_table_characters_count_two_septets() {
        let info = analyze("^{}\\[~]|€\u{0C}");
        assert_eq!(info.encoding, Encoding::Gsm7);
        assert_eq!(info.units, 20);
        assert_eq!(info.chars, 10);
    }

    #[test]
    fn r8_esc_pair_is_not_split_at_a_segment_boundary() {
        // 152 septets, then € (2) would straddle septets 153/154.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let parts = split(&text);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "a".repeat(152));
        assert!(parts[1].starts_with('€'));
        assert_eq!(analyze(&text).segments, 2);
        // Division alone would say 2 here too, but packing needs a third
        // segment when the lost septet pushes the tail over.
        let tight = format!("{}€{}", "a".repeat(152), "b".repeat(152));
        assert_eq!(analyze(&tight).units, 306);
        assert_eq!(analyze(&tight).segments, 3);
        assert_eq!(split(&tight).len(), 3);
    }

    #[test]
    fn r8_german_and_finnish_letters_are_gsm() {
        let info = analyze("Grüße aus Köln, Hyvää päivää, Åbo ÄÖÜ ß");
        assert_eq!(info.encoding, Encoding::Gsm7);
        assert_eq!(info.units, info.chars);
    }

    #[test]
    fn r8_one_non_gsm_char_makes_the_whole_text_ucs2() {
        assert_eq!(analyze("Hyvää šekki").encoding, Encoding::Ucs2);
        assert_eq!(analyze("žena").encoding, Encoding::Ucs2);
        assert_eq!(analyze("a`b").encoding, Encoding::Ucs2);
        assert_eq!(analyze("tab\there").encoding, Encoding::Ucs2);
    }

    #[test]
    fn r8_70_ucs2_units_fit_one_segment_71_need_two() {
        assert_eq!(analyze(&"ж".repeat(70)), info(Encoding::Ucs2, 1, 70, 70));
        assert_eq!(analyze(&"ж".repeat(71)), info(Encoding::Ucs2, 2, 71, 71));
    }

    #[test]
    fn r8_concatenated_ucs2_segments_hold_67_units() {
        assert_eq!(analyze(&"ж".repeat(134)).segments, 2);
        assert_eq!(analyze(&"ж".repeat(135)).segments, 3);
        let counts: Vec<usize> = split(&"ж".repeat(135))
            .iter()
            .map(|s| s.chars().count())
            .collect();
        assert_eq!(counts, [67, 67, 1]);
    }

    #[test]
    fn r8_emoji_outside_the_bmp_counts_two_units() {
        assert_eq!(analyze("Hi 😀"), info(Encoding::Ucs2, 1, 5, 4));
        assert_eq!(analyze(&"😀".repeat(35)), info(Encoding::Ucs2, 1, 70, 35));
        assert_eq!(analyze(&"😀".repeat(36)).segments, 2);
    }

    #[test]
    fn r8_surrogate_pair_is_not_split_at_a_segment_boundary() {
        // 66 units, then an emoji would straddle units 67/68.
        let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(10));
        let parts = split(&text);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "ж".repeat(66));
        assert!(parts[1].starts_with('😀'));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn r8_split_pieces_join_back_to_the_text() {
        let text = "Hello {name}, your order € 12 [ref] is ready. ".repeat(9);
        let parts = split(&text);
        assert_eq!(parts.concat(), text);
        assert_eq!(parts.len() as u32, analyze(&text).segments);
        for p in &parts {
            assert!(p.chars().map(|c| gsm7_septets(c).unwrap()).sum::<u32>() <= 153);
        }
    }

    #[test]
    fn r8_smart_encoding_turns_a_ucs2_text_into_gsm7() {
        let text = "“Hello” — it’s ready… see you\u{00A0}soon • `ok`";
        assert_eq!(analyze(text).encoding, Encoding::Ucs2);
        let smart = smart_encode(text);
        assert_eq!(smart, "\"Hello\" - it's ready... see you soon - 'ok'");
        assert_eq!(analyze(&smart).encoding, Encoding::Gsm7);
    }

    #[test]
    fn r8_smart_encoding_borrows_when_nothing_changes() {
        assert!(matches!(smart_encode("Grüße, 5€ {x}"), Cow::Borrowed(_)));
        assert!(matches!(smart_encode(""), Cow::Borrowed(_)));
    }

    #[test]
    fn r8_smart_encoding_keeps_characters_without_look_alike() {
        assert_eq!(smart_encode("š – 😀"), "š - 😀");
        assert_eq!(analyze(&smart_encode("š – 😀")).encoding, Encoding::Ucs2);
    }

    #[test]
    fn r8_every_smart_replacement_is_gsm7() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if let Some(r) = smart_replacement(c) {
                assert!(is_gsm7(r), "{c:?} -> {r:?}");
            }
        }
    }
}
