//! The dispatcher: leases due outbox messages, hands them to their providers
//! concurrently, and records every result in one transaction. Transient
//! failures go back to the outbox with exponential backoff and jitter;
//! permanent ones fail the message, give its limit reservation back and
//! mark its action log entry failed with the provider's code (R12).

use crate::error::Result;
use crate::Engine;
use chrono::Duration;
use futures::stream::{self, StreamExt};
use rand::Rng;
use smsflow_providers::{SendError, SendReceipt, SendRequest};
use smsflow_store::OutboxMessage;

impl Engine {
    pub(crate) async fn dispatch(&self) -> Result<usize> {
        let now = self.now();
        let cfg = &self.inner.config;
        let lease_until = now + Duration::from_std(cfg.lease).unwrap_or(Duration::seconds(60));
        let claimed = self.store().claim_outbox(&cfg.node_id, now, lease_until, cfg.dispatch_batch).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let results: Vec<(OutboxMessage, Result<SendReceipt, SendError>)> = stream::iter(claimed)
            .map(|m| async move {
                let result = self.hand_off(&m).await;
                (m, result)
            })
            .buffer_unordered(cfg.dispatch_concurrency.max(1))
            .collect()
            .await;
        let n = results.len();
        let done_at = self.now();
        let mut tx = self.store().begin().await?;
        for (m, result) in results {
            match result {
                Ok(receipt) => tx.mark_handed_off(&m.row.id, &receipt.provider_message_id, receipt.status, done_at).await?,
                Err(SendError::Transient { code, message, retry_after }) if m.row.attempts < cfg.max_attempts => {
                    let backoff = retry_after
                        .and_then(|d| Duration::from_std(d).ok())
                        .unwrap_or_else(|| backoff(m.row.attempts));
                    tx.mark_retry(&m.row.id, done_at + backoff, &format!("{code}: {message}"), done_at).await?;
                }
                Err(SendError::Transient { code, message, .. } | SendError::Permanent { code, message }) => {
                    tx.mark_failed(&m.row.id, &code, &message, done_at).await?;
                    let mut subjects = Vec::new();
                    if let Some(n) = &m.row.number_id {
                        subjects.push(("number", n.as_str()));
                    }
                    if let Some(u) = &m.row.user_id {
                        subjects.push(("user", u.as_str()));
                    }
                    // The message never reached a carrier: it must not use up
                    // the sender's allowance (R9 counts hand-offs).
                    tx.release(&subjects, &m.counted_periods, 1).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn hand_off(&self, m: &OutboxMessage) -> Result<SendReceipt, SendError> {
        let Some(provider) = self.provider_for(&m.account_id, &m.row.provider).await else {
            return Err(SendError::Permanent {
                code: "no_provider".into(),
                message: format!("provider `{}` is not configured on this node", m.row.provider),
            });
        };
        let request = SendRequest {
            idempotency_key: m.row.idempotency_key.clone().unwrap_or_else(|| m.row.id.to_string()),
            from: m.row.from.clone(),
            to: m.row.to.clone(),
            body: m.row.body.clone(),
            segments: u32::try_from(m.row.segments).unwrap_or(1),
        };
        provider.send(&request).await
    }
}

/// 2^attempts seconds (capped at an hour), plus up to 20% jitter so retries
/// from many messages do not arrive together.
fn backoff(attempts: i64) -> Duration {
    let base = 1i64 << attempts.clamp(0, 12);
    let base = base.min(3600);
    let jitter = rand::thread_rng().gen_range(0..=base * 200);
    Duration::seconds(base) + Duration::milliseconds(jitter)
}
