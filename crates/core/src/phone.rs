//! E.164 phone numbers, parsed once at the edge with the account's default
//! country (R6).
//!
//! Invariant: an [`E164`] always holds a number that libphonenumber considers
//! valid for its country, formatted as `+<country code><national number>`.
//! The only way around the check is [`E164::from_trusted`], reserved for
//! values we wrote ourselves.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;

/// An ISO 3166-1 alpha-2 country known to libphonenumber ("US", "DE", "FI").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country(phonenumber::country::Id);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountryError {
    #[error("`{0}` is not a two-letter country code known for phone numbers")]
    Unknown(String),
}

/// Every pair of uppercase ASCII letters, "AAABAC…ZZ", so that
/// [`Country::as_str`] can hand out a `&'static str`: libphonenumber's
/// `Id::as_ref` is tied to the borrow of the id.
const LETTER_PAIRS: [u8; 26 * 26 * 2] = {
    let mut out = [0u8; 26 * 26 * 2];
    let mut i = 0;
    while i < 26 * 26 {
        out[2 * i] = b'A' + (i / 26) as u8;
        out[2 * i + 1] = b'A' + (i % 26) as u8;
        i += 1;
    }
    out
};

fn letter_pair(code: &str) -> &'static str {
    let all: &'static str = match std::str::from_utf8(&LETTER_PAIRS) {
        Ok(s) => s,
        Err(_) => unreachable!("LETTER_PAIRS is ASCII"),
    };
    match code.as_bytes() {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
            let i = usize::from(a - b'A') * 26 + usize::from(b - b'A');
            &all[2 * i..2 * i + 2]
        }
        // libphonenumber ids are all two uppercase letters; "001"-style
        // non-geographic entities have no `Id`.
        _ => unreachable!("country id `{code}` is not two uppercase letters"),
    }
}

impl Country {
    /// Parses a two-letter code, ignoring case and surrounding whitespace.
    pub fn parse(s: &str) -> Result<Self, CountryError> {
        let code = s.trim();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(CountryError::Unknown(s.to_string()));
        }
        phonenumber::country::Id::from_str(&code.to_ascii_uppercase())
            .map(Country)
            .map_err(|_| CountryError::Unknown(s.to_string()))
    }

    /// The uppercase code ("US").
    pub fn as_str(&self) -> &'static str {
        letter_pair(self.0.as_ref())
    }

    pub fn id(&self) -> phonenumber::country::Id {
        self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Country {
    type Error = CountryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<Country> for String {
    fn from(c: Country) -> String {
        c.as_str().to_string()
    }
}

/// A valid phone number in E.164 form (`+14155550100`).
///
/// Equality, order and hashing are those of the E.164 string; `line` is a
/// by-product of the parse, not part of the value.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String, #[serde(skip)] Option<Line>);

// An E.164 number is a string on the wire; its `line` never leaves the
// process.
impl utoipa::PartialSchema for E164 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some(r"^\+[1-9]\d{1,14}$"))
            .description(Some("A phone number in E.164 form"))
            .examples([serde_json::json!("+14155550100")])
            .into()
    }
}

impl utoipa::ToSchema for E164 {}

/// What libphonenumber said about a number while validating it: its calling
/// code and kind of line. Kept so that the time-zone lookup of quiet hours
/// (R21) does not parse the number a second time; `None` on values made by
/// [`E164::from_trusted`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    pub calling_code: u16,
    pub kind: LineKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    FixedLine,
    Mobile,
    /// Numbering plans (the US, Canada …) whose ranges do not tell the two
    /// apart.
    FixedLineOrMobile,
    /// Toll-free, premium, VoIP, pagers …
    Other,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::FixedLine => "fixed_line",
            LineKind::Mobile => "mobile",
            LineKind::FixedLineOrMobile => "fixed_line_or_mobile",
            LineKind::Other => "other",
        }
    }

    /// The inverse of [`LineKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "fixed_line" => LineKind::FixedLine,
            "mobile" => LineKind::Mobile,
            "fixed_line_or_mobile" => LineKind::FixedLineOrMobile,
            "other" => LineKind::Other,
            _ => return None,
        })
    }

    fn of(kind: phonenumber::Type) -> Self {
        use phonenumber::Type;
        match kind {
            Type::FixedLine => LineKind::FixedLine,
            Type::Mobile => LineKind::Mobile,
            Type::FixedLineOrMobile => LineKind::FixedLineOrMobile,
            _ => LineKind::Other,
        }
    }
}

impl PartialEq for E164 {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for E164 {}
impl std::hash::Hash for E164 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}
/// Sets of numbers can be searched by the E.164 text (hash and equality are
/// the string's).
impl std::borrow::Borrow<str> for E164 {
    fn borrow(&self) -> &str {
        &self.0
    }
}
impl PartialOrd for E164 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for E164 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("`{0}` is not a phone number")]
    Unparsable(String),
    #[error("`{0}` is not a valid phone number for its country")]
    Invalid(String),
}

