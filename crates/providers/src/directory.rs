//! What some provider accounts hold besides a send API: their numbers, their
//! users and which users work which number (Aircall). An adapter that has
//! one lists it whole through [`crate::Provider::directory`]; the engine
//! writes it to the store in one transaction, so numbers and users appear
//! at once (R3). Adapters without one answer [`DirectoryError::Unsupported`].

use smsflow_core::phone::E164;
use std::time::Duration;

/// A provider account's numbers and users, as the provider lists them now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    pub numbers: Vec<DirectoryNumber>,
    pub users: Vec<DirectoryUser>,
    /// Entries the provider listed that cannot be taken as they are (a
    /// number that does not parse as E.164, an entry without an id).
    pub skipped: Vec<DirectorySkip>,
    /// How many API requests reading it took, so the engine can charge
    /// them to the provider account's request budget (R11).
    pub requests: u32,
}

/// One number of the provider account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryNumber {
    /// The provider's own id of the number (what its API sends from).
    pub external_id: String,
    pub e164: E164,
    /// The provider's name for the number, used as its label.
    pub name: String,
    /// Whether smsflow may send SMS from it (R2).
    pub sms: bool,
    /// The provider ids of the users linked to it, deduplicated.
    pub user_ids: Vec<String>,
}

/// One user of the provider account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    pub external_id: String,
    pub name: String,
    pub email: String,
}

/// An entry of the provider's lists that was left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectorySkip {
    /// The provider's id of the entry (empty when it had none).
    pub external_id: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// This provider has no numbers or users to list.
    #[error("this provider has no numbers or users to sync")]
    Unsupported,
    /// The provider refused the connection's credentials (401/403).
    #[error("the provider refused the credentials ({code}): {message}")]
    Unauthorized { code: String, message: String },
    /// Worth trying again later: rate limited, a 5xx, no answer.
    #[error("the provider is unavailable ({code}): {message}")]
    Unavailable {
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Any other refusal, or an answer that cannot be read.
    #[error("the provider answered an error ({code}): {message}")]
    Failed { code: String, message: String },
}
