//! What providers send back: status callbacks and inbound messages, after
//! their signature is verified (R27). Adapters turn their own wire format
//! into [`WebhookEvent`]s; the engine never sees provider formats.

use smsflow_core::message::MessageStatus;
use smsflow_core::phone::E164;

/// Which of a connection's webhook URLs was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookKind {
    Inbound,
    Status,
}

/// A webhook request as it reached us, raw, so signatures can be checked
/// over exactly what was sent.
#[derive(Clone, Debug)]
pub struct WebhookRequest {
    pub kind: WebhookKind,
    /// The full URL the provider called (scheme, host, path and query), as
    /// signature schemes such as Twilio's sign it.
    pub url: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WebhookRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    Status {
        provider_message_id: String,
        status: MessageStatus,
        /// The provider's own status word, kept beside the normalised one.
        raw_status: String,
        error_code: Option<String>,
    },
    Inbound {
        from: E164,
        to: E164,
        body: String,
        provider_message_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing, wrong or stale signature: refused, nothing stored.
    #[error("webhook signature is missing, invalid or stale")]
    BadSignature,
    #[error("webhook payload is malformed: {0}")]
    Malformed(String),
    #[error("this provider does not send webhooks")]
    Unsupported,
}
