//! One-off sends outside workflows through the same pipeline as the send
//! step of a workflow: recipient and rendering (R6–R8, `send_sms::prepare`),
//! consent and quiet hours (R18, R19, R21, the pure gate), and the limits of
//! the number and the user (R9, R10), reserved in the transaction that
//! queues the message and logs it on the contacts with that phone (R14).
//! HubSpot's custom workflow action sends this way; when the send comes from
//! HubSpot, the same transaction queues the communication to log back and
//! settles the HubSpot execution, so a retry can never send twice.

use crate::error::Result;
use crate::gate::{gate_send, limit_keys, Gate};
use crate::inbound::{outbound_row, Thread};
use crate::send_sms::{prepare, KnownPhones, Prepared, SendInputs};
use crate::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use smsflow_core::account::OnLimit;
use smsflow_core::ids::{AccountId, EngagementId, MessageId, NumberId, RecordId, UserId};
use smsflow_core::limits::{next_window_start, Window};
use smsflow_core::message::ReasonCode;
use smsflow_core::object::{ObjectType, PropertyName, Record};
use smsflow_core::template::Template;
use smsflow_core::workflow::{PropertyRef, SendSmsStep};
use smsflow_store::{EngagementRow, HubspotLogRow, NewMessage};
use std::sync::Arc;

/// The property the recipient phone is put under for `prepare`.
const RECIPIENT: &str = "smsflow_direct_recipient";

/// One send outside a workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectSend {
    pub number_id: NumberId,
    pub user_id: Option<UserId>,
    /// The recipient as given (parsed to E.164 with the account's country).
    pub to_raw: Option<String>,
    /// The message; `{{ object.prop }}` tokens render against `properties`.
    pub body: String,
    pub object_type: ObjectType,
    pub properties: Map<String, Value>,
    /// Same key, same message, however often the send is asked for (R12).
    pub idempotency_key: String,
    pub hubspot: Option<HubspotLink>,
}

/// Where a send from HubSpot's custom action came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubspotLink {
    pub portal_id: String,
    pub callback_id: String,
    /// HubSpot's object type as it sent it (`CONTACT`, `0-1`, …).
    pub object_type: String,
    pub object_id: String,
}

/// What became of a direct send.
#[derive(Debug, Clone, PartialEq)]
pub enum DirectOutcome {
    /// Queued for hand-off.
    Sent { message_id: MessageId },
    /// Not sent, for good: skipped or failed with this code.
    Refused { code: ReasonCode, reason: String },
    /// Not now: quiet hours at the recipient or a limit under `defer`.
    Deferred {
        until: DateTime<Utc>,
        code: ReasonCode,
        reason: String,
    },
}

/// How a HubSpot execution is settled in the send's transaction.
pub(crate) struct Settle {
    /// `done` when the answer goes back synchronously, `completing` when a
    /// callback completion is still due.
    pub state: &'static str,
}

impl Engine {
    /// Sends one SMS through the workflow pipeline (see the module docs).
    pub async fn send_direct(
        &self,
        account: &AccountId,
        send: &DirectSend,
    ) -> Result<DirectOutcome> {
        self.send_direct_settled(account, send, None).await
    }

