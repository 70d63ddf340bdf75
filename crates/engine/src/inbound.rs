//! Inbound SMS (R14, R16, R17, R29): every reply is stored, threaded into
//! its conversation, logged on each contact with that phone, checked for
//! STOP/START/HELP and for opt-outs in other words, and may enroll contacts
//! into workflows with an inbound-SMS trigger. All of it commits at once.

use crate::consent::ledger_id;
use crate::error::Result;
use crate::records::enrolls;
use crate::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;
use smsflow_core::consent::{ConsentSource, ConsentStatus, LegalBasis, ALL_TYPES};
use smsflow_core::encoding::analyze;
use smsflow_core::ids::{AccountId, EngagementId, EnrollmentId, MessageId};
use smsflow_core::keywords::{
    classify_inbound, keyword_form, InboundClass, KeywordFamily, OptOutAction,
};
use smsflow_core::limits::{counter_keys, CounterSubject};
use smsflow_core::message::{Direction, MessageStatus};
use smsflow_core::object::{ObjectType, Record};
use smsflow_core::phone::E164;
use smsflow_store::{
    ConsentChange, EngagementRow, MessageRow, NewEnrollment, NewMessage, NumberRow, RecordWrite,
};

/// Where a message outside any workflow belongs.
pub(crate) struct Thread {
    pub conversation: smsflow_core::ids::ConversationId,
    pub user: Option<smsflow_core::ids::UserId>,
    pub record: Option<smsflow_core::ids::RecordId>,
}

/// An outbound message the system sends by itself (keyword replies, agent
/// replies), ready for the outbox.
pub(crate) fn outbound_row(
    number: &NumberRow,
    to: &E164,
    body: &str,
    thread: Thread,
    idempotency_key: String,
    now: DateTime<Utc>,
) -> MessageRow {
    let Thread {
        conversation,
        user,
        record,
    } = thread;
    let info = analyze(body);
    MessageRow {
        id: MessageId::generate(),
        direction: Direction::Outbound,
        from: number.e164.clone(),
        to: to.clone(),
        body: body.to_string(),
        encoding: info.encoding,
        segments: i64::from(info.segments),
        status: MessageStatus::Queued,
        provider: number.provider.clone(),
        provider_message_id: None,
        error_code: None,
        error: None,
        number_id: Some(number.id.clone()),
        user_id: user,
        conversation_id: Some(conversation),
        record_id: record,
        workflow_id: None,
        enrollment_id: None,
        action_id: None,
        idempotency_key: Some(idempotency_key),
        attempts: 0,
        created_at: now,
        updated_at: now,
        handed_off_at: None,
    }
}

