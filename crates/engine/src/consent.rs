//! Subscription types and SMS consent (R18–R20): the API's view of a phone's
//! consent and its ledger, and changes made by API, workflow or keyword.

use crate::error::{EngineError, Result};
use crate::Engine;
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::consent::{ConsentSource, ConsentStatus, LegalBasis, Purpose, ALL_TYPES};
use smsflow_core::ids::{AccountId, SubscriptionTypeId};
use smsflow_core::object::{ObjectType, Properties, PropertySchema, PropertyType};
use smsflow_core::phone::{Country, E164};
use smsflow_store::{ConsentChange, ConsentRow, SubscriptionTypeRow};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionTypeInput {
    #[schema(value_type = Option<String>)]
    pub name: Option<Value>,
    #[schema(value_type = Option<smsflow_core::consent::Purpose>)]
    pub purpose: Option<Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// A subscription type id, or `*` (every SMS type: the phone-wide state).
    /// A subscription type id, or * for every SMS type
    #[schema(value_type = Option<String>)]
    pub subscription_type_id: Option<Value>,
    #[schema(value_type = Option<smsflow_core::consent::ConsentStatus>)]
    pub status: Option<Value>,
    /// Required when subscribing
    #[schema(value_type = Option<smsflow_core::consent::LegalBasis>)]
    pub legal_basis: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub explanation: Option<Value>,
    /// The wording the person agreed to, kept as proof (GDPR Art. 7(1)).
    #[schema(value_type = Option<String>)]
    pub wording: Option<Value>,
}

/// A phone's consent: current status per type, and every change.
pub struct ConsentView {
    pub phone: E164,
    pub current: Vec<ConsentRow>,
    pub ledger: Vec<ConsentChange>,
}

