//! Account settings: entitlements, time zone, phone parsing country, send
//! limits and quiet hours.

use crate::phone::Country;
use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The one message every SMS surface answers with when the account lacks the
/// `sms` entitlement (R1).
pub const SMS_NOT_ENABLED: &str =
    "SMS workflows are in private beta and are not enabled for this account";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Entitlements {
    pub sms: bool,
}

/// What happens to a send over a limit (R10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    /// Fail the action with `limit_exceeded`; never retried.
    #[default]
    Fail,
    /// Wait for the window to reopen.
    Defer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SendLimits {
    pub day: u32,
    pub month: u32,
    #[serde(default)]
    pub on_limit: OnLimit,
}

impl Default for SendLimits {
    fn default() -> Self {
        Self {
            day: 5_000,
            month: 10_000,
            on_limit: OnLimit::Fail,
        }
    }
}

/// The quiet period in the recipient's local time: no send from `start`
/// until `end` (the window may wrap past midnight, as the default
/// 20:00–08:00 does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuietHours {
    #[serde(with = "hhmm")]
    #[schema(value_type = String, pattern = r"^\d{2}:\d{2}$", example = "20:00")]
    pub start: NaiveTime,
    #[serde(with = "hhmm")]
    #[schema(value_type = String, pattern = r"^\d{2}:\d{2}$", example = "08:00")]
    pub end: NaiveTime,
}

impl Default for QuietHours {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(20, 0, 0).expect("valid time"),
            end: NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"),
        }
    }
}

impl QuietHours {
    /// Whether a local wall-clock time falls in the quiet period.
    pub fn is_quiet(&self, local: NaiveTime) -> bool {
        if self.start <= self.end {
            local >= self.start && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }
}

mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(&s, "%H:%M")
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a time of day as HH:MM")))
    }
}

/// How hand-offs are retried (R12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Hand-off attempts before a transiently failing message fails.
    pub max_attempts: u32,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self { max_attempts: 8 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountSettings {
    pub entitlements: Entitlements,
    pub time_zone: Tz,
    pub default_country: Country,
    pub limits: SendLimits,
    pub quiet_hours: Option<QuietHours>,
    /// STOP/START/HELP lists and replies, natural-language opt-out (R17, R29).
    #[serde(default)]
    pub keywords: crate::keywords::KeywordSettings,
    /// Retry limit for transient provider errors.
    #[serde(default)]
    pub delivery: DeliverySettings,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            entitlements: Entitlements { sms: true },
            time_zone: Tz::UTC,
            default_country: Country::parse("US").expect("US is a country"),
            limits: SendLimits::default(),
            quiet_hours: Some(QuietHours::default()),
            keywords: crate::keywords::KeywordSettings::default(),
            delivery: DeliverySettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_quiet_hours_wrap_midnight() {
        let q = QuietHours::default();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(q.is_quiet(t(23, 0)));
        assert!(q.is_quiet(t(7, 59)));
        assert!(!q.is_quiet(t(8, 0)));
        assert!(!q.is_quiet(t(19, 59)));
        assert!(q.is_quiet(t(20, 0)));
    }
}
