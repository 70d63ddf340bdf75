//! SMS encoding and segment accounting (R8). INTERFACE — implementation in progress.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

pub fn analyze(text: &str) -> SmsInfo {
    let _ = text;
    unimplemented!()
}

/// Replaces typographic characters by their GSM-7 look-alikes.
pub fn smart_encode(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}