/// The E.164 numbers held in a record's phone properties, for the phone
/// index that inbound matching and opt-outs use.
pub(crate) fn record_phones(
    props: &Properties,
    schema: &PropertySchema,
    country: Country,
) -> Vec<E164> {
    let mut out: Vec<E164> = Vec::new();
    for def in schema
        .defs()
        .iter()
        .filter(|d| d.kind == PropertyType::PhoneNumber)
    {
        if let Some(Value::String(raw)) = props.get(def.name.as_str()) {
            if let Ok(p) = E164::parse(raw, Some(country)) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

pub(crate) fn ledger_id() -> String {
    format!("cns_{}", ulid::Ulid::new().to_string().to_lowercase())
}

impl Engine {
    pub async fn create_subscription_type(
        &self,
        account: &AccountId,
        input: SubscriptionTypeInput,
    ) -> Result<SubscriptionTypeRow> {
        let mut errors = BTreeMap::new();
        let name = input
            .name
            .as_ref()
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 200);
        if name.is_none() {
            errors.insert(
                "name".to_string(),
                "is required: a non-empty string".to_string(),
            );
        }
        let purpose = input
            .purpose
            .as_ref()
            .and_then(Value::as_str)
            .map(str::parse::<Purpose>);
        let purpose = match purpose {
            Some(Ok(p)) => Some(p),
            _ => {
                errors.insert(
                    "purpose".to_string(),
                    "must be marketing or transactional".to_string(),
                );
                None
            }
        };
        let (Some(name), Some(purpose)) = (name, purpose) else {
            return Err(EngineError::Validation { fields: errors });
        };
        let row = SubscriptionTypeRow {
            id: SubscriptionTypeId::generate(),
            name: name.to_string(),
            purpose,
            created_at: self.now(),
        };
        self.store().create_subscription_type(account, &row).await?;
        Ok(row)
    }

    pub async fn list_subscription_types(
        &self,
        account: &AccountId,
    ) -> Result<Vec<SubscriptionTypeRow>> {
        Ok(self.store().list_subscription_types(account).await?)
    }

    async fn parse_phone(&self, account: &AccountId, raw: &str) -> Result<E164> {
        let settings = self.get_account(account).await?.settings;
        E164::parse(raw, Some(settings.default_country))
            .map_err(|e| EngineError::field("e164", e.to_string()))
    }

    pub async fn get_consent(&self, account: &AccountId, raw_phone: &str) -> Result<ConsentView> {
        let phone = self.parse_phone(account, raw_phone).await?;
        let current = self
            .store()
            .consents_of_phones(account, std::slice::from_ref(&phone))
            .await?;
        let ledger = self.store().consent_ledger(account, &phone).await?;
        Ok(ConsentView {
            phone,
            current,
            ledger,
        })
    }

    /// Changes a phone's consent by API. Subscribing needs a legal basis and
    /// an explanation, so the consent can be proven (R20).
    pub async fn put_consent(
        &self,
        account: &AccountId,
        raw_phone: &str,
        input: ConsentInput,
    ) -> Result<ConsentView> {
        let phone = self.parse_phone(account, raw_phone).await?;
        let types = self.store().list_subscription_types(account).await?;
        let mut errors = BTreeMap::new();
        let type_id = match input.subscription_type_id.as_ref().and_then(Value::as_str) {
            Some(ALL_TYPES) => Some(ALL_TYPES.to_string()),
            Some(id) if types.iter().any(|t| t.id.as_str() == id) => Some(id.to_string()),
            Some(_) => {
                errors.insert(
                    "subscription_type_id".into(),
                    "unknown subscription type".into(),
                );
                None
            }
            None => {
                errors.insert(
                    "subscription_type_id".into(),
                    "is required (a type id, or * for every type)".into(),
                );
                None
            }
        };
        let status = match input
            .status
            .as_ref()
            .and_then(Value::as_str)
            .map(str::parse::<ConsentStatus>)
        {
            Some(Ok(s)) => Some(s),
            _ => {
                errors.insert(
                    "status".into(),
                    "must be subscribed, unsubscribed or not_specified".into(),
                );
                None
            }
        };
        let legal_basis = match input.legal_basis.as_ref().filter(|v| !v.is_null()) {
            None => None,
            Some(v) => match v.as_str().map(str::parse::<LegalBasis>) {
                Some(Ok(b)) => Some(b),
                Some(Err(e)) => {
                    errors.insert("legal_basis".into(), e);
                    None
                }
                None => {
                    errors.insert("legal_basis".into(), "must be a string".into());
                    None
                }
            },
        };
        let text = |v: &Option<Value>| {
            v.as_ref()
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let explanation = text(&input.explanation);
        if status == Some(ConsentStatus::Subscribed) {
            if legal_basis.is_none() && !errors.contains_key("legal_basis") {
                errors.insert("legal_basis".into(), "is required when subscribing".into());
            }
            if explanation.is_none() {
                errors.insert("explanation".into(), "is required when subscribing".into());
            }
        }
        let (Some(type_id), Some(status), true) = (type_id, status, errors.is_empty()) else {
            return Err(EngineError::Validation { fields: errors });
        };
        let change = ConsentChange {
            id: ledger_id(),
            phone: phone.clone(),
            subscription_type_id: type_id,
            status,
            legal_basis,
            explanation,
            source: ConsentSource::Api,
            wording: text(&input.wording),
            record_id: None,
            message_id: None,
            at: self.now(),
        };
        let mut tx = self.store().begin().await?;
        tx.record_consents(account, &[change]).await?;
        tx.commit().await?;
        self.get_consent(account, phone.as_str()).await
    }

    /// Records' phone index entries for a batch of writes.
    pub(crate) async fn phone_index(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        records: &[smsflow_core::object::Record],
    ) -> Result<Vec<(smsflow_core::ids::RecordId, ObjectType, Vec<E164>)>> {
        let schema = self.schema(account, object_type).await?;
        let country = self.get_account(account).await?.settings.default_country;
        Ok(records
            .iter()
            .map(|r| {
                (
                    r.id.clone(),
                    object_type,
                    record_phones(&r.properties, &schema, country),
                )
            })
            .collect())
    }
}