impl Engine {
    /// Takes in one inbound SMS to `number` from `from`.
    pub async fn receive_inbound(
        &self,
        account: &AccountId,
        number: &NumberRow,
        from: E164,
        body: String,
        provider_message_id: Option<String>,
    ) -> Result<MessageRow> {
        let settings = self.get_account(account).await?.settings;
        let now = self.now();
        let contact_ids = self
            .store()
            .records_with_phone(account, &from, Some(ObjectType::Contact))
            .await?;
        let contacts: Vec<Record> = self.store().get_records(account, &contact_ids).await?;
        let info = analyze(&body);
        let mut inbound = MessageRow {
            id: MessageId::generate(),
            direction: Direction::Inbound,
            from: from.clone(),
            to: number.e164.clone(),
            body: body.clone(),
            encoding: info.encoding,
            segments: i64::from(info.segments),
            status: MessageStatus::Received,
            provider: number.provider.clone(),
            provider_message_id,
            error_code: None,
            error: None,
            number_id: Some(number.id.clone()),
            user_id: None,
            // Known once the thread is opened, in the transaction below.
            conversation_id: None,
            record_id: contacts.first().map(|c| c.id.clone()),
            workflow_id: None,
            enrollment_id: None,
            action_id: None,
            idempotency_key: None,
            attempts: 0,
            created_at: now,
            updated_at: now,
            handed_off_at: None,
        };

        // What the message asks for.
        let class = classify_inbound(&body, &settings.keywords);
        let (family, source, flag) = match &class {
            InboundClass::Keyword(f) => (Some(*f), ConsentSource::Keyword, None),
            InboundClass::NaturalOptOut(intent) => match settings
                .keywords
                .natural_language_opt_out
                .action(intent.confidence)
            {
                Some(OptOutAction::Apply) => (
                    Some(KeywordFamily::Stop),
                    ConsentSource::NaturalLanguage,
                    None,
                ),
                Some(OptOutAction::Flag) => (
                    None,
                    ConsentSource::NaturalLanguage,
                    Some(format!("possible opt-out: \"{}\"", intent.matched)),
                ),
                None => (None, ConsentSource::NaturalLanguage, None),
            },
            InboundClass::Plain => (None, ConsentSource::Keyword, None),
        };
        let current = self
            .store()
            .consents_of_phones(account, std::slice::from_ref(&from))
            .await?;
        let all_status = current
            .iter()
            .find(|c| c.subscription_type_id == ALL_TYPES)
            .map(|c| c.status);
        let types = self.store().list_subscription_types(account).await?;
        let change = |type_id: &str,
                      status: ConsentStatus,
                      basis: Option<LegalBasis>,
                      why: &str| ConsentChange {
            id: ledger_id(),
            phone: from.clone(),
            subscription_type_id: type_id.to_string(),
            status,
            legal_basis: basis,
            explanation: Some(why.to_string()),
            source,
            wording: Some(body.clone()),
            record_id: contacts.first().map(|c| c.id.clone()),
            message_id: Some(inbound.id.clone()),
            at: now,
        };
        let mut consents = Vec::new();
        let mut reply = None;
        let mut opted_out = None;
        match family {
            Some(KeywordFamily::Stop) => {
                // R17: off every SMS type; one confirmation, not one per repeat.
                if all_status != Some(ConsentStatus::Unsubscribed) {
                    reply = Some(settings.keywords.stop_reply.clone());
                }
                consents.push(change(
                    ALL_TYPES,
                    ConsentStatus::Unsubscribed,
                    None,
                    "replied with an opt-out",
                ));
                for t in &types {
                    consents.push(change(
                        t.id.as_str(),
                        ConsentStatus::Unsubscribed,
                        None,
                        "replied with an opt-out",
                    ));
                }
                opted_out = Some(true);
            }
            Some(KeywordFamily::Start) => {
                reply = Some(settings.keywords.start_reply.clone());
                consents.push(change(
                    ALL_TYPES,
                    ConsentStatus::Subscribed,
                    Some(LegalBasis::ConsentWithNotice),
                    "replied with an opt-in keyword",
                ));
                // Types the STOP turned off go back to "not specified": START
                // lifts the opt-out but is no marketing consent by itself.
                for c in current.iter().filter(|c| {
                    c.subscription_type_id != ALL_TYPES && c.status == ConsentStatus::Unsubscribed
                }) {
                    consents.push(change(
                        &c.subscription_type_id,
                        ConsentStatus::NotSpecified,
                        None,
                        "opt-out lifted by an opt-in keyword",
                    ));
                }
                opted_out = Some(false);
            }
            Some(KeywordFamily::Help) => reply = Some(settings.keywords.help_reply.clone()),
            None => {}
        }

        // Contacts: `sms_opted_out` follows STOP/START (R17).
        let mut contact_writes = Vec::new();
        if let Some(flag_value) = opted_out {
            for c in &contacts {
                if c.properties.get("sms_opted_out") != Some(&Value::Bool(flag_value)) {
                    let mut updated = c.clone();
                    updated
                        .properties
                        .insert("sms_opted_out".into(), Value::Bool(flag_value));
                    updated.updated_at = now;
                    contact_writes.push(RecordWrite {
                        record: updated,
                        previous: Some(c.clone()),
                    });
                }
            }
        }
        let mut enrollments = self
            .plan_enrollments(account, ObjectType::Contact, &contact_writes)
            .await?;
        enrollments.extend(
            self.inbound_enrollments(account, &contacts, &body, now)
                .await?,
        );

        let mut engagements: Vec<EngagementRow> = contacts
            .iter()
            .map(|c| EngagementRow {
                id: EngagementId::generate(),
                account_id: account.clone(),
                record_id: c.id.clone(),
                kind: "sms_received".into(),
                message_id: Some(inbound.id.clone()),
                body: body.clone(),
                at: now,
            })
            .collect();
        for ch in consents
            .iter()
            .filter(|c| c.subscription_type_id == ALL_TYPES)
        {
            for c in &contacts {
                engagements.push(EngagementRow {
                    id: EngagementId::generate(),
                    account_id: account.clone(),
                    record_id: c.id.clone(),
                    kind: "subscription_changed".into(),
                    message_id: Some(inbound.id.clone()),
                    body: format!(
                        "SMS for {} set to {} by reply \"{}\"",
                        ch.phone,
                        ch.status,
                        body.trim()
                    ),
                    at: now,
                });
            }
        }

        // A reply to HubSpot's action is logged on its record too (R14).
        // A thread that is new has no outbound message of the action yet.
        let hubspot_logs = match self
            .store()
            .find_conversation(account, &number.id, &from)
            .await?
        {
            Some(conv) => self.hubspot_reply_logs(account, &conv, &inbound).await?,
            None => Vec::new(),
        };
        let mut tx = self.store().begin().await?;
        let conv = tx
            .open_conversation(account, &number.id, &from, now)
            .await?;
        inbound.conversation_id = Some(conv.clone());
        tx.insert_hubspot_logs(&hubspot_logs).await?;
        let mut messages = vec![NewMessage {
            row: inbound.clone(),
            account_id: account.clone(),
            due_at: None,
            counted_periods: Vec::new(),
        }];
        if let Some(text) = reply {
            // The confirmation passes opt-out (R18) and limits, but is
            // counted like every outbound message (R10).
            let thread = Thread {
                conversation: conv.clone(),
                user: None,
                record: contacts.first().map(|c| c.id.clone()),
            };
            let row = outbound_row(
                number,
                &from,
                &text,
                thread,
                format!("reply:{}", inbound.id),
                now,
            );
            let keys: Vec<_> = counter_keys(
                now,
                settings.time_zone,
                &number.id,
                &smsflow_core::ids::UserId::from_string(String::new()),
            )
            .into_iter()
            .filter(|k| matches!(k.subject, CounterSubject::Number(_)))
            .map(|k| (k, i64::MAX))
            .collect();
            let periods = keys.iter().map(|(k, _)| k.period.clone()).collect();
            tx.reserve(account, &keys, 1).await?;
            for c in &contacts {
                engagements.push(EngagementRow {
                    id: EngagementId::generate(),
                    account_id: account.clone(),
                    record_id: c.id.clone(),
                    kind: "sms_sent".into(),
                    message_id: Some(row.id.clone()),
                    body: text.clone(),
                    at: now,
                });
            }
            messages.push(NewMessage {
                row,
                account_id: account.clone(),
                due_at: Some(now),
                counted_periods: periods,
            });
        }
        tx.insert_messages(&messages).await?;
        if let Some(reason) = &flag {
            tx.flag_conversation(&conv, Some(reason)).await?;
        }
        tx.record_consents(account, &consents).await?;
        tx.insert_engagements(&engagements).await?;
        if !contact_writes.is_empty() {
            let records: Vec<Record> = contact_writes.iter().map(|w| w.record.clone()).collect();
            tx.upsert_records(account, &records).await?;
        }
        tx.insert_enrollments(&enrollments).await?;
        tx.commit().await?;
        self.metrics().inbound.inc();
        self.metrics().enrollments.inc_by(enrollments.len() as u64);
        self.wake();
        Ok(inbound)
    }

