//! Messages: direction, status and the rule that a status never moves
//! backwards (R13); action outcomes and reason codes (R15).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    /// The hand-off outcome could not be established (R12).
    Unknown,
    Received,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Unknown => "unknown",
            MessageStatus::Received => "received",
        }
    }

    fn rank(self) -> u8 {
        match self {
            MessageStatus::Queued => 0,
            MessageStatus::Sending | MessageStatus::Unknown => 1,
            MessageStatus::Sent => 2,
            MessageStatus::Delivered
            | MessageStatus::Undelivered
            | MessageStatus::Failed
            | MessageStatus::Received => 3,
        }
    }

    pub fn is_final(self) -> bool {
        self.rank() == 3
    }

    /// R13: a status only moves forward; final statuses never change.
    pub fn can_move_to(self, next: MessageStatus) -> bool {
        !self.is_final() && next.rank() > self.rank()
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for MessageStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| UnknownStatus(s.to_string()))
    }
}

/// The outcome of one action execution (R15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    Skipped,
    Deferred,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Deferred => "deferred",
        }
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            format!("unknown outcome `{s}`; expected succeeded, failed, skipped or deferred")
        })
    }
}

/// Why an action did not simply succeed. Stable strings: users filter on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    NoRecipient,
    InvalidPhone,
    MissingToken,
    BodyTooLong,
    LimitExceeded,
    OptedOut,
    NotMarketingContact,
    QuietHours,
    SmsNotEnabled,
    ProviderError,
    RecordDeleted,
    /// A crash left the hand-off outcome unknown and the provider could not
    /// say; the message is not sent again (R12).
    HandoffUnknown,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NoRecipient => "no_recipient",
            ReasonCode::InvalidPhone => "invalid_phone",
            ReasonCode::MissingToken => "missing_token",
            ReasonCode::BodyTooLong => "body_too_long",
            ReasonCode::LimitExceeded => "limit_exceeded",
            ReasonCode::OptedOut => "opted_out",
            ReasonCode::NotMarketingContact => "not_marketing_contact",
            ReasonCode::QuietHours => "quiet_hours",
            ReasonCode::SmsNotEnabled => "sms_not_enabled",
            ReasonCode::ProviderError => "provider_error",
            ReasonCode::RecordDeleted => "record_deleted",
            ReasonCode::HandoffUnknown => "handoff_unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r13_status_never_moves_backwards() {
        use MessageStatus::*;
        assert!(Queued.can_move_to(Sent));
        assert!(Sent.can_move_to(Delivered));
        assert!(!Delivered.can_move_to(Sent));
        assert!(!Sent.can_move_to(Queued));
        assert!(!Failed.can_move_to(Delivered));
        assert!(Unknown.can_move_to(Delivered));
    }
}
