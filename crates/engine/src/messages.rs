//! Messages, conversations, usage and the sandbox's simulated provider side.

use crate::error::{EngineError, Result};
use crate::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use smsflow_core::ids::{AccountId, MessageId};
use smsflow_core::limits::{period_key, Window};
use smsflow_core::message::{Direction, MessageStatus};
use smsflow_core::phone::E164;
use smsflow_store::{MessageFilter, MessageRow, Page};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundInput {
    #[schema(value_type = Option<String>)]
    pub from: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub to: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub body: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSubject {
    pub id: String,
    pub day: i64,
    pub month: i64,
    pub day_limit: u32,
    pub month_limit: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    pub numbers: Vec<UsageSubject>,
    pub users: Vec<UsageSubject>,
}

impl Engine {
    pub async fn list_messages(
        &self,
        account: &AccountId,
        filter: &MessageFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<MessageRow>> {
        Ok(self
            .store()
            .list_messages(account, filter, after, limit)
            .await?)
    }

    pub async fn get_message(&self, account: &AccountId, id: &MessageId) -> Result<MessageRow> {
        self.store()
            .get_message(account, id)
            .await
            .map_err(EngineError::not_found("message"))
    }

    /// Day and month counts against the limits, for every number and user,
    /// in the account's calendar (R9).
    pub async fn usage(&self, account: &AccountId) -> Result<UsageReport> {
        let settings = self.get_account(account).await?.settings;
        let now = self.now();
        let day = period_key(now, settings.time_zone, Window::Day);
        let month = period_key(now, settings.time_zone, Window::Month);
        let rows = self
            .store()
            .usage(account, &[day.clone(), month.clone()])
            .await?;
        let count = |kind: &str, id: &str, period: &str| {
            rows.iter()
                .find(|r| r.subject_kind == kind && r.subject_id == id && r.period == period)
                .map_or(0, |r| r.count)
        };
        let subject = |kind: &str, id: String| UsageSubject {
            day: count(kind, &id, &day),
            month: count(kind, &id, &month),
            id,
            day_limit: settings.limits.day,
            month_limit: settings.limits.month,
        };
        let numbers = self
            .store()
            .list_numbers(account)
            .await?
            .into_iter()
            .map(|n| subject("number", n.id.to_string()))
            .collect();
        let users = self
            .store()
            .user_ids(account)
            .await?
            .into_iter()
            .map(|u| subject("user", u.to_string()))
            .collect();
        Ok(UsageReport { numbers, users })
    }

    /// Simulates a provider status callback for a sandbox message (R13: it
    /// never moves backwards). Returns the message as it is now.
    pub async fn sandbox_status(
        &self,
        account: &AccountId,
        message_id: Option<Value>,
        status: Option<Value>,
    ) -> Result<MessageRow> {
        let mut errors = BTreeMap::new();
        let id = message_id
            .as_ref()
            .and_then(Value::as_str)
            .map(MessageId::from);
        if id.is_none() {
            errors.insert("message_id".to_string(), "is required".to_string());
        }
        let status = match status
            .as_ref()
            .and_then(Value::as_str)
            .map(str::parse::<MessageStatus>)
        {
            Some(Ok(s))
                if matches!(
                    s,
                    MessageStatus::Sent
                        | MessageStatus::Delivered
                        | MessageStatus::Undelivered
                        | MessageStatus::Failed
                ) =>
            {
                Some(s)
            }
            _ => {
                errors.insert(
                    "status".to_string(),
                    "must be one of sent, delivered, undelivered, failed".to_string(),
                );
                None
            }
        };
        let (Some(id), Some(status)) = (id, status) else {
            return Err(EngineError::Validation { fields: errors });
        };
        let message = self.get_message(account, &id).await?;
        if message.provider != "sandbox" || message.direction != Direction::Outbound {
            return Err(EngineError::field(
                "message_id",
                "is not an outbound sandbox message",
            ));
        }
        self.store()
            .advance_message_status(account, &id, status, None, self.now())
            .await?;
        self.get_message(account, &id).await
    }

    /// Simulates an inbound SMS to one of the account's numbers: stored and
    /// threaded into the conversation of (number, sender).
    pub async fn sandbox_inbound(
        &self,
        account: &AccountId,
        input: InboundInput,
    ) -> Result<MessageRow> {
        let settings = self.get_account(account).await?.settings;
        let mut errors = BTreeMap::new();
        let mut phone = |field: &str, v: &Option<Value>| match v.as_ref().and_then(Value::as_str) {
            Some(s) => E164::parse(s, Some(settings.default_country))
                .map_err(|e| errors.insert(field.into(), e.to_string()))
                .ok(),
            None => {
                errors.insert(field.into(), "is required".into());
                None
            }
        };
        let from = phone("from", &input.from);
        let to = phone("to", &input.to);
        let body = input
            .body
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_string);
        if body
            .as_deref()
            .is_none_or(|b| b.is_empty() || b.chars().count() > 1600)
        {
            errors.insert(
                "body".into(),
                "must be a string of 1 to 1600 characters".into(),
            );
        }
        let number = match &to {
            Some(to) => {
                let found = self
                    .store()
                    .list_numbers(account)
                    .await?
                    .into_iter()
                    .find(|n| &n.e164 == to);
                if found.is_none() {
                    errors.insert("to".into(), "is not one of this account's numbers".into());
                }
                found
            }
            None => None,
        };
        let (Some(from), Some(_), Some(body), Some(number), true) =
            (from, to, body, number, errors.is_empty())
        else {
            return Err(EngineError::Validation { fields: errors });
        };
        self.receive_inbound(account, &number, from, body, None)
            .await
    }
}
