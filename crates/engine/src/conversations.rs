//! Conversations and agent replies (R16): a reply goes out from the
//! conversation's number as a user linked to it, counts against the limits
//! (R10), respects opt-out (R18) and is logged on the contacts (R14).

use crate::error::{EngineError, Result};
use crate::inbound::{outbound_row, Thread};
use crate::Engine;
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::consent::{ConsentStatus, ALL_TYPES};
use smsflow_core::ids::{AccountId, ConversationId, EngagementId, UserId};
use smsflow_core::limits::{counter_keys, Window};
use smsflow_core::object::ObjectType;
use smsflow_core::workflow::MAX_BODY_CHARS;
use smsflow_store::{ConversationRow, EngagementRow, MessageRow, NewMessage, Page};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyInput {
    /// The sending user, linked to the number
    #[schema(value_type = Option<String>)]
    pub user_id: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub body: Option<Value>,
}

impl Engine {
    pub async fn list_conversations(
        &self,
        account: &AccountId,
        needs_attention: bool,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<ConversationRow>> {
        Ok(self
            .store()
            .list_conversations(account, needs_attention, after, limit)
            .await?)
    }

    pub async fn get_conversation(
        &self,
        account: &AccountId,
        id: &ConversationId,
    ) -> Result<ConversationRow> {
        self.store()
            .get_conversation(account, id)
            .await
            .map_err(EngineError::not_found("conversation"))
    }

    pub async fn agent_reply(
        &self,
        account: &AccountId,
        id: &ConversationId,
        input: ReplyInput,
    ) -> Result<MessageRow> {
        let settings = self.get_account(account).await?.settings;
        if !settings.entitlements.sms {
            return Err(EngineError::SmsNotEnabled);
        }
        let conv = self.get_conversation(account, id).await?;
        let number = self
            .store()
            .get_number(account, &conv.number_id)
            .await
            .map_err(EngineError::not_found("number"))?;
        let mut errors = BTreeMap::new();
        let user = match input
            .user_id
            .as_ref()
            .and_then(Value::as_str)
            .map(UserId::from)
        {
            Some(u) if number.user_ids.contains(&u) => Some(u),
            Some(_) => {
                errors.insert(
                    "user_id".to_string(),
                    format!("user is not linked to number {}", number.id),
                );
                None
            }
            None => {
                errors.insert("user_id".to_string(), "is required".to_string());
                None
            }
        };
        let body = input
            .body
            .as_ref()
            .and_then(Value::as_str)
            .filter(|b| !b.trim().is_empty() && b.chars().count() <= MAX_BODY_CHARS);
        if body.is_none() {
            errors.insert(
                "body".to_string(),
                format!("must be a string of 1 to {MAX_BODY_CHARS} characters"),
            );
        }
        if !number.sms {
            errors.insert(
                "conversation".to_string(),
                "its number can no longer send SMS".to_string(),
            );
        }
        let (Some(user), Some(body), true) = (user, body, errors.is_empty()) else {
            return Err(EngineError::Validation { fields: errors });
        };
        let consents = self
            .store()
            .consents_of_phones(account, std::slice::from_ref(&conv.phone))
            .await?;
        if consents
            .iter()
            .any(|c| c.subscription_type_id == ALL_TYPES && c.status == ConsentStatus::Unsubscribed)
        {
            return Err(EngineError::Refused {
                code: "opted_out",
                message: format!(
                    "{} has opted out of SMS; no message can be sent",
                    conv.phone
                ),
            });
        }
        let now = self.now();
        let contacts = self
            .store()
            .records_with_phone(account, &conv.phone, Some(ObjectType::Contact))
            .await?;
        let keys: Vec<_> = counter_keys(now, settings.time_zone, &number.id, &user)
            .into_iter()
            .map(|k| {
                let limit = match k.window {
                    Window::Day => settings.limits.day,
                    Window::Month => settings.limits.month,
                };
                (k, i64::from(limit))
            })
            .collect();
        let mut periods: Vec<String> = keys.iter().map(|(k, _)| k.period.clone()).collect();
        periods.dedup();
        let thread = Thread {
            conversation: conv.id.clone(),
            user: Some(user),
            record: contacts.first().cloned(),
        };
        let row = outbound_row(
            &number,
            &conv.phone,
            body,
            thread,
            format!("agent:{}", smsflow_core::ids::MessageId::generate()),
            now,
        );
        let mut tx = self.store().begin().await?;
        let grant = tx.reserve(account, &keys, 1).await?;
        if grant.granted < 1 {
            tx.rollback().await?;
            let which = grant
                .exhausted
                .map(|k| {
                    format!("{} {} {:?}", k.subject.kind(), k.subject.id(), k.window).to_lowercase()
                })
                .unwrap_or_default();
            return Err(EngineError::Refused {
                code: "limit_exceeded",
                message: format!("the send limit is reached ({which})"),
            });
        }
        let engagements: Vec<EngagementRow> = contacts
            .iter()
            .map(|c| EngagementRow {
                id: EngagementId::generate(),
                account_id: account.clone(),
                record_id: c.clone(),
                kind: "sms_sent".into(),
                message_id: Some(row.id.clone()),
                body: body.to_string(),
                at: now,
            })
            .collect();
        tx.insert_messages(&[NewMessage {
            row: row.clone(),
            account_id: account.clone(),
            due_at: Some(now),
            counted_periods: periods,
        }])
        .await?;
        tx.insert_engagements(&engagements).await?;
        tx.touch_conversations(std::slice::from_ref(&conv.id), now)
            .await?;
        // An agent answering is the attention the flag asked for.
        tx.flag_conversation(&conv.id, None).await?;
        tx.commit().await?;
        self.wake();
        Ok(row)
    }
}
