//! Identifiers. Every id is a string `prefix_ULID` (lowercase), so ids sort by
//! creation time (cursor pagination relies on it) and say what they name.

use std::fmt;

/// Declares a string id newtype with its prefix.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, example = json!(concat!($prefix, "_01hx5m3k8v2r7d9q4w6e1t0y5n")))]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, ulid::Ulid::new().to_string().to_lowercase()))
            }

            /// Wraps an id read from storage or a request path. Ids are opaque:
            /// an unknown id simply finds nothing.
            pub fn from_string(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }
    };
}

id_type!(/// A tenant.
    AccountId, "acc");
id_type!(/// A sending user (agent).
    UserId, "usr");
id_type!(/// A sending number.
    NumberId, "num");
id_type!(/// A CRM record of any object type.
    RecordId, "rec");
id_type!(/// A workflow (all its revisions).
    WorkflowId, "wf");
id_type!(/// A record's enrollment in one workflow revision.
    EnrollmentId, "enr");
id_type!(/// An inbound or outbound SMS.
    MessageId, "msg");
id_type!(/// The thread of one account number with one external phone.
    ConversationId, "conv");
id_type!(/// One execution of one action for one enrollment.
    ActionLogId, "log");
id_type!(/// A timeline entry on a record.
    EngagementId, "eng");
id_type!(/// Reusable, publishable SMS content.
    SmsMessageId, "smsm");
id_type!(/// A subscription type such as "SMS marketing".
    SubscriptionTypeId, "sub");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_sort_by_creation() {
        let a = WorkflowId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = WorkflowId::generate();
        assert!(a.as_str().starts_with("wf_"));
        assert!(a < b);
    }
}
