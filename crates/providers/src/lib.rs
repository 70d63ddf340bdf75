//! Providers: what hands a message to a carrier. Every adapter takes the
//! message's idempotency key, so a retried hand-off never sends twice (R12),
//! and classifies failures as transient (retry) or permanent (fail now).
#![forbid(unsafe_code)]

mod connection;
mod http_gateway;
mod sandbox;
mod smpp;
pub mod twilio;
pub mod vonage;
mod webhook;

pub use connection::{build, is_secret, ConfigError, KINDS};
pub use http_gateway::HttpGateway;
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

    /// Adapters that receive over their own connection (SMPP) rather than
    /// webhooks stream status and inbound events here. The receiver is
    /// handed out once; the engine applies each event as it would a
    /// webhook's. `None`: this provider only calls webhooks.
    fn subscribe(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<WebhookEvent>> {
        None
    }
}