/// Runs a libphonenumber call, turning a panic into `None`.
///
/// The crate has had panics on malformed input (rust-phonenumber #32, #43);
/// CRM property values are untrusted, and one odd value must fail one
/// message, not the worker task that sends thousands.
fn guarded<T>(f: impl FnOnce() -> Option<T>) -> Option<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).ok().flatten()
}

impl E164 {
    /// Parses national or international input; national numbers use
    /// `default_country`. Without a default country only international
    /// input (`+…`) parses.
    ///
    /// Accepts the usual formatting: spaces, dashes, dots, parentheses,
    /// a `00`/`011` international prefix when a default country tells
    /// which prefix applies.
    pub fn parse(input: &str, default_country: Option<Country>) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // International input must not see the default country: with a
        // default region the `phonenumber` crate strips that region's
        // national prefix after the country code (+49 151… with US became
        // +49 51…).
        let region = if trimmed.starts_with('+') {
            None
        } else {
            default_country.map(|c| c.0)
        };
        let number = guarded(|| phonenumber::parse(region, trimmed).ok())
            .ok_or_else(|| PhoneError::Unparsable(trimmed.to_string()))?;
        // `is_valid` is exactly "has a known type" (phonenumber's
        // validator); asking for the type keeps it for the zone lookup.
        let (formatted, kind) = guarded(|| {
            let kind = number.number_type(&phonenumber::metadata::DATABASE);
            (kind != phonenumber::Type::Unknown).then(|| {
                (
                    number.format().mode(phonenumber::Mode::E164).to_string(),
                    kind,
                )
            })
        })
        .ok_or_else(|| PhoneError::Invalid(trimmed.to_string()))?;
        let line = Line {
            calling_code: number.code().value(),
            kind: LineKind::of(kind),
        };
        Ok(E164(formatted, Some(line)))
    }

    /// Wraps a value this system produced itself (read back from our own
    /// storage), skipping the libphonenumber parse that [`E164::parse`]
    /// costs. Never use it on input from outside: it does not check.
    pub fn from_trusted(e164: String) -> Self {
        debug_assert!(e164.starts_with('+'), "`{e164}` is not in E.164 form");
        E164(e164, None)
    }

    /// [`E164::from_trusted`] for a number this system parsed and stored
    /// together with its [`Line`] (the phone index of records), so the
    /// quiet-hours zone lookup needs no parse either.
    pub fn from_trusted_with_line(e164: String, line: Line) -> Self {
        debug_assert!(e164.starts_with('+'), "`{e164}` is not in E.164 form");
        E164(e164, Some(line))
    }

    /// Calling code and kind of line, when this value was parsed here.
    pub fn line(&self) -> Option<Line> {
        self.1
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The country the number belongs to, when libphonenumber knows it
    /// (numbers shared by several countries resolve to the one whose
    /// patterns match, e.g. +1 416… → CA).
    pub fn country(&self) -> Option<Country> {
        guarded(|| {
            let number = phonenumber::parse(None, &self.0).ok()?;
            number.country().id().map(Country)
        })
    }
}

