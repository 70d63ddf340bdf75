//! E.164 phone numbers, parsed once at the edge with the account's default
//! country (R6). INTERFACE — implementation in progress.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 3166-1 alpha-2 country known to libphonenumber ("US", "DE", "FI").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country(phonenumber::country::Id);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountryError {
    #[error("`{0}` is not a two-letter country code known for phone numbers")]
    Unknown(String),
}

impl Country {
    pub fn parse(s: &str) -> Result<Self, CountryError> {
        todo_impl(s)
    }
    pub fn as_str(&self) -> &'static str {
        unimplemented!()
    }
    pub fn id(&self) -> phonenumber::country::Id {
        self.0
    }
}

fn todo_impl<T>(_: &str) -> T {
    unimplemented!()
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("`{0}` is not a phone number")]
    Unparsable(String),
    #[error("`{0}` is not a valid phone number for its country")]
    Invalid(String),
}

impl E164 {
    /// Parses national or international input; national numbers use
    /// `default_country`.
    pub fn parse(input: &str, default_country: Option<Country>) -> Result<Self, PhoneError> {
        let _ = (input, default_country);
        unimplemented!()
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The country the number belongs to, when libphonenumber knows it.
    pub fn country(&self) -> Option<Country> {
        unimplemented!()
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
