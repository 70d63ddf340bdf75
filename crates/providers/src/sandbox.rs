//! The sandbox: the default provider, which needs no account anywhere.
//! It accepts every send at once; the message rows in smsflow's database are
//! its outbox (`GET /api/v1/sandbox/outbox`), and simulated statuses and
//! inbound messages come in through `/api/v1/sandbox/*`.

use crate::{Provider, SendError, SendReceipt, SendRequest};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use smsflow_core::message::MessageStatus;

#[derive(Debug, Default, Clone)]
pub struct Sandbox;

impl Sandbox {
    /// The sandbox's message id is derived from the idempotency key, so a
    /// repeated hand-off of the same message yields the same id — the
    /// sandbox's form of idempotency.
    pub fn message_id(idempotency_key: &str) -> String {
        let digest = Sha256::digest(idempotency_key.as_bytes());
        format!("SB{}", &hex::encode(digest)[..30])
    }
}

#[async_trait]
impl Provider for Sandbox {
    fn kind(&self) -> &str {
        "sandbox"
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, SendError> {
        // Numbers in the range reserved for fiction (+1 555 01xx) fail like a
        // carrier rejecting the destination, so failure paths can be tried
        // without a real provider.
        if request.to.as_str().starts_with("+1555019") {
            return Err(SendError::Permanent {
                code: "sandbox_rejected".into(),
                message: "the sandbox rejects numbers +1555019xxxx".into(),
            });
        }
        Ok(SendReceipt {
            provider_message_id: Self::message_id(&request.idempotency_key),
            status: MessageStatus::Sent,
        })
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smsflow_core::phone::E164;

    fn req(key: &str, to: &str) -> SendRequest {
        SendRequest {
            idempotency_key: key.into(),
            from: E164::parse("+14155550100", None).unwrap(),
            from_external_id: None,
            to: E164::parse(to, None).unwrap(),
            body: "hi".into(),
            segments: 1,
        }
    }

    #[tokio::test]
    async fn r12_sandbox_gives_the_same_id_for_the_same_key() {
        let a = Sandbox.send(&req("k1", "+14155550101")).await.unwrap();
        let b = Sandbox.send(&req("k1", "+14155550101")).await.unwrap();
        let c = Sandbox.send(&req("k2", "+14155550101")).await.unwrap();
        assert_eq!(a, b);
        assert_ne!(a.provider_message_id, c.provider_message_id);
    }
}