impl TryFrom<String> for E164 {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s, None)
    }
}
impl From<E164> for String {
    fn from(p: E164) -> String {
        p.0
    }
}
impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> Option<Country> {
        Some(Country::parse(code).unwrap())
    }

    #[test]
    fn parsing_keeps_the_line_kind_and_equality_ignores_it() {
        let parsed = E164::parse("+49 151 23456789", None).unwrap();
        assert_eq!(
            parsed.line(),
            Some(Line {
                calling_code: 49,
                kind: LineKind::Mobile
            })
        );
        let landline = E164::parse("030 1234567", country("DE")).unwrap();
        assert_eq!(landline.line().map(|l| l.kind), Some(LineKind::FixedLine));
        for kind in [
            LineKind::FixedLine,
            LineKind::Mobile,
            LineKind::FixedLineOrMobile,
            LineKind::Other,
        ] {
            assert_eq!(LineKind::parse(kind.as_str()), Some(kind));
        }
        let stored =
            E164::from_trusted_with_line(parsed.as_str().to_string(), parsed.line().unwrap());
        assert_eq!(stored.line(), parsed.line());
        let trusted = E164::from_trusted(parsed.as_str().to_string());
        assert_eq!(trusted.line(), None);
        assert_eq!(trusted, parsed);
        let mut set = std::collections::HashSet::new();
        set.insert(parsed);
        assert!(set.contains(&trusted));
    }

    #[test]
    fn country_parse_ignores_case_and_prints_uppercase() {
        assert_eq!(Country::parse("de").unwrap().as_str(), "DE");
        assert_eq!(Country::parse(" Fi ").unwrap().as_str(), "FI");
        assert_eq!(Country::parse("US").unwrap().to_string(), "US");
        assert!(matches!(
            Country::parse("XX"),
            Err(CountryError::Unknown(_))
        ));
        assert!(Country::parse("USA").is_err());
        assert!(Country::parse("").is_err());
        assert!(Country::parse("é1").is_err());
    }

    #[test]
    fn country_serde_round_trip() {
        let c: Country = serde_json::from_str("\"se\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"SE\"");
        assert!(serde_json::from_str::<Country>("\"ZZ\"").is_err());
    }

    #[test]
    fn r6_us_national_number_uses_default_country() {
        let p = E164::parse("(415) 555-0100", country("US")).unwrap();
        assert_eq!(p.as_str(), "+14155550100");
        assert_eq!(E164::parse("415.555.0100", country("us")).unwrap(), p);
    }

    #[test]
    fn r6_german_national_number_drops_trunk_prefix() {
        let p = E164::parse("030 1234567", country("DE")).unwrap();
        assert_eq!(p.as_str(), "+49301234567");
        assert_eq!(p.country(), country("DE"));
    }

    #[test]
    fn r6_german_number_with_international_prefix_00() {
        let p = E164::parse("0049 30 1234567", country("DE")).unwrap();
        assert_eq!(p.as_str(), "+49301234567");
    }

    #[test]
    fn r6_finnish_mobile_number() {
        let p = E164::parse("040 1234567", country("FI")).unwrap();
        assert_eq!(p.as_str(), "+358401234567");
        assert_eq!(p.country(), country("FI"));
    }

    #[test]
    fn r6_international_number_ignores_default_country() {
        let p = E164::parse("+49 30 1234567", country("US")).unwrap();
        assert_eq!(p.as_str(), "+49301234567");
        assert_eq!(p.country(), country("DE"));
        let p = E164::parse("  +1 415 555 0100 ", None).unwrap();
        assert_eq!(p.as_str(), "+14155550100");
        assert_eq!(p.country(), country("US"));
    }

    #[test]
    fn r6_national_number_without_default_country_is_unparsable() {
        assert!(matches!(
            E164::parse("030 1234567", None),
            Err(PhoneError::Unparsable(_))
        ));
    }

    #[test]
    fn r6_empty_phone_is_empty() {
        assert_eq!(E164::parse("", country("US")), Err(PhoneError::Empty));
        assert_eq!(E164::parse(" \t\n", country("US")), Err(PhoneError::Empty));
    }

    #[test]
    fn r6_garbage_is_unparsable() {
        for s in ["hello", "n/a", "--", "+", "12"] {
            assert!(
                matches!(
                    E164::parse(s, country("US")),
                    Err(PhoneError::Unparsable(_))
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn r6_malformed_input_never_panics() {
        // Inputs that made older phonenumber releases panic.
        for (s, c) in [("  2 22#:", None), ("003-836-4618x3001", country("CH"))] {
            assert!(E164::parse(s, c).is_err(), "{s}");
        }
    }

    #[test]
    fn r6_number_that_parses_but_is_not_valid_is_invalid() {
        // US area codes never start with 1.
        assert_eq!(
            E164::parse("(123) 555-0100", country("US")),
            Err(PhoneError::Invalid("(123) 555-0100".into()))
        );
        assert!(matches!(
            E164::parse("+49 123", None),
            Err(PhoneError::Invalid(_) | PhoneError::Unparsable(_))
        ));
    }

    #[test]
    fn r6_serde_round_trip_validates() {
        let p = E164::parse("+14155550100", None).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"+14155550100\"");
        assert_eq!(serde_json::from_str::<E164>(&json).unwrap(), p);
        assert!(serde_json::from_str::<E164>("\"+11235550100\"").is_err());
        assert!(serde_json::from_str::<E164>("\"not a phone\"").is_err());
        assert!(serde_json::from_str::<E164>("\"\"").is_err());
    }

    #[test]
    fn from_trusted_keeps_the_value() {
        let p = E164::from_trusted("+358401234567".into());
        assert_eq!(p.as_str(), "+358401234567");
        assert_eq!(p.to_string(), "+358401234567");
    }
}

#[cfg(test)]
mod international_input {
    use super::*;

    #[test]
    fn r6_international_numbers_ignore_the_default_country() {
        for c in ["US", "DE", "FI"] {
            let parsed = E164::parse("+49 151 12345678", Some(Country::parse(c).unwrap())).unwrap();
            assert_eq!(parsed.as_str(), "+4915112345678", "default country {c}");
        }
        let us = Some(Country::parse("US").unwrap());
        assert_eq!(
            E164::parse("+1 (415) 555-0123", us).unwrap().as_str(),
            "+14155550123"
        );
    }
}
