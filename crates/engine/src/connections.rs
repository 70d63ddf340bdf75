//! Provider connections (an account's configured providers) and their
//! webhooks: status callbacks move messages on (R13), inbound messages go
//! through the inbound pipeline; a bad signature stores nothing (R27).
//!
//! Providers that own numbers and users (Aircall) have them synced when the
//! connection is created and again on request: the lists are read from the
//! provider first and written in one transaction with the connection, so
//! they appear at once (R3) or, when the provider refuses, nothing is stored.
//! The sync's API requests are charged to the connection's request budget,
//! so sends queue behind them (R11).

use crate::directory::DEFAULT_THROUGHPUT;
use crate::dispatcher::provider_bucket;
use crate::error::{EngineError, Result};
use crate::Engine;
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::ids::AccountId;
use smsflow_providers::{
    build, ConfigError, Directory, DirectoryError, Provider, WebhookError, WebhookEvent,
    WebhookRequest,
};
use smsflow_store::{ConnectionRow, DirectorySync, SyncReport, SyncSkip, SyncedNumber, SyncedUser};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// aircall, http, smpp, twilio or vonage
    #[schema(value_type = Option<String>)]
    pub kind: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub name: Option<Value>,
    /// The provider's settings; secrets are never read back
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

/// A change to a connection: a new name, and config keys to set (a `null`
/// value removes the key). Secrets can be replaced, never read.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPatch {
    /// Must equal the connection's kind
    #[schema(value_type = Option<String>)]
    pub kind: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub name: Option<Value>,
    /// Keys to set; null removes a key
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

/// A new connection and, for providers with a directory, what its first
/// sync brought.
#[derive(Debug, Clone)]
pub struct CreatedConnection {
    pub row: ConnectionRow,
    pub sync: Option<SyncReport>,
}

/// Where a provider must send its webhooks for one connection.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
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

/// A directory read that failed. When the connection is being created, a
/// refusal of its credentials is a problem of the request's `config`.
fn directory_error(e: DirectoryError, creating: bool) -> EngineError {
    match e {
        DirectoryError::Unauthorized { code, message } if creating => EngineError::field(
            "config",
            format!("the provider refused these credentials ({code}): {message}"),
        ),
        DirectoryError::Unsupported => EngineError::Refused {
            code: "sync_unsupported",
            message: "this provider has no numbers or users to sync".into(),
        },
        DirectoryError::Unauthorized { code, message }
        | DirectoryError::Failed { code, message } => EngineError::Provider { code, message },
        DirectoryError::Unavailable {
            code,
            message,
            retry_after,
        } => EngineError::Provider {
            code,
            message: match retry_after {
                Some(d) => format!("{message} (try again in {} s)", d.as_secs().max(1)),
                None => message,
            },
        },
    }
}

/// A webhook the provider would not register: the connection is not made,
/// and the error says how to go on without the registration.
fn webhook_registration_error(e: DirectoryError, url: &str) -> EngineError {
    match e {
        DirectoryError::Failed { code, message } => EngineError::field(
            "config.register_webhook",
            format!(
                "the provider refused to register the webhook {url} ({code}): {message}; \
                 register it yourself and give its token as config.webhook_token, \
                 or set config.register_webhook to false"
            ),
        ),
        other => directory_error(other, true),
    }
}

