//! Providers: what hands a message to a carrier. Every adapter takes the
//! message's idempotency key, so a retried hand-off never sends twice (R12),
//! and classifies failures as transient (retry) or permanent (fail now).
#![forbid(unsafe_code)]

pub mod aircall;
mod connection;
mod directory;
mod http_gateway;
mod sandbox;
mod smpp;
pub mod twilio;
pub mod vonage;
mod webhook;

pub use aircall::Aircall;
pub use connection::{build, is_secret, ConfigError, KINDS};
pub use directory::{Directory, DirectoryError, DirectoryNumber, DirectorySkip, DirectoryUser};
pub use http_gateway::{http_url, HttpGateway};
pub use sandbox::Sandbox;
pub use smpp::{Smpp, SmppConfig};
pub use twilio::Twilio;
pub use vonage::Vonage;
pub use webhook::{WebhookError, WebhookEvent, WebhookKind, WebhookRequest};

use async_trait::async_trait;
use smsflow_core::message::MessageStatus;
use smsflow_core::phone::E164;
use std::time::Duration;

/// What a provider is asked to send.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub idempotency_key: String,
    pub from: E164,
    /// The provider's own id of the sending number, for providers that send
    /// by number id rather than by E.164 (Aircall). Set when the number was
    /// synced from the provider (its `external_id`).
    pub from_external_id: Option<String>,
    pub to: E164,
    pub body: String,
    pub segments: u32,
}

/// What a provider answered for an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub provider_message_id: String,
    /// Normalised status the provider reported (usually `sent`).
    pub status: MessageStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: timeouts, 5xx, 429. `retry_after` when the provider
    /// said how long to wait.
    #[error("transient provider error {code}: {message}")]
    Transient {
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Will never succeed as is: invalid number, rejected, opted out at the
    /// carrier. The provider's own code is kept.
    #[error("permanent provider error {code}: {message}")]
    Permanent { code: String, message: String },
}

impl SendError {
    /// The hand-off's outcome is unknown: the call ended without an answer
    /// (a transient code `timeout` or `<kind>:timeout`), or the provider
    /// accepted it with an answer that cannot be read (`<kind>:outcome_unknown`).
    /// The provider may have the message, so the dispatcher never repeats
    /// such a hand-off on a provider that does not deduplicate (R12); it
    /// leaves it to the reaper.
    pub fn is_in_doubt(&self) -> bool {
        matches!(self, SendError::Transient { code, .. }
            if code == "timeout" || code.ends_with(":timeout") || code.ends_with(":outcome_unknown"))
    }

    /// The provider account's request budget is spent (HTTP 429): a
    /// transient code `429` or `<kind>:429`. Not an attempt; the account's
    /// pacing bucket closes until `retry_after` (R11).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, SendError::Transient { code, .. } if code == "429" || code.ends_with(":429"))
    }

    /// How long the provider asked to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Transient { retry_after, .. } => *retry_after,
            SendError::Permanent { .. } => None,
        }
    }
}

#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The name stored on messages (`sandbox`, `http`, …).
    fn kind(&self) -> &str;
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, SendError>;

    /// Verifies a webhook's signature (R27) and reads its events.
    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<WebhookEvent>, WebhookError> {
        let _ = request;
        Err(WebhookError::Unsupported)
    }

    /// After a crash, asks the provider whether a message whose hand-off
    /// outcome is unknown was accepted (R12). `Ok(None)`: the provider has
    /// no record of it, or cannot be asked.
    async fn lookup(&self, request: &SendRequest) -> Result<Option<SendReceipt>, SendError> {
        let _ = request;
        Ok(None)
    }

    /// Whether `send` deduplicates on the idempotency key, so a hand-off
    /// whose outcome is unknown may simply be repeated.
    fn is_idempotent(&self) -> bool {
        false
    }

    /// Requests per minute the provider account allows (R11), if limited.
    fn requests_per_minute(&self) -> Option<u32> {
        None
    }

    /// The provider account's numbers, users and their links, for providers
    /// that own them (Aircall), so the engine can sync them (R3).
    async fn directory(&self) -> Result<Directory, DirectoryError> {
        Err(DirectoryError::Unsupported)
    }

    /// Registers `url` (the connection's webhook URL) with providers that
    /// hand out the secret their webhooks carry only when a webhook is
    /// created (Aircall's token). Answers the config keys to store with the
    /// connection; `None`: nothing to register.
    async fn register_webhook(
        &self,
        url: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, DirectoryError> {
        let _ = url;
        Ok(None)
    }

    /// Adapters that receive over their own connection (SMPP) rather than
    /// webhooks stream status and inbound events here. The receiver is
    /// handed out once; the engine applies each event as it would a
    /// webhook's. `None`: this provider only calls webhooks.
    fn subscribe(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<WebhookEvent>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient(code: &str) -> SendError {
        SendError::Transient {
            code: code.into(),
            message: String::new(),
            retry_after: Some(Duration::from_secs(3)),
        }
    }

    #[test]
    fn r12_error_codes_say_which_failures_are_in_doubt_or_rate_limited() {
        for code in [
            "timeout",
            "aircall:timeout",
            "twilio:timeout",
            "aircall:outcome_unknown",
        ] {
            assert!(transient(code).is_in_doubt(), "{code}");
            assert!(!transient(code).is_rate_limited(), "{code}");
        }
        for code in ["429", "aircall:429"] {
            assert!(transient(code).is_rate_limited(), "{code}");
            assert!(!transient(code).is_in_doubt(), "{code}");
        }
        // Provider codes that merely end in the same digits are neither.
        for code in [
            "twilio:20429",
            "aircall:http_503",
            "connect",
            "aircall:connect",
        ] {
            assert!(!transient(code).is_rate_limited(), "{code}");
            assert!(!transient(code).is_in_doubt(), "{code}");
        }
        let permanent = SendError::Permanent {
            code: "timeout".into(),
            message: String::new(),
        };
        assert!(!permanent.is_in_doubt() && permanent.retry_after().is_none());
        assert_eq!(transient("429").retry_after(), Some(Duration::from_secs(3)));
    }
}