    /// Contacts to enroll in workflows triggered by this inbound SMS.
    async fn inbound_enrollments(
        &self,
        account: &AccountId,
        contacts: &[Record],
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<NewEnrollment>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let form = keyword_form(body);
        let workflows = self.live_workflows(account, ObjectType::Contact).await?;
        let ids: Vec<_> = contacts.iter().map(|c| c.id.clone()).collect();
        let existing = self.store().enrollments_of_records(account, &ids).await?;
        let mut out = Vec::new();
        for (wf_id, revision, wf) in &workflows {
            let Some(keyword) = &wf.inbound_sms else {
                continue;
            };
            if keyword.as_ref().is_some_and(|k| *k != form) {
                continue;
            }
            for c in contacts {
                let running = existing
                    .iter()
                    .any(|(w, r, s)| w == wf_id && *r == c.id && s.is_running());
                let filters_ok = wf.enrollment.is_empty()
                    || enrolls(wf, &c.properties, None, std::iter::empty());
                let suppressed =
                    !wf.suppression.is_empty() && wf.suppression.matches(&c.properties, None);
                if !running && filters_ok && !suppressed {
                    out.push(NewEnrollment {
                        id: EnrollmentId::generate(),
                        account_id: account.clone(),
                        workflow_id: wf_id.clone(),
                        revision: *revision,
                        record_id: c.id.clone(),
                        at: now,
                    });
                }
            }
        }
        Ok(out)
    }
}
