//! Users, numbers, custom properties and the options that feed the action
//! form's dropdowns (R1–R3). Nothing is cached, so a newly connected number
//! or user shows up in the next call.

use crate::error::{EngineError, Result};
use crate::Engine;
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::ids::{AccountId, NumberId, UserId};
use smsflow_core::object::{ObjectType, PropertyDef, PropertyName, PropertySchema, PropertyType};
use smsflow_core::phone::E164;
use smsflow_store::{NumberRow, Page, UserRow};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    #[schema(value_type = Option<String>)]
    pub name: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub email: Option<Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberInput {
    /// The number, E.164 or national in the default country
    #[schema(value_type = Option<String>)]
    pub e164: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub label: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub provider: Option<Value>,
    /// {sms, mms, voice}: booleans
    #[schema(value_type = Option<Object>)]
    pub capabilities: Option<Value>,
    /// The users who may send from it
    #[schema(value_type = Option<Vec<String>>)]
    pub user_ids: Option<Value>,
    /// Segments per second, 1–10,000
    #[schema(value_type = Option<i64>)]
    pub throughput: Option<Value>,
}

/// Segments per second of a number nobody gave a throughput (R11).
pub(crate) const DEFAULT_THROUGHPUT: i64 = 10;

/// The form options of R2/R3: numbers that can send SMS, users linked to one.
pub struct Options;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Capabilities {
    #[serde(default)]
    sms: bool,
    #[serde(default)]
    mms: bool,
    #[serde(default)]
    voice: bool,
}

fn string_field(v: &Value, max: usize) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= max)
        .map(str::to_string)
}

impl Engine {
    pub async fn create_user(&self, account: &AccountId, input: UserInput) -> Result<UserRow> {
        let mut errors = BTreeMap::new();
        let name = input.name.as_ref().and_then(|v| string_field(v, 200));
        if name.is_none() {
            errors.insert(
                "name".to_string(),
                "is required: a non-empty string".to_string(),
            );
        }
        let email = match &input.email {
            None | Some(Value::Null) => Some(String::new()),
            Some(v) => string_field(v, 320).filter(|e| e.contains('@')),
        };
        if email.is_none() {
            errors.insert("email".to_string(), "must be an email address".to_string());
        }
        let (Some(name), Some(email), true) = (name, email, errors.is_empty()) else {
            return Err(EngineError::Validation { fields: errors });
        };
        let user = UserRow {
            id: UserId::generate(),
            name,
            email,
            provider: None,
            external_id: None,
            created_at: self.now(),
        };
        self.store().create_user(account, &user).await?;
        Ok(user)
    }