    pub(crate) async fn send_direct_settled(
        &self,
        account: &AccountId,
        send: &DirectSend,
        settle: Option<Settle>,
    ) -> Result<DirectOutcome> {
        let settings = self.get_account(account).await?.settings;
        let now = self.now();
        let refused =
            |code: ReasonCode, reason: String| Ok(DirectOutcome::Refused { code, reason });
        let number = self.store().get_number(account, &send.number_id).await.ok();
        let user = match &send.user_id {
            Some(u) => match self.store().get_user(account, u).await {
                Ok(row) if number.as_ref().is_some_and(|n| n.user_ids.contains(u)) => Some(row),
                _ => {
                    return refused(
                        ReasonCode::ProviderError,
                        format!("user {u} is not linked to number {}", send.number_id),
                    )
                }
            },
            None => None,
        };
        let template = match Template::parse(&send.body) {
            Ok(t) => t,
            Err(e) => {
                return refused(
                    ReasonCode::MissingToken,
                    format!("the message cannot be rendered: {e}"),
                )
            }
        };
        let mut properties = send.properties.clone();
        if let Some(to) = &send.to_raw {
            properties.insert(RECIPIENT.into(), Value::String(to.clone()));
        }
        let record = Record {
            id: RecordId::from_string(
                send.hubspot
                    .as_ref()
                    .map(|h| format!("hubspot:{}", h.object_id))
                    .unwrap_or_else(|| "direct".into()),
            ),
            object_type: send.object_type,
            properties,
            associations: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let step = SendSmsStep {
            action_id: "direct".into(),
            from_number_id: send.number_id.clone(),
            sender_user_id: send.user_id.clone(),
            recipient: PropertyRef::Own(
                PropertyName::parse(RECIPIENT).expect("a valid property name"),
            ),
            fallback: None,
            body: Arc::new(template),
            subscription_type_id: None,
            sms_message_id: None,
            smart_encoding: false,
        };
        let contact = (record.object_type == ObjectType::Contact).then_some(&record);
        let inputs = SendInputs {
            settings: &settings,
            record: &record,
            contact,
            number: number.as_ref(),
            user: user.as_ref(),
            validated: KnownPhones::default(),
        };
        let p = match prepare(&step, &inputs) {
            Prepared::Done { code, reason, .. } => return refused(code, reason),
            Prepared::Send(p) => *p,
        };
        let consents = self
            .store()
            .consents_of_phones(account, std::slice::from_ref(&p.to))
            .await?;
        let status_of = |phone: &smsflow_core::phone::E164, type_id: &str| {
            consents
                .iter()
                .find(|c| &c.phone == phone && c.subscription_type_id == type_id)
                .map(|c| c.status)
        };
        match gate_send(&settings, &p, None, status_of, now) {
            Gate::Skip { code, reason } => return refused(code, reason),
            Gate::Defer { until } => {
                return Ok(DirectOutcome::Deferred {
                    until,
                    code: ReasonCode::QuietHours,
                    reason: format!(
                        "quiet hours at the recipient; sending at {}",
                        until.to_rfc3339()
                    ),
                })
            }
            Gate::Go => {}
        }
        let number = number.expect("prepare refuses a missing number");
        let keys = limit_keys(
            now,
            settings.time_zone,
            &settings.limits,
            &p.number_id,
            p.user_id.as_ref(),
        );
        let periods: Vec<String> = keys
            .iter()
            .map(|(k, _)| k.period.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let contacts = self
            .store()
            .records_with_phone(account, &p.to, Some(ObjectType::Contact))
            .await?;
        let mut tx = self.store().begin().await?;
        let grant = tx.reserve(account, &keys, 1).await?;
        if grant.granted < 1 {
            tx.rollback().await?;
            let (window, what) = match &grant.exhausted {
                Some(k) => (
                    k.window,
                    format!(
                        "{} {} {}",
                        match k.window {
                            Window::Day => "daily",
                            Window::Month => "monthly",
                        },
                        k.subject.kind(),
                        k.subject.id()
                    ),
                ),
                None => (Window::Day, "send".into()),
            };
            return match settings.limits.on_limit {
                OnLimit::Fail => refused(
                    ReasonCode::LimitExceeded,
                    format!("the {what} limit is reached; not retried"),
                ),
                OnLimit::Defer => {
                    let until = next_window_start(now, settings.time_zone, window);
                    Ok(DirectOutcome::Deferred {
                        until,
                        code: ReasonCode::LimitExceeded,
                        reason: format!(
                            "the {what} limit is reached; waiting until {}",
                            until.to_rfc3339()
                        ),
                    })
                }
            };
        }
        let conversation = tx
            .open_conversation(account, &p.number_id, &p.to, now)
            .await?;
        let thread = Thread {
            conversation,
            user: p.user_id.clone(),
            record: contacts.first().cloned(),
        };
        let row = outbound_row(
            &number,
            &p.to,
            &p.body,
            thread,
            send.idempotency_key.clone(),
            now,
        );
        let engagements: Vec<EngagementRow> = contacts
            .iter()
            .map(|c| EngagementRow {
                id: EngagementId::generate(),
                account_id: account.clone(),
                record_id: c.clone(),
                kind: "sms_sent".into(),
                message_id: Some(row.id.clone()),
                body: p.body.clone(),
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
        if let Some(h) = &send.hubspot {
            tx.insert_hubspot_logs(&[HubspotLogRow {
                id: format!("hsl_{}", ulid::Ulid::new().to_string().to_lowercase()),
                account_id: account.clone(),
                portal_id: h.portal_id.clone(),
                message_id: row.id.clone(),
                direction: "outbound".into(),
                object_type: h.object_type.clone(),
                object_id: h.object_id.clone(),
                state: "pending".into(),
                due_at: Some(now),
                attempts: 0,
                last_error: None,
                communication_id: None,
                created_at: now,
            }])
            .await?;
            if let Some(s) = &settle {
                let output = crate::hubspot::success_output(&row.id);
                let due = (s.state == "completing").then_some(now);
                tx.finish_hubspot_execution(
                    &h.callback_id,
                    s.state,
                    Some(&row.id),
                    &output,
                    due,
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.wake();
        Ok(DirectOutcome::Sent { message_id: row.id })
    }
}
