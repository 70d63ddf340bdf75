//! What the engine's services answer when they refuse. The server maps each
//! variant to one HTTP status; nothing else does.

use smsflow_store::StoreError;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The resource does not exist in this account (other accounts' resources
    /// are reported the same way, R26).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input was understood but is invalid; every bad field is named (R5, R28).
    #[error("validation failed")]
    Validation { fields: BTreeMap<String, String> },
    /// The account lacks the `sms` entitlement (R1).
    #[error("{}", smsflow_core::account::SMS_NOT_ENABLED)]
    SmsNotEnabled,
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but a rule forbids it now (an opted-out
    /// phone, a reached limit).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A provider's API answered an error or nothing (a directory sync).
    /// `code` is the provider's, e.g. `aircall:http_503`.
    #[error("the provider answered {code}: {message}")]
    Provider { code: String, message: String },
    #[error(transparent)]
    Store(StoreError),
}

impl EngineError {
    pub fn field(name: impl Into<String>, why: impl Into<String>) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(name.into(), why.into());
        EngineError::Validation { fields }
    }

    pub(crate) fn not_found(what: &'static str) -> impl FnOnce(StoreError) -> EngineError {
        move |e| match e {
            StoreError::NotFound => EngineError::NotFound(what),
            other => EngineError::from(other),
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => EngineError::Conflict(what),
            StoreError::NotFound => EngineError::NotFound("resource"),
            other => EngineError::Store(other),
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
