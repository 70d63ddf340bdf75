//! SMS consent (R18–R20): subscription types with a purpose, per-phone
//! status with the legal basis that justifies it, and where a change came
//! from, so consent can be proven later.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// The phone-wide pseudo subscription type: STOP and START set it, and a
/// phone unsubscribed here gets no message of any type (R17, R18).
pub const ALL_TYPES: &str = "*";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Marketing,
    Transactional,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    Subscribed,
    Unsubscribed,
    NotSpecified,
}

/// GDPR legal bases, named as HubSpot's subscription API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    LegitimateInterestPql,
    LegitimateInterestClient,
    LegitimateInterestOther,
    PerformanceOfContract,
    ConsentWithNotice,
    NonGdpr,
    ProcessAndStore,
}

/// Where a consent change came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    Api,
    Workflow,
    Keyword,
    NaturalLanguage,
    Agent,
}

macro_rules! string_enum {
    ($t:ty, $what:literal) => {
        impl $t {
            pub fn as_str(&self) -> String {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::String(s)) => s,
                    _ => String::new(),
                }
            }
        }

        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                serde_json::from_value(serde_json::Value::String(s.to_string()))
                    .map_err(|_| format!("`{s}` is not a valid {}", $what))
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.as_str())
            }
        }
    };
}

string_enum!(Purpose, "purpose (marketing or transactional)");
string_enum!(
    ConsentStatus,
    "status (subscribed, unsubscribed or not_specified)"
);
string_enum!(
    LegalBasis,
    "legal basis (legitimate_interest_pql, legitimate_interest_client, legitimate_interest_other, performance_of_contract, consent_with_notice, non_gdpr, process_and_store)"
);
string_enum!(ConsentSource, "consent source");

/// Why a send must not go out, by the consent rules alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentBlock {
    /// R18: unsubscribed from this type, or from everything.
    OptedOut,
    /// R19: a marketing message to someone who is not a marketing contact.
    NotMarketingContact,
}

/// R18, R19: may a message of `purpose` go to a phone with these statuses?
/// `type_status` is the phone's status for the message's type (None when the
/// message has no type), `all_status` the phone-wide one.
pub fn check(
    purpose: Option<Purpose>,
    type_status: Option<ConsentStatus>,
    all_status: Option<ConsentStatus>,
    marketing_contact: bool,
) -> Result<(), ConsentBlock> {
    if all_status == Some(ConsentStatus::Unsubscribed)
        || type_status == Some(ConsentStatus::Unsubscribed)
    {
        return Err(ConsentBlock::OptedOut);
    }
    if purpose == Some(Purpose::Marketing) && !marketing_contact {
        return Err(ConsentBlock::NotMarketingContact);
    }
    Ok(())
}

/// `marketing_contact` as a record stores it: bool or "true".
pub fn is_marketing_contact(value: Option<&serde_json::Value>) -> bool {
    match value {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentStatus::*;

    #[test]
    fn r18_unsubscribed_from_the_type_or_everything_blocks() {
        assert_eq!(
            check(None, None, Some(Unsubscribed), true),
            Err(ConsentBlock::OptedOut)
        );
        assert_eq!(
            check(Some(Purpose::Transactional), Some(Unsubscribed), None, true),
            Err(ConsentBlock::OptedOut)
        );
        assert_eq!(
            check(
                Some(Purpose::Transactional),
                Some(Subscribed),
                Some(Subscribed),
                false
            ),
            Ok(())
        );
        assert_eq!(check(None, None, None, false), Ok(()));
    }

    #[test]
    fn r19_marketing_needs_a_marketing_contact() {
        assert_eq!(
            check(Some(Purpose::Marketing), None, None, false),
            Err(ConsentBlock::NotMarketingContact)
        );
        assert_eq!(check(Some(Purpose::Marketing), None, None, true), Ok(()));
        assert!(is_marketing_contact(Some(&serde_json::json!("TRUE"))));
        assert!(!is_marketing_contact(Some(&serde_json::json!(null))));
    }

    #[test]
    fn legal_bases_round_trip_as_snake_case() {
        assert_eq!(
            "consent_with_notice".parse::<LegalBasis>().unwrap(),
            LegalBasis::ConsentWithNotice
        );
        assert_eq!(LegalBasis::NonGdpr.as_str(), "non_gdpr");
        assert!("gdpr".parse::<LegalBasis>().is_err());
    }
}
