//! Provider connections (an account's configured providers) and their
//! webhooks: status callbacks move messages on (R13), inbound messages go
//! through the inbound pipeline; a bad signature stores nothing (R27).

use crate::error::{EngineError, Result};
use crate::Engine;
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::ids::AccountId;
use smsflow_providers::{build, ConfigError, Provider, WebhookError, WebhookEvent, WebhookRequest};
use smsflow_store::ConnectionRow;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    pub kind: Option<Value>,
    pub name: Option<Value>,
    pub config: Option<Value>,
}

/// Where a provider must send its webhooks for one connection.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WebhookUrls {
    pub inbound: String,
    pub status: String,
}

fn config_error(e: ConfigError) -> EngineError {
    match e {
        ConfigError::UnknownKind(k) => {
            EngineError::field("kind", format!("unknown provider kind `{k}`"))
        }
        ConfigError::Field(f, why) => EngineError::field(format!("config.{f}"), why),
    }
}

impl Engine {
    fn webhook_base(&self, account: &AccountId, kind: &str, id: &str) -> String {
        format!(
            "{}/webhooks/{kind}/{account}/{id}",
            self.inner.config.public_url.trim_end_matches('/')
        )
    }

    pub fn public_url(&self) -> &str {
        &self.inner.config.public_url
    }

    pub fn webhook_urls(&self, c: &ConnectionRow) -> WebhookUrls {
        let base = self.webhook_base(&c.account_id, &c.kind, &c.id);
        WebhookUrls {
            inbound: format!("{base}/inbound"),
            status: format!("{base}/status"),
        }
    }

    pub async fn create_connection(
        &self,
        account: &AccountId,
        input: ConnectionInput,
    ) -> Result<ConnectionRow> {
        let mut errors = BTreeMap::new();
        let kind = input
            .kind
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_string);
        if kind.is_none() {
            errors.insert("kind".to_string(), "is required".to_string());
        }
        let name = input
            .name
            .as_ref()
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        if name.is_none() {
            errors.insert("name".to_string(), "is required".to_string());
        }
        let config = input.config.unwrap_or(Value::Object(Default::default()));
        if !config.is_object() {
            errors.insert("config".to_string(), "must be an object".to_string());
        }
        let (Some(kind), Some(name), true) = (kind, name, errors.is_empty()) else {
            return Err(EngineError::Validation { fields: errors });
        };
        if kind == "sandbox" {
            return Err(EngineError::field(
                "kind",
                "the sandbox needs no connection; use provider \"sandbox\" on a number",
            ));
        }
        let id = format!("prv_{}", ulid::Ulid::new().to_string().to_lowercase());
        // Building the adapter is the validation of its config.
        let provider =
            build(&kind, &config, &self.webhook_base(account, &kind, &id)).map_err(config_error)?;
        let row = ConnectionRow {
            id,
            account_id: account.clone(),
            kind,
            name,
            config,
            created_at: self.now(),
        };
        self.store().create_connection(&row).await?;
        self.watch_provider_events(account, &row.id, &provider);
        self.inner
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(row.id.clone(), provider);
        Ok(row)
    }

    pub async fn list_connections(&self, account: &AccountId) -> Result<Vec<ConnectionRow>> {
        Ok(self.store().list_connections(account).await?)
    }

    pub async fn get_connection(&self, account: &AccountId, id: &str) -> Result<ConnectionRow> {
        self.store()
            .get_connection(account, id)
            .await
            .map_err(EngineError::not_found("provider connection"))
    }

    /// The adapter a number's `provider` names: a built-in kind, or one of
    /// the account's connections (built once, then kept).
    pub(crate) async fn provider_for(
        &self,
        account: &AccountId,
        name: &str,
    ) -> Option<Arc<dyn Provider>> {
        if let Some(p) = self.inner.providers.get(name) {
            return Some(p.clone());
        }
        if let Some(p) = self
            .inner
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Some(p.clone());
        }
        let c = self.store().get_connection(account, name).await.ok()?;
        let p = build(
            &c.kind,
            &c.config,
            &self.webhook_base(account, &c.kind, &c.id),
        )
        .ok()?;
        self.watch_provider_events(account, &c.id, &p);
        self.inner
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c.id.clone(), p.clone());
        Some(p)
    }

    /// Whether a number may use this provider name.
    pub(crate) async fn provider_exists(&self, account: &AccountId, name: &str) -> bool {
        self.inner.providers.contains_key(name)
            || self.store().get_connection(account, name).await.is_ok()
    }

    /// A provider's webhook for one connection. Returns how many events it
    /// carried. A bad signature is `Unauthorized` and nothing is stored.
    pub async fn handle_webhook(
        &self,
        account: &AccountId,
        kind: &str,
        connection_id: &str,
        request: WebhookRequest,
    ) -> Result<usize> {
        let c = self.get_connection(account, connection_id).await?;
        if c.kind != kind {
            return Err(EngineError::NotFound("provider connection"));
        }
        let provider = self
            .provider_for(account, &c.id)
            .await
            .ok_or(EngineError::NotFound("provider connection"))?;
        let events = provider.parse_webhook(&request).map_err(|e| match e {
            WebhookError::BadSignature => {
                EngineError::Unauthorized("webhook signature is missing, invalid or stale")
            }
            WebhookError::Malformed(m) => EngineError::field("body", m),
            WebhookError::Unsupported => EngineError::NotFound("webhook"),
        })?;
        let n = events.len();
        for event in events {
            self.apply_provider_event(account, &c.id, event).await?;
        }
        Ok(n)
    }

    /// Applies one event a provider reported for a connection, whether it
    /// came by webhook or over the provider's own session.
    pub(crate) async fn apply_provider_event(
        &self,
        account: &AccountId,
        connection_id: &str,
        event: WebhookEvent,
    ) -> Result<()> {
        match event {
            WebhookEvent::Status {
                provider_message_id,
                status,
                error_code,
                ..
            } => {
                // Callbacks for messages we do not know (sent from the
                // provider's own app) are acknowledged and ignored.
                if let Ok(id) = self
                    .store()
                    .message_by_provider_id(account, connection_id, &provider_message_id)
                    .await
                {
                    self.store()
                        .advance_message_status(
                            account,
                            &id,
                            status,
                            error_code.as_deref(),
                            self.now(),
                        )
                        .await?;
                }
            }
            WebhookEvent::Inbound {
                from,
                to,
                body,
                provider_message_id,
            } => {
                let numbers = self.store().list_numbers(account).await?;
                let Some(number) = numbers.iter().find(|n| n.e164 == to) else {
                    tracing::warn!(%to, connection = %connection_id, "inbound SMS to a number this account does not have");
                    return Ok(());
                };
                self.receive_inbound(account, number, from, body, provider_message_id)
                    .await?;
            }
        }
        Ok(())
    }
}