    pub async fn list_users(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<UserRow>> {
        Ok(self.store().list_users(account, after, limit).await?)
    }

    /// User ids must all belong to the account.
    async fn check_user_ids(
        &self,
        account: &AccountId,
        v: &Value,
        errors: &mut BTreeMap<String, String>,
    ) -> Vec<UserId> {
        let Some(list) = v.as_array() else {
            errors.insert("user_ids".into(), "must be a list of user ids".into());
            return Vec::new();
        };
        let known = self.store().user_ids(account).await.unwrap_or_default();
        let mut ids = Vec::new();
        for (i, item) in list.iter().enumerate() {
            match item.as_str().map(UserId::from) {
                Some(id) if known.contains(&id) => {
                    if !ids.contains(&id) {
                        ids.push(id)
                    }
                }
                _ => {
                    errors.insert(format!("user_ids[{i}]"), "unknown user".into());
                }
            }
        }
        ids
    }

    pub async fn create_number(
        &self,
        account: &AccountId,
        input: NumberInput,
    ) -> Result<NumberRow> {
        let settings = self.get_account(account).await?.settings;
        let mut errors = BTreeMap::new();
        let e164 = match input.e164.as_ref().and_then(Value::as_str) {
            Some(s) => E164::parse(s, Some(settings.default_country))
                .map_err(|e| errors.insert("e164".into(), e.to_string()))
                .ok(),
            None => {
                errors.insert("e164".into(), "is required".into());
                None
            }
        };
        let mut number = NumberRow {
            id: NumberId::generate(),
            // Without a valid e164 `errors` is non-empty and this row is
            // only used to check the other fields, never stored. (An empty
            // `from_trusted` value trips its debug assertion: a panic.)
            e164: e164.clone().unwrap_or_else(|| {
                E164::parse("+14155550100", None).expect("a valid placeholder number")
            }),
            label: String::new(),
            provider: "sandbox".into(),
            sms: true,
            mms: false,
            voice: false,
            throughput: DEFAULT_THROUGHPUT,
            user_ids: Vec::new(),
            external_id: None,
            created_at: self.now(),
        };
        self.apply_number_fields(account, &mut number, &input, &mut errors)
            .await;
        if let Some(v) = &input.user_ids {
            number.user_ids = self.check_user_ids(account, v, &mut errors).await;
        }
        if !errors.is_empty() {
            return Err(EngineError::Validation { fields: errors });
        }
        if number.label.is_empty() {
            number.label = number.e164.to_string();
        }
        self.store().create_number(account, &number).await?;
        Ok(number)
    }

    async fn apply_number_fields(
        &self,
        _account: &AccountId,
        number: &mut NumberRow,
        input: &NumberInput,
        errors: &mut BTreeMap<String, String>,
    ) {
        if let Some(v) = &input.label {
            match string_field(v, 200) {
                Some(l) => number.label = l,
                None => {
                    errors.insert("label".into(), "must be a non-empty string".into());
                }
            }
        }
        if let Some(v) = &input.provider {
            match v.as_str() {
                Some(p) if self.provider_exists(_account, p).await => {
                    number.provider = p.to_string()
                }
                _ => {
                    let mut kinds = self.provider_kinds();
                    kinds.sort();
                    errors.insert(
                        "provider".into(),
                        format!(
                            "must be one of {} or a provider connection id",
                            kinds.join(", ")
                        ),
                    );
                }
            }
        }
        if let Some(v) = &input.capabilities {
            match serde_json::from_value::<Capabilities>(v.clone()) {
                Ok(c) => {
                    number.sms = c.sms;
                    number.mms = c.mms;
                    number.voice = c.voice;
                }
                Err(_) => {
                    errors.insert(
                        "capabilities".into(),
                        "must be {sms: bool, mms: bool, voice: bool}".into(),
                    );
                }
            }
        }
        if let Some(v) = &input.throughput {
            match v.as_i64() {
                Some(t) if (1..=10_000).contains(&t) => number.throughput = t,
                _ => {
                    errors.insert(
                        "throughput".into(),
                        "must be an integer from 1 to 10000 (segments per second)".into(),
                    );
                }
            }
        }
    }

    pub async fn update_number(
        &self,
        account: &AccountId,
        id: &NumberId,
        input: NumberInput,
    ) -> Result<NumberRow> {
        let mut number = self
            .store()
            .get_number(account, id)
            .await
            .map_err(EngineError::not_found("number"))?;
        let mut errors = BTreeMap::new();
        if let Some(v) = &input.e164 {
            if v.as_str() != Some(number.e164.as_str()) {
                errors.insert(
                    "e164".into(),
                    "cannot be changed; connect a new number instead".into(),
                );
            }
        }
        self.apply_number_fields(account, &mut number, &input, &mut errors)
            .await;
        let users = match &input.user_ids {
            Some(v) => Some(self.check_user_ids(account, v, &mut errors).await),
            None => None,
        };
        if !errors.is_empty() {
            return Err(EngineError::Validation { fields: errors });
        }
        self.store().update_number(account, &number).await?;
        if let Some(users) = users {
            self.store().set_number_users(account, id, &users).await?;
        }
        Ok(self.store().get_number(account, id).await?)
    }

    pub async fn set_number_users(
        &self,
        account: &AccountId,
        id: &NumberId,
        user_ids: Value,
    ) -> Result<NumberRow> {
        self.store()
            .get_number(account, id)
            .await
            .map_err(EngineError::not_found("number"))?;
        let mut errors = BTreeMap::new();
        let users = self.check_user_ids(account, &user_ids, &mut errors).await;
        if !errors.is_empty() {
            return Err(EngineError::Validation { fields: errors });
        }
        self.store().set_number_users(account, id, &users).await?;
        Ok(self.store().get_number(account, id).await?)
    }

    pub async fn get_number(&self, account: &AccountId, id: &NumberId) -> Result<NumberRow> {
        self.store()
            .get_number(account, id)
            .await
            .map_err(EngineError::not_found("number"))
    }

    pub async fn list_numbers(&self, account: &AccountId) -> Result<Vec<NumberRow>> {
        Ok(self.store().list_numbers(account).await?)
    }

    async fn require_sms(&self, account: &AccountId) -> Result<()> {
        if self.get_account(account).await?.settings.entitlements.sms {
            Ok(())
        } else {
            Err(EngineError::SmsNotEnabled)
        }
    }

    /// R1, R2: the SMS-capable numbers, or the beta refusal.
    pub async fn number_options(&self, account: &AccountId) -> Result<Vec<NumberRow>> {
        self.require_sms(account).await?;
        let numbers = self.store().list_numbers(account).await?;
        Ok(numbers.into_iter().filter(|n| n.sms).collect())
    }

    /// R3: the users linked to one SMS-capable number.
    pub async fn user_options(
        &self,
        account: &AccountId,
        number: &NumberId,
    ) -> Result<Vec<UserRow>> {
        self.require_sms(account).await?;
        let number = self
            .store()
            .get_number(account, number)
            .await
            .map_err(|_| EngineError::field("number_id", "unknown number"))?;
        let mut users = Vec::new();
        for id in &number.user_ids {
            users.push(self.store().get_user(account, id).await?);
        }
        Ok(users)
    }

    /// Phone properties a send action may use as recipient for an object
    /// type: its own, and for non-contacts those of the primary contact.
    pub async fn recipient_property_options(
        &self,
        account: &AccountId,
        object_type: ObjectType,
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let own = self.schema(account, object_type).await?;
        for d in own
            .defs()
            .iter()
            .filter(|d| d.kind == PropertyType::PhoneNumber)
        {
            out.push((d.name.to_string(), d.label.clone()));
        }
        if object_type != ObjectType::Contact {
            let contact = self.schema(account, ObjectType::Contact).await?;
            for d in contact
                .defs()
                .iter()
                .filter(|d| d.kind == PropertyType::PhoneNumber)
            {
                out.push((
                    format!("contact.{}", d.name),
                    format!("Contact: {}", d.label),
                ));
            }
        }
        Ok(out)
    }

    pub async fn schema(
        &self,
        account: &AccountId,
        object_type: ObjectType,
    ) -> Result<PropertySchema> {
        let custom = self.store().custom_properties(account, object_type).await?;
        Ok(PropertySchema::new(object_type, custom))
    }

    pub async fn create_property(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        input: Value,
    ) -> Result<PropertyDef> {
        let mut errors = BTreeMap::new();
        let name = match input
            .get("name")
            .and_then(Value::as_str)
            .map(PropertyName::parse)
        {
            Some(Ok(n)) => Some(n),
            Some(Err(e)) => {
                errors.insert("name".to_string(), e.to_string());
                None
            }
            None => {
                errors.insert("name".to_string(), "is required".to_string());
                None
            }
        };
        let kind = match input.get("type") {
            Some(v) => serde_json::from_value::<PropertyType>(v.clone())
                .map_err(|_| {
                    errors.insert(
                        "type".to_string(),
                        "must be one of string, number, bool, date, datetime, enumeration, phone_number".to_string(),
                    )
                })
                .ok(),
            None => {
                errors.insert("type".to_string(), "is required".to_string());
                None
            }
        };
        let (Some(name), Some(kind)) = (name, kind) else {
            return Err(EngineError::Validation { fields: errors });
        };
        if object_type
            .default_properties()
            .iter()
            .any(|d| d.name == name)
        {
            return Err(EngineError::field("name", "is a built-in property"));
        }
        let label = input
            .get("label")
            .and_then(|v| string_field(v, 200))
            .unwrap_or_else(|| name.to_string());
        let def = PropertyDef { name, label, kind };
        self.store()
            .create_property(account, object_type, &def)
            .await?;
        Ok(def)
    }
}
