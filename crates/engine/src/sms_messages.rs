//! Reusable SMS messages (R4, R22): drafted, validated as a whole on every
//! save (R5), validated again and frozen when published. A workflow's
//! send-SMS action that names a message sends its published revision;
//! editing a published message makes a new draft revision and leaves the
//! published one in use until the draft is published.

use crate::error::{EngineError, Result};
use crate::Engine;
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::ids::{AccountId, SmsMessageId, SubscriptionTypeId};
use smsflow_core::object::{ObjectType, PropertySchema};
use smsflow_core::template::{Template, TokenRef};
use smsflow_core::workflow::{PublishedSmsMessage, MAX_BODY_CHARS};
use smsflow_store::{Page, SmsMessageContent, SmsMessageRow, SmsMessageState};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The editable fields of an SMS message, as sent by a client. Values are
/// raw JSON so that every wrong field is reported at once, by name.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsMessageInput {
    #[schema(value_type = Option<String>)]
    pub name: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub body: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub from_number_id: Option<Value>,
    /// Optional: `null` or absent sends without a subscription type.
    /// null or absent: no subscription type
    #[schema(value_type = Option<String>)]
    pub subscription_type_id: Option<Value>,
}

const MAX_NAME_CHARS: usize = 200;

/// Whether a message may use `token`. A message can be chosen in any
/// workflow, so it may read only what every send has: the recipient
/// contact's properties, the sender, the number and the opt-out link (R7,
/// R30). Names match without regard to case (tokens come lowercased).
fn token_is_known(token: &TokenRef, contact: &PropertySchema) -> bool {
    match (token.object.as_str(), token.property.as_deref()) {
        ("unsubscribe_url", None) => true,
        ("sender", Some(p)) => matches!(p, "name" | "email"),
        ("number", Some(p)) => matches!(p, "e164" | "label"),
        ("contact", Some(p)) => contact.get(p).is_some(),
        _ => false,
    }
}

fn token_text(t: &TokenRef) -> String {
    match &t.property {
        Some(p) => format!("{{{{ {}.{} }}}}", t.object, p),
        None => format!("{{{{ {} }}}}", t.object),
    }
}

