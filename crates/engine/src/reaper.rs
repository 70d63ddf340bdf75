//! The reaper (R12, §6): takes over messages a node left in `sending` when
//! it died mid hand-off (their lease ran out without a heartbeat).
//!
//! * Provider deduplicates on the idempotency key → back to the outbox with
//!   the same key; sending again cannot send twice.
//! * Otherwise the provider is asked (`lookup`): if it has the message, the
//!   hand-off is recorded; if it has not, or cannot be asked, the message
//!   becomes `unknown` and its action log entry a failure saying so — it is
//!   never sent again blindly. Its counter reservation is kept (the carrier
//!   may have it; a counter must not let more through than the limit).
//! * A lookup that fails transiently is tried again when the reaper's own
//!   lease runs out.

use crate::dispatcher::send_request;
use crate::error::Result;
use crate::Engine;

impl Engine {
    /// One reaper pass. Returns how many messages it settled.
    pub(crate) async fn reap(&self) -> Result<usize> {
        let cfg = &self.inner.config;
        let now = self.now();
        let lease = self.lease();
        let stale = self
            .store()
            .claim_stale_sending(&cfg.node_id, now, now + lease, cfg.dispatch_batch)
            .await?;
        let mut settled = 0;
        for m in stale {
            let provider = self.provider_for(&m.account_id, &m.row.provider).await;
            let done = match provider {
                Some(p) if p.is_idempotent() => {
                    self.store()
                        .requeue_stale(&m.row.id, &cfg.node_id, self.now())
                        .await?
                }
                Some(p) => match p
                    .lookup(&send_request(&m, self.number_external_id(&m).await))
                    .await
                {
                    Ok(Some(receipt)) => {
                        let mut tx = self.store().begin().await?;
                        tx.mark_handed_off(
                            &m.row.id,
                            &receipt.provider_message_id,
                            receipt.status,
                            self.now(),
                        )
                        .await?;
                        tx.commit().await?;
                        tracing::info!(message = %m.row.id, "reconciled a hand-off interrupted by a crash");
                        true
                    }
                    Ok(None) => self.unknown(&m.row.id).await?,
                    Err(e) => {
                        tracing::warn!(message = %m.row.id, error = %e, "lookup failed; will ask again");
                        false
                    }
                },
                None => self.unknown(&m.row.id).await?,
            };
            settled += usize::from(done);
        }
        Ok(settled)
    }

    /// The provider's own id of a message's sending number, if synced.
    async fn number_external_id(&self, m: &smsflow_store::OutboxMessage) -> Option<String> {
        let id = m.row.number_id.as_ref()?;
        self.store()
            .get_number(&m.account_id, id)
            .await
            .ok()?
            .external_id
    }

    async fn unknown(&self, id: &smsflow_core::ids::MessageId) -> Result<bool> {
        tracing::warn!(message = %id, "hand-off outcome unknown after a crash; marked unknown, not re-sent");
        Ok(self
            .store()
            .mark_unknown(id, &self.inner.config.node_id, self.now())
            .await?)
    }

    /// Gives back every lease this node holds (graceful shutdown), so other
    /// nodes take the work over at once.
    pub async fn release_leases(&self) -> Result<u64> {
        Ok(self
            .store()
            .release_leases(&self.inner.config.node_id, self.now())
            .await?)
    }
}
