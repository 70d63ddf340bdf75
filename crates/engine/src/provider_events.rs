//! Events that providers stream over their own sessions (SMPP receipts and
//! inbound messages) rather than by webhook. Each connection adapter that
//! streams gets one task applying its events exactly as a webhook's are
//! (R13 status moves, the inbound pipeline). The task holds the engine
//! weakly, so an engine that is dropped stops its tasks and adapters.

use crate::{Engine, Inner};
use smsflow_core::ids::AccountId;
use smsflow_providers::Provider;
use std::sync::{Arc, Weak};

impl Engine {
    /// Starts applying `provider`'s streamed events for a connection, if it
    /// streams any. Called once per adapter built.
    pub(crate) fn watch_provider_events(
        &self,
        account: &AccountId,
        connection_id: &str,
        provider: &Arc<dyn Provider>,
    ) {
        let Some(mut events) = provider.subscribe() else {
            return;
        };
        let engine: Weak<Inner> = Arc::downgrade(&self.inner);
        let (account, connection_id) = (account.clone(), connection_id.to_string());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let Some(inner) = engine.upgrade() else {
                    return;
                };
                let engine = Engine { inner };
                if let Err(e) = engine
                    .apply_provider_event(&account, &connection_id, event)
                    .await
                {
                    tracing::error!(error = %e, connection = %connection_id, "provider event not applied");
                }
            }
        });
    }
}