/// A required, non-empty string of at most `max` characters.
fn required_string(v: Option<&Value>, max: usize) -> Result<String, String> {
    match v {
        None | Some(Value::Null) => Err("required".into()),
        Some(Value::String(s)) if s.trim().is_empty() => Err("must not be empty".into()),
        Some(Value::String(s)) if s.chars().count() > max => Err(format!(
            "is {} characters; the limit is {max}",
            s.chars().count()
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err("must be a string".into()),
    }
}

/// Checks a body: 1–1600 characters, valid template syntax, known tokens.
fn check_body(v: Option<&Value>, contact: &PropertySchema) -> Result<String, String> {
    let body = required_string(v, MAX_BODY_CHARS)?;
    let template = Template::parse(&body).map_err(|e| e.to_string())?;
    let mut unknown: Vec<String> = Vec::new();
    for token in template.tokens() {
        let text = token_text(&token);
        if !token_is_known(&token, contact) && !unknown.contains(&text) {
            unknown.push(text);
        }
    }
    if unknown.is_empty() {
        return Ok(body);
    }
    let listed: Vec<String> = unknown.iter().map(|t| format!("`{t}`")).collect();
    let noun = if unknown.len() == 1 {
        "unknown token"
    } else {
        "unknown tokens"
    };
    Err(format!("{noun} {}", listed.join(", ")))
}

impl Engine {
    /// Validates every field at once (R5) against the account as it is now.
    /// Refused outright without the `sms` entitlement (R1).
    async fn check_sms_message(
        &self,
        account: &AccountId,
        input: &SmsMessageInput,
    ) -> Result<SmsMessageContent> {
        let settings = self.get_account(account).await?.settings;
        if !settings.entitlements.sms {
            return Err(EngineError::SmsNotEnabled);
        }
        let mut errors = BTreeMap::new();

        let name = required_string(input.name.as_ref(), MAX_NAME_CHARS)
            .map(|n| n.trim().to_string())
            .map_err(|why| errors.insert("name".to_string(), why))
            .ok();

        let contact = self.schema(account, ObjectType::Contact).await?;
        let body = check_body(input.body.as_ref(), &contact)
            .map_err(|why| errors.insert("body".to_string(), why))
            .ok();

        let numbers = self.store().list_numbers(account).await?;
        let from_number_id = if !numbers.iter().any(|n| n.sms) {
            // R2: with no SMS-capable number nothing can be sent.
            errors.insert(
                "from_number_id".into(),
                "no SMS-capable number is connected".into(),
            );
            None
        } else {
            match required_string(input.from_number_id.as_ref(), usize::MAX) {
                Err(why) => {
                    errors.insert("from_number_id".into(), why);
                    None
                }
                Ok(raw) => match numbers.iter().find(|n| n.id.as_str() == raw.trim()) {
                    None => {
                        errors.insert("from_number_id".into(), "unknown number".into());
                        None
                    }
                    Some(n) if !n.sms => {
                        errors.insert("from_number_id".into(), "number cannot send SMS".into());
                        None
                    }
                    Some(n) => Some(n.id.clone()),
                },
            }
        };

        let subscription_type_id = match input.subscription_type_id.as_ref() {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(raw)) => {
                let id = SubscriptionTypeId::from(raw.trim());
                let known = self.store().list_subscription_types(account).await?;
                if known.iter().any(|t| t.id == id) {
                    Some(Some(id))
                } else {
                    errors.insert(
                        "subscription_type_id".into(),
                        "unknown subscription type".into(),
                    );
                    None
                }
            }
            Some(_) => {
                errors.insert(
                    "subscription_type_id".into(),
                    "must be a subscription type id or null".into(),
                );
                None
            }
        };

        match (name, body, from_number_id, subscription_type_id) {
            (Some(name), Some(body), Some(from_number_id), Some(subscription_type_id))
                if errors.is_empty() =>
            {
                Ok(SmsMessageContent {
                    name,
                    body,
                    from_number_id,
                    subscription_type_id,
                })
            }
            _ => Err(EngineError::Validation { fields: errors }),
        }
    }

    /// Saves a new message as a draft (revision 1).
    pub async fn create_sms_message(
        &self,
        account: &AccountId,
        input: SmsMessageInput,
    ) -> Result<SmsMessageRow> {
        let content = self.check_sms_message(account, &input).await?;
        let now = self.now();
        let row = SmsMessageRow {
            id: SmsMessageId::generate(),
            content,
            state: SmsMessageState::Draft,
            revision: 1,
            published_revision: None,
            created_at: now,
            updated_at: now,
        };
        self.store().insert_sms_message(account, &row).await?;
        Ok(row)
    }

    /// Saves an edit as a draft. Editing a published message makes the next
    /// revision; workflows keep sending the published one (R22).
    pub async fn update_sms_message(
        &self,
        account: &AccountId,
        id: &SmsMessageId,
        input: SmsMessageInput,
    ) -> Result<SmsMessageRow> {
        self.get_sms_message(account, id).await?;
        let content = self.check_sms_message(account, &input).await?;
        self.store()
            .save_sms_message(account, id, &content, self.now())
            .await
            .map_err(EngineError::not_found("SMS message"))
    }

    pub async fn get_sms_message(
        &self,
        account: &AccountId,
        id: &SmsMessageId,
    ) -> Result<SmsMessageRow> {
        self.store()
            .get_sms_message(account, id)
            .await
            .map_err(EngineError::not_found("SMS message"))
    }

    pub async fn list_sms_messages(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<SmsMessageRow>> {
        Ok(self
            .store()
            .list_sms_messages(account, after, limit)
            .await?)
    }

    /// Validates the current revision again (the account may have changed
    /// since it was saved) and freezes it as the published one (R22).
    pub async fn publish_sms_message(
        &self,
        account: &AccountId,
        id: &SmsMessageId,
    ) -> Result<SmsMessageRow> {
        let m = self.get_sms_message(account, id).await?;
        let c = &m.content;
        let input = SmsMessageInput {
            name: Some(Value::String(c.name.clone())),
            body: Some(Value::String(c.body.clone())),
            from_number_id: Some(Value::String(c.from_number_id.to_string())),
            subscription_type_id: c
                .subscription_type_id
                .as_ref()
                .map(|s| Value::String(s.to_string())),
        };
        self.check_sms_message(account, &input).await?;
        self.store()
            .publish_sms_message(account, &m, self.now())
            .await?;
        self.get_sms_message(account, id).await
    }

    /// The published revisions send-SMS actions may reference, for
    /// workflow validation (R4, R5).
    pub(crate) async fn published_sms_message_facts(
        &self,
        account: &AccountId,
    ) -> Result<Vec<PublishedSmsMessage>> {
        let published = self.store().published_sms_messages(account).await?;
        Ok(published
            .into_iter()
            .map(|(id, r)| PublishedSmsMessage {
                id,
                from_number_id: r.content.from_number_id,
                body: r.content.body,
                subscription_type_id: r.content.subscription_type_id,
            })
            .collect())
    }
}
