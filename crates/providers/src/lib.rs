//! Providers: what hands a message to a carrier. Every adapter takes the
//! message's idempotency key, so a retried hand-off never sends twice (R12),
//! and classifies failures as transient (retry) or permanent (fail now).
#![forbid(unsafe_code)]

mod http_gateway;
mod sandbox;

pub use http_gateway::HttpGateway;
pub use sandbox::Sandbox;

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
    Transient { code: String, message: String, retry_after: Option<Duration> },
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
}
