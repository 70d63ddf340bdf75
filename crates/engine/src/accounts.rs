//! Accounts and API tokens. Tokens are random, shown once, stored as SHA-256
//! hashes (R26).

use crate::error::{EngineError, Result};
use crate::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use smsflow_core::account::{AccountSettings, Entitlements, QuietHours, SendLimits};
use smsflow_core::ids::AccountId;
use smsflow_core::keywords::KeywordSettings;
use smsflow_core::phone::Country;
use smsflow_store::{AccountRow, NewAccount};
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("sfk_{}", hex::encode(bytes))
}

/// Account fields as sent; every one optional so PATCH can reuse it. Values
/// stay raw JSON until parsed here, so each bad field gets its own error.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// Required when creating; 1–200 characters
    #[schema(value_type = Option<String>)]
    pub name: Option<Value>,
    #[schema(value_type = Option<smsflow_core::account::Entitlements>)]
    pub entitlements: Option<Value>,
    /// IANA time zone, e.g. Europe/Berlin
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Value>,
    /// ISO 3166 two-letter code for numbers written without +
    #[schema(value_type = Option<String>)]
    pub default_country: Option<Value>,
    #[schema(value_type = Option<LimitsInput>)]
    pub limits: Option<Value>,
    /// `null` switches quiet hours off, so it must stay distinguishable
    /// from a missing field.
    #[serde(default, deserialize_with = "present")]
    /// null switches quiet hours off
    #[schema(value_type = Option<smsflow_core::account::QuietHours>)]
    pub quiet_hours: Option<Value>,
    /// Keyword lists and replies (R17), natural-language opt-out (R29).
    #[schema(value_type = Option<smsflow_core::keywords::KeywordSettings>)]
    pub keywords: Option<Value>,
    /// `{max_attempts}`: hand-off attempts for transient errors (R12).
    /// max_attempts from 1 to 100
    #[schema(value_type = Option<smsflow_core::account::DeliverySettings>)]
    pub delivery: Option<Value>,
}

/// The schema of `limits` in a request: a partial object keeps the values
/// it does not give. Parsing merges onto the current [`SendLimits`].
#[derive(ToSchema)]
#[allow(dead_code)] // describes the request; parsing goes through `SendLimits`
pub struct LimitsInput {
    /// Sends per number and per user a day, at least 1.
    day: Option<u32>,
    /// Sends per number and per user a month, at least 1.
    month: Option<u32>,
    on_limit: Option<smsflow_core::account::OnLimit>,
}

/// Keeps an explicit `null` as `Some(Value::Null)`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

pub struct NewAccountOutput {
    pub account: AccountRow,
    pub token: String,
}

impl AccountInput {
    /// Applies the given fields onto `name`/`settings`, collecting every
    /// error.
    fn apply(self, name: &mut String, settings: &mut AccountSettings) -> Result<()> {
        let mut errors = BTreeMap::new();
        if let Some(v) = self.name {
            match v.as_str().map(str::trim) {
                Some(n) if !n.is_empty() && n.chars().count() <= 200 => *name = n.to_string(),
                _ => {
                    errors.insert(
                        "name".into(),
                        "must be a non-empty string of at most 200 characters".into(),
                    );
                }
            }
        }
        if let Some(v) = self.entitlements {
            match serde_json::from_value::<Entitlements>(v) {
                Ok(e) => settings.entitlements = e,
                Err(_) => {
                    errors.insert(
                        "entitlements".into(),
                        "must be an object {\"sms\": true|false}".into(),
                    );
                }
            }
        }
        if let Some(v) = self.time_zone {
            match v.as_str().and_then(|s| s.parse::<chrono_tz::Tz>().ok()) {
                Some(tz) => settings.time_zone = tz,
                None => {
                    errors.insert(
                        "time_zone".into(),
                        "must be an IANA time zone such as Europe/Berlin".into(),
                    );
                }
            }
        }
        if let Some(v) = self.default_country {
            match v.as_str().map(Country::parse) {
                Some(Ok(c)) => settings.default_country = c,
                Some(Err(e)) => {
                    errors.insert("default_country".into(), e.to_string());
                }
                None => {
                    errors.insert(
                        "default_country".into(),
                        "must be a two-letter country code".into(),
                    );
                }
            }
        }
        if let Some(v) = self.limits {
            // Partial limits keep the values not given.
            let mut merged = serde_json::to_value(settings.limits).expect("limits serialise");
            let ok = match (merged.as_object_mut(), v.as_object()) {
                (Some(m), Some(given)) => {
                    for (k, val) in given {
                        m.insert(k.clone(), val.clone());
                    }
                    true
                }
                _ => false,
            };
            match serde_json::from_value::<SendLimits>(merged) {
                Ok(l) if ok && l.day >= 1 && l.month >= 1 => settings.limits = l,
                _ => {
                    errors.insert(
                        "limits".into(),
                        "must be {day: positive integer, month: positive integer, on_limit: \"fail\"|\"defer\"}".into(),
                    );
                }
            }
        }
        if let Some(v) = self.quiet_hours {
            if v.is_null() {
                settings.quiet_hours = None;
            } else {
                match serde_json::from_value::<QuietHours>(v) {
                    Ok(q) => settings.quiet_hours = Some(q),
                    Err(_) => {
                        errors.insert(
                            "quiet_hours".into(),
                            "must be {start: \"HH:MM\", end: \"HH:MM\"} or null".into(),
                        );
                    }
                }
            }
        }
        if let Some(v) = self.keywords {
            match serde_json::from_value::<KeywordSettings>(v) {
                Ok(k) => match k.validate() {
                    Ok(()) => settings.keywords = k,
                    Err(fields) => errors.extend(fields),
                },
                Err(e) => {
                    errors.insert("keywords".into(), format!("must be {{stop, start, help, stop_reply, start_reply, help_reply, natural_language_opt_out}}: {e}"));
                }
            }
        }
        if let Some(v) = self.delivery {
            match serde_json::from_value::<smsflow_core::account::DeliverySettings>(v) {
                Ok(d) if (1..=100).contains(&d.max_attempts) => settings.delivery = d,
                _ => {
                    errors.insert(
                        "delivery".into(),
                        "must be {max_attempts: integer from 1 to 100}".into(),
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Validation { fields: errors })
        }
    }
}

impl Engine {
    pub async fn create_account(&self, input: AccountInput) -> Result<NewAccountOutput> {
        if input.name.is_none() {
            return Err(EngineError::field("name", "is required"));
        }
        let mut name = String::new();
        let mut settings = AccountSettings::default();
        input.apply(&mut name, &mut settings)?;
        let id = AccountId::generate();
        let token = new_token();
        let account = self
            .store()
            .create_account(NewAccount {
                id: &id,
                name: &name,
                settings: &settings,
                token_hash: &hash_token(&token),
                at: self.now(),
            })
            .await?;
        Ok(NewAccountOutput { account, token })
    }

    pub async fn get_account(&self, id: &AccountId) -> Result<AccountRow> {
        self.store()
            .get_account(id)
            .await
            .map_err(EngineError::not_found("account"))
    }

    pub async fn update_account(&self, id: &AccountId, input: AccountInput) -> Result<AccountRow> {
        let mut account = self.get_account(id).await?;
        input.apply(&mut account.name, &mut account.settings)?;
        self.store()
            .update_account(id, &account.name, &account.settings)
            .await?;
        Ok(account)
    }

    /// The account a bearer token belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<AccountId> {
        self.store()
            .account_for_token(&hash_token(token))
            .await?
            .ok_or(EngineError::Unauthorized("unknown or revoked API token"))
    }
}