/// The store's view of a provider's directory for one connection.
fn synced(directory: &Directory) -> (Vec<SyncedNumber>, Vec<SyncedUser>) {
    let numbers = directory
        .numbers
        .iter()
        .map(|n| SyncedNumber {
            external_id: n.external_id.clone(),
            e164: n.e164.clone(),
            label: n.name.chars().take(200).collect(),
            sms: n.sms,
            user_external_ids: n.user_ids.clone(),
        })
        .collect();
    let users = directory
        .users
        .iter()
        .map(|u| SyncedUser {
            external_id: u.external_id.clone(),
            name: u.name.chars().take(200).collect(),
            email: u.email.chars().take(320).collect(),
        })
        .collect();
    (numbers, users)
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
    ) -> Result<CreatedConnection> {
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
        let webhook_base = self.webhook_base(account, &kind, &id);
        // Building the adapter is the validation of its config.
        let mut provider = build(&kind, &config, &webhook_base).map_err(config_error)?;
        // Read before anything is stored: credentials the provider refuses
        // refuse the connection.
        let mut directory = match provider.directory().await {
            Ok(d) => Some(d),
            Err(DirectoryError::Unsupported) => None,
            Err(e) => return Err(directory_error(e, true)),
        };
        // Our ids are made here, so the webhook URL is known before the
        // connection is stored: a provider that hands out its webhook secret
        // only when the webhook is created gets it registered now, and the
        // connection works in one step.
        let mut config = config;
        let inbound_url = format!("{webhook_base}/inbound");
        match provider.register_webhook(&inbound_url).await {
            Ok(None) => {}
            Ok(Some(extra)) => {
                if let Some(fields) = config.as_object_mut() {
                    fields.extend(extra);
                }
                provider = build(&kind, &config, &webhook_base).map_err(config_error)?;
                if let Some(d) = directory.as_mut() {
                    d.requests += 1;
                }
            }
            Err(e) => return Err(webhook_registration_error(e, &inbound_url)),
        }
        let row = ConnectionRow {
            id,
            account_id: account.clone(),
            kind,
            name,
            config,
            created_at: self.now(),
        };
        let mut tx = self.store().begin().await?;
        tx.create_connection(&row).await?;
        let sync = match &directory {
            Some(d) => Some(self.write_directory(&mut tx, account, &row.id, d).await?),
            None => None,
        };
        tx.commit().await?;
        if let Some(d) = &directory {
            self.charge_requests(account, &row.id, provider.as_ref(), d.requests)
                .await?;
        }
        self.cache_adapter(&row, provider);
        Ok(CreatedConnection { row, sync })
    }

    /// Reads the provider's numbers and users again and writes them (R3):
    /// idempotent, and links follow the provider's current state.
    pub async fn sync_connection(&self, account: &AccountId, id: &str) -> Result<SyncReport> {
        let c = self.get_connection(account, id).await?;
        let provider = self
            .adapter(&c)
            .ok_or(EngineError::NotFound("provider connection"))?;
        let directory = provider
            .directory()
            .await
            .map_err(|e| directory_error(e, false))?;
        let mut tx = self.store().begin().await?;
        let report = self
            .write_directory(&mut tx, account, &c.id, &directory)
            .await?;
        tx.commit().await?;
        self.charge_requests(account, &c.id, provider.as_ref(), directory.requests)
            .await?;
        Ok(report)
    }

    async fn write_directory(
        &self,
        tx: &mut smsflow_store::StoreTx,
        account: &AccountId,
        connection_id: &str,
        directory: &Directory,
    ) -> Result<SyncReport> {
        let (numbers, users) = synced(directory);
        let mut report = tx
            .sync_directory(
                account,
                &DirectorySync {
                    provider: connection_id,
                    numbers: &numbers,
                    users: &users,
                    throughput: DEFAULT_THROUGHPUT,
                    at: self.now(),
                },
            )
            .await?;
        for skip in &directory.skipped {
            tracing::warn!(connection = %connection_id, external_id = %skip.external_id, reason = %skip.reason, "provider directory entry skipped");
        }
        // Entries the adapter could not read (no id, no valid phone number)
        // are reported under the provider's id.
        report
            .skipped
            .extend(directory.skipped.iter().map(|s| SyncSkip {
                external_id: s.external_id.clone(),
                e164: None,
                reason: s.reason.clone(),
            }));
        Ok(report)
    }

    /// Charges API requests made outside the dispatcher to the connection's
    /// request budget (R11), so the sends that follow wait for them.
    async fn charge_requests(
        &self,
        account: &AccountId,
        connection_id: &str,
        provider: &dyn Provider,
        requests: u32,
    ) -> Result<()> {
        let Some(rpm) = provider.requests_per_minute() else {
            return Ok(());
        };
        let cost_us = 60_000_000 / i64::from(rpm.max(1)) * i64::from(requests);
        self.store()
            .charge_pace(
                &provider_bucket(account, connection_id),
                cost_us,
                self.now(),
            )
            .await?;
        Ok(())
    }

    /// Renames a connection or changes its config (merged key by key; a
    /// `null` removes a key). The new config is validated by building the
    /// adapter; every node picks it up at its next use.
    pub async fn update_connection(
        &self,
        account: &AccountId,
        id: &str,
        patch: ConnectionPatch,
    ) -> Result<ConnectionRow> {
        let mut c = self.get_connection(account, id).await?;
        let mut errors = BTreeMap::new();
        if let Some(kind) = &patch.kind {
            if kind.as_str() != Some(c.kind.as_str()) {
                errors.insert(
                    "kind".to_string(),
                    "cannot be changed; create a new connection".to_string(),
                );
            }
        }
        if let Some(name) = &patch.name {
            match name.as_str().map(str::trim).filter(|n| !n.is_empty()) {
                Some(n) => c.name = n.to_string(),
                None => {
                    errors.insert("name".to_string(), "must be a non-empty string".to_string());
                }
            }
        }
        if let Some(config) = &patch.config {
            match (config.as_object(), c.config.as_object_mut()) {
                (Some(changes), Some(current)) => {
                    for (key, value) in changes {
                        if value.is_null() {
                            current.remove(key);
                        } else {
                            current.insert(key.clone(), value.clone());
                        }
                    }
                }
                (Some(changes), None) => c.config = Value::Object(changes.clone()),
                (None, _) => {
                    errors.insert("config".to_string(), "must be an object".to_string());
                }
            }
        }
        if !errors.is_empty() {
            return Err(EngineError::Validation { fields: errors });
        }
        build(
            &c.kind,
            &c.config,
            &self.webhook_base(account, &c.kind, &c.id),
        )
        .map_err(config_error)?;
        self.store()
            .update_connection(&c)
            .await
            .map_err(EngineError::not_found("provider connection"))?;
        Ok(c)
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
    /// the account's connections.
    pub(crate) async fn provider_for(
        &self,
        account: &AccountId,
        name: &str,
    ) -> Option<Arc<dyn Provider>> {
        if let Some(p) = self.inner.providers.get(name) {
            return Some(p.clone());
        }
        let c = self.store().get_connection(account, name).await.ok()?;
        self.adapter(&c)
    }

    /// The adapter of a connection as it is stored now: built once per
    /// config and kept; built again when the config changed (on this node
    /// or another).
    fn adapter(&self, c: &ConnectionRow) -> Option<Arc<dyn Provider>> {
        if let Some((config, p)) = self
            .inner
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&c.id)
        {
            if *config == c.config {
                return Some(p.clone());
            }
        }
        let p = build(
            &c.kind,
            &c.config,
            &self.webhook_base(&c.account_id, &c.kind, &c.id),
        )
        .ok()?;
        Some(self.cache_adapter(c, p))
    }

    /// Keeps `p` as the adapter of `c`, unless another task just built one
    /// for the same config (that one is answered, and `p` dropped unused).
    fn cache_adapter(&self, c: &ConnectionRow, p: Arc<dyn Provider>) -> Arc<dyn Provider> {
        {
            let mut cache = self
                .inner
                .connections
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((config, existing)) = cache.get(&c.id) {
                if *config == c.config {
                    return existing.clone();
                }
            }
            cache.insert(c.id.clone(), (c.config.clone(), p.clone()));
        }
        self.watch_provider_events(&c.account_id, &c.id, &p);
        p
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
            .adapter(&c)
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
                // Providers deliver at least once (Aircall retries for
                // hours): a message already stored under its provider id
                // is not taken in twice.
                if let Some(pid) = &provider_message_id {
                    if self
                        .store()
                        .message_by_provider_id(account, &number.provider, pid)
                        .await
                        .is_ok()
                    {
                        tracing::info!(connection = %connection_id, provider_message_id = %pid, "inbound SMS delivered again; already stored");
                        return Ok(());
                    }
                }
                self.receive_inbound(account, number, from, body, provider_message_id)
                    .await?;
            }
        }
        Ok(())
    }
}
