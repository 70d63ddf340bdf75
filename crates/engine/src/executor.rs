//! The step executor: leases due enrollments, runs each one's next step, and
//! commits the whole batch's effects — counters (R9), queued messages,
//! action logs (R15), timeline entries (R14), record changes and the
//! enrollments those cause, and the enrollments' next positions — in one
//! transaction. Each enrollment performs at most one effectful step per
//! round; branches and jumps are evaluated on the way.

use crate::consent::ledger_id;
use crate::error::Result;
use crate::gate::{gate_send, limit_keys, subscription_phone, Gate};
use crate::send_sms::{prepare, KnownPhones, PendingSend, Prepared, SendInputs};
use crate::Engine;
use chrono::{DateTime, Duration, Utc};
use smsflow_core::account::{AccountSettings, OnLimit};
use smsflow_core::consent::{ConsentSource, ConsentStatus, LegalBasis};
use smsflow_core::ids::{
    AccountId, ActionLogId, EngagementId, MessageId, NumberId, RecordId, UserId, WorkflowId,
};
use smsflow_core::limits::{next_window_start, Window};
use smsflow_core::message::{Direction, MessageStatus, Outcome, ReasonCode};
use smsflow_core::object::{ObjectType, Record};
use smsflow_core::phone::E164;
use smsflow_core::workflow::Step;
use smsflow_store::{
    ActionLogRow, ClaimedEnrollment, ConsentChange, EngagementRow, EnrollmentState,
    EnrollmentUpdate, MessageRow, NewMessage, OutboxMessage, RecordWrite, StoreError, StoreTx,
    WorkflowState,
};
use std::collections::{BTreeMap, HashMap};

/// Where an enrollment goes after this round.
#[derive(Clone)]
struct Next {
    state: EnrollmentState,
    step: i64,
    due_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

impl Next {
    /// The enrollment goes on at `pc` in the next round, or is completed
    /// now when nothing but jumps is left from there: an enrollment whose
    /// last action ran must not be claimed again a round later only to be
    /// marked done (that second claim, read and update was a third of a
    /// one-action workflow's writes).
    fn resume(program: &[Step], mut pc: usize, now: DateTime<Utc>) -> Self {
        // Jumps only go forward (`ValidWorkflow` compiles them so), which
        // bounds the walk; the counter guards it anyway.
        for _ in 0..=program.len() {
            match program.get(pc) {
                Some(Step::Jump { to }) => pc = *to,
                Some(_) => break,
                None => {
                    return Next {
                        state: EnrollmentState::Completed,
                        step: pc.min(program.len()) as i64,
                        due_at: None,
                        error: None,
                    }
                }
            }
        }
        Next {
            state: EnrollmentState::Active,
            step: pc as i64,
            due_at: Some(now),
            error: None,
        }
    }
}

/// One enrollment's send waiting for the limit check.
struct SendJob {
    enrollment: usize,
    pc: usize,
    action_id: String,
    pending: PendingSend,
    /// Where the enrollment goes once the send is decided (sent, skipped
    /// or failed).
    after: Next,
}

/// Everything one batch writes, and what it must know to write it.
#[derive(Default)]
struct BatchWrites {
    next: Vec<Option<Next>>,
    logs: Vec<ActionLogRow>,
    sends: Vec<SendJob>,
    record_writes: Vec<RecordWrite>,
    consents: Vec<ConsentChange>,
    engagements: Vec<EngagementRow>,
    /// Whether each provider of the batch's sends deduplicates, looked up
    /// before the transaction.
    dedupes: HashMap<String, bool>,
    /// The batch's messages inserted leased to this node, handed to its
    /// dispatcher once the batch commits.
    in_hand: Vec<OutboxMessage>,
}

impl Engine {
    pub(crate) async fn run_steps(&self) -> Result<usize> {
        let now = self.now();
        let cfg = &self.inner.config;
        let lease_until = now + self.lease();
        let claimed = self
            .store()
            .claim_due_enrollments(&cfg.node_id, now, lease_until, cfg.step_batch)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let n = claimed.len();
        let mut by_account: BTreeMap<AccountId, Vec<ClaimedEnrollment>> = BTreeMap::new();
        for c in claimed {
            by_account.entry(c.account_id.clone()).or_default().push(c);
        }
        for (account, batch) in by_account {
            match self.run_account_batch(&account, &batch, now).await {
                Ok(()) => {}
                Err(crate::EngineError::Conflict(why)) => {
                    // Another node took the work over; it will redo it.
                    tracing::warn!(%account, %why, "batch abandoned");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    async fn run_account_batch(
        &self,
        account: &AccountId,
        batch: &[ClaimedEnrollment],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let settings = self.get_account(account).await?.settings;
        let record_ids: Vec<RecordId> = batch.iter().map(|c| c.row.record_id.clone()).collect();
        let mut records: HashMap<RecordId, Record> =
            self.records_by_id(account, &record_ids).await?;
        let contact_ids: Vec<RecordId> = records
            .values()
            .filter(|r| r.object_type != ObjectType::Contact)
            .filter_map(|r| r.primary_contact().cloned())
            .collect();
        let contacts: HashMap<RecordId, Record> = self.records_by_id(account, &contact_ids).await?;
        let numbers: HashMap<NumberId, smsflow_store::NumberRow> = self
            .store()
            .list_numbers(account)
            .await?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let mut users: HashMap<UserId, smsflow_store::UserRow> = HashMap::new();
        // Read when the batch's first send needs it.
        let mut validated: Option<foldhash::HashSet<E164>> = None;
        let mut states: HashMap<WorkflowId, WorkflowState> = HashMap::new();

        let mut w = BatchWrites {
            next: Vec::with_capacity(batch.len()),
            ..Default::default()
        };
        for (i, claim) in batch.iter().enumerate() {
            let e = &claim.row;
            if !states.contains_key(&e.workflow_id) {
                states.insert(
                    e.workflow_id.clone(),
                    self.store().workflow_state(&e.workflow_id).await?,
                );
            }
            if states[&e.workflow_id] == WorkflowState::Paused {
                // Paused: hold the enrollment where it is and look again later.
                w.next.push(Some(Next {
                    state: e.state,
                    step: e.step,
                    due_at: Some(now + Duration::minutes(1)),
                    error: None,
                }));
                continue;
            }
            let Some(record) = records.get(&e.record_id).cloned() else {
                w.next.push(Some(Next {
                    state: EnrollmentState::Unenrolled,
                    step: e.step,
                    due_at: None,
                    error: Some("record deleted".into()),
                }));
                continue;
            };
            let wf = match self.compiled(account, &e.workflow_id, e.revision).await {
                Ok(wf) => wf,
                Err(err) => {
                    w.next.push(Some(Next {
                        state: EnrollmentState::Failed,
                        step: e.step,
                        due_at: None,
                        error: Some(err.to_string()),
                    }));
                    continue;
                }
            };
            let log = |action_id: &str,
                       outcome: Outcome,
                       code: Option<ReasonCode>,
                       reason: Option<String>| ActionLogRow {
                id: ActionLogId::generate(),
                account_id: account.clone(),
                workflow_id: e.workflow_id.clone(),
                action_id: action_id.to_string(),
                record_id: e.record_id.clone(),
                enrollment_id: e.id.clone(),
                outcome,
                reason_code: code,
                reason,
                message_id: None,
                at: now,
            };
            let mut pc = usize::try_from(e.step).unwrap_or(usize::MAX);
            let next = loop {
                let Some(step) = wf.program.get(pc) else {
                    break Some(Next {
                        state: EnrollmentState::Completed,
                        step: pc as i64,
                        due_at: None,
                        error: None,
                    });
                };
                match step {
                    Step::Jump { to } => pc = *to,
                    Step::Branch {
                        action_id,
                        condition,
                        else_at,
                    } => {
                        let hit = condition.matches(&record.properties, None);
                        let branch = if hit { "then" } else { "else" };
                        w.logs.push(log(
                            action_id,
                            Outcome::Succeeded,
                            None,
                            Some(format!("took the {branch} branch")),
                        ));
                        pc = if hit { pc + 1 } else { *else_at };
                    }
                    Step::Delay {
                        action_id,
                        duration,
                    } => {
                        w.logs.push(log(action_id, Outcome::Succeeded, None, None));
                        break Some(Next {
                            state: EnrollmentState::Waiting,
                            step: pc as i64 + 1,
                            due_at: Some(now + *duration),
                            error: None,
                        });
                    }
                    Step::SetProperty {
                        action_id,
                        property,
                        value,
                    } => {
                        let mut updated = record.clone();
                        updated
                            .properties
                            .insert(property.to_string(), value.clone());
                        updated.updated_at = now;
                        w.record_writes.push(RecordWrite {
                            record: updated.clone(),
                            previous: Some(record.clone()),
                        });
                        records.insert(updated.id.clone(), updated);
                        w.logs.push(log(action_id, Outcome::Succeeded, None, None));
                        break Some(Next::resume(&wf.program, pc + 1, now));
                    }
                    Step::ManageSubscription(m) => {
                        // R20: contact workflows only (validated), on the
                        // contact's mobile phone, else its phone.
                        let phone = subscription_phone(&record, &settings);
                        match phone {
                            None => w.logs.push(log(
                                &m.action_id,
                                Outcome::Skipped,
                                Some(ReasonCode::NoRecipient),
                                Some("the contact has no phone number".into()),
                            )),
                            Some(Err(err)) => w.logs.push(log(
                                &m.action_id,
                                Outcome::Failed,
                                Some(ReasonCode::InvalidPhone),
                                Some(err.to_string()),
                            )),
                            Some(Ok(phone)) => {
                                let status = if m.subscribe {
                                    ConsentStatus::Subscribed
                                } else {
                                    ConsentStatus::Unsubscribed
                                };
                                let basis = m.legal_basis.parse::<LegalBasis>().ok();
                                let explanation =
                                    Some(m.explanation.clone()).filter(|e| !e.is_empty());
                                w.consents.push(ConsentChange {
                                    id: ledger_id(),
                                    phone: phone.clone(),
                                    subscription_type_id: m.subscription_type_id.to_string(),
                                    status,
                                    legal_basis: basis,
                                    explanation: explanation.clone(),
                                    source: ConsentSource::Workflow,
                                    wording: explanation,
                                    record_id: Some(record.id.clone()),
                                    message_id: None,
                                    at: now,
                                });
                                w.engagements.push(EngagementRow {
                                    id: EngagementId::generate(),
                                    account_id: account.clone(),
                                    record_id: record.id.clone(),
                                    kind: "subscription_changed".into(),
                                    message_id: None,
                                    body: format!(
                                        "SMS subscription {} for {} set to {} ({})",
                                        m.subscription_type_id, phone, status, m.legal_basis
                                    ),
                                    at: now,
                                });
                                w.logs.push(log(
                                    &m.action_id,
                                    Outcome::Succeeded,
                                    None,
                                    Some(format!(
                                        "{phone} {status} for {}",
                                        m.subscription_type_id
                                    )),
                                ));
                            }
                        }
                        break Some(Next::resume(&wf.program, pc + 1, now));
                    }
                    Step::SendSms(step) => {
                        if validated.is_none() {
                            let batch = records.values().chain(contacts.values());
                            validated = Some(self.validated_phones(account, batch).await?);
                        }
                        if let Some(uid) = &step.sender_user_id {
                            if !users.contains_key(uid) {
                                if let Ok(u) = self.store().get_user(account, uid).await {
                                    users.insert(uid.clone(), u);
                                }
                            }
                        }
                        let contact = if record.object_type == ObjectType::Contact {
                            Some(&record)
                        } else {
                            record.primary_contact().and_then(|id| contacts.get(id))
                        };
                        let inputs = SendInputs {
                            settings: &settings,
                            record: &record,
                            contact,
                            number: numbers.get(&step.from_number_id),
                            user: step.sender_user_id.as_ref().and_then(|u| users.get(u)),
                            validated: KnownPhones {
                                own: &[],
                                others: validated.as_ref(),
                            },
                        };
                        match prepare(step, &inputs) {
                            Prepared::Done {
                                outcome,
                                code,
                                reason,
                            } => {
                                w.logs.push(log(
                                    &step.action_id,
                                    outcome,
                                    Some(code),
                                    Some(reason),
                                ));
                                break Some(Next::resume(&wf.program, pc + 1, now));
                            }
                            Prepared::Send(pending) => {
                                w.sends.push(SendJob {
                                    enrollment: i,
                                    pc,
                                    action_id: step.action_id.clone(),
                                    pending: *pending,
                                    after: Next::resume(&wf.program, pc + 1, now),
                                });
                                break None; // decided in the transaction
                            }
                        }
                    }
                }
            };
            w.next.push(next);
        }

        self.gate_sends(account, &settings, batch, &mut w, now)
            .await?;

        // Record changes may enroll records in other workflows (R23).
        let mut new_enrollments = Vec::new();
        let mut by_type: BTreeMap<ObjectType, Vec<RecordWrite>> = BTreeMap::new();
        for rw in &w.record_writes {
            by_type
                .entry(rw.record.object_type)
                .or_default()
                .push(rw.clone());
        }
        let mut phone_entries = Vec::new();
        for (t, writes) in &by_type {
            new_enrollments.extend(self.plan_enrollments(account, *t, writes).await?);
            let recs: Vec<Record> = writes.iter().map(|rw| rw.record.clone()).collect();
            phone_entries.extend(self.phone_index(account, *t, &recs).await?);
        }

        // Messages to providers that deduplicate are inserted leased to
        // this node and handed off from memory, without an outbox claim.
        for s in &w.sends {
            if !w.dedupes.contains_key(&s.pending.provider) {
                let dedupes = self
                    .provider_for(account, &s.pending.provider)
                    .await
                    .is_some_and(|p| p.is_idempotent());
                w.dedupes.insert(s.pending.provider.clone(), dedupes);
            }
        }

        let mut tx = self.store().begin().await?;
        let result = self
            .commit_batch(&mut tx, account, &settings, batch, &mut w, now)
            .await;
        let result = match result {
            Ok(()) => async {
                let records: Vec<Record> =
                    w.record_writes.iter().map(|rw| rw.record.clone()).collect();
                if !records.is_empty() {
                    tx.upsert_records(account, &records).await?;
                    tx.set_record_phones(account, &phone_entries).await?;
                }
                tx.record_consents(account, &w.consents).await?;
                tx.insert_engagements(&w.engagements).await?;
                tx.insert_enrollments(&new_enrollments).await?;
                Ok::<_, StoreError>(())
            }
            .await
            .map_err(Into::into),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                tx.commit().await?;
                self.metrics().executed(&w.logs);
                self.metrics()
                    .enrollments
                    .inc_by(new_enrollments.len() as u64);
                self.hand_over(w.in_hand);
                Ok(())
            }
            Err(e) => {
                tx.rollback().await.ok();
                Err(e)
            }
        }
    }

    /// The phones of `records` that the phone index validated when they
    /// were written. A recipient written in one of these exact E.164 forms
    /// is not parsed again: libphonenumber's parse was an eighth of the
    /// pipeline's CPU (BENCHMARKS.md). An index entry older than the
    /// record it was read beside can only miss, and a miss is parsed.
    async fn validated_phones(
        &self,
        account: &AccountId,
        records: impl Iterator<Item = &Record>,
    ) -> Result<foldhash::HashSet<E164>> {
        let mut by_type: BTreeMap<ObjectType, Vec<RecordId>> = BTreeMap::new();
        for r in records {
            by_type.entry(r.object_type).or_default().push(r.id.clone());
        }
        let mut known = foldhash::HashSet::default();
        for (object_type, ids) in by_type {
            known.extend(
                self.store()
                    .validated_phones(account, object_type, &ids)
                    .await?,
            );
        }
        Ok(known)
    }

    /// The rules no workflow can override, applied before limits are
    /// touched: opted-out phones (R18) and non-marketing contacts (R19) are
    /// skipped; sends in the recipient's quiet hours wait (R21).
    async fn gate_sends(
        &self,
        account: &AccountId,
        settings: &AccountSettings,
        batch: &[ClaimedEnrollment],
        w: &mut BatchWrites,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if w.sends.is_empty() {
            return Ok(());
        }
        let mut phones: Vec<E164> = w.sends.iter().map(|s| s.pending.to.clone()).collect();
        phones.sort();
        phones.dedup();
        let consents = self.store().consents_of_phones(account, &phones).await?;
        let needs_types = w
            .sends
            .iter()
            .any(|s| s.pending.subscription_type_id.is_some());
        let types = if needs_types {
            self.store().list_subscription_types(account).await?
        } else {
            Vec::new()
        };
        let status_of = |phone: &E164, type_id: &str| {
            consents
                .iter()
                .find(|c| &c.phone == phone && c.subscription_type_id == type_id)
                .map(|c| c.status)
        };
        let mut kept = Vec::with_capacity(w.sends.len());
        for job in std::mem::take(&mut w.sends) {
            let e = &batch[job.enrollment].row;
            let p = &job.pending;
            let purpose = p
                .subscription_type_id
                .as_ref()
                .and_then(|t| types.iter().find(|x| &x.id == t))
                .map(|t| t.purpose);
            let entry = |outcome: Outcome, code: ReasonCode, reason: String| ActionLogRow {
                id: ActionLogId::generate(),
                account_id: account.clone(),
                workflow_id: e.workflow_id.clone(),
                action_id: job.action_id.clone(),
                record_id: e.record_id.clone(),
                enrollment_id: e.id.clone(),
                outcome,
                reason_code: Some(code),
                reason: Some(reason),
                message_id: None,
                at: now,
            };
            match gate_send(settings, p, purpose, status_of, now) {
                Gate::Skip { code, reason } => {
                    w.logs.push(entry(Outcome::Skipped, code, reason));
                    w.next[job.enrollment] = Some(job.after.clone());
                    continue;
                }
                Gate::Defer { until } => {
                    w.logs.push(entry(
                        Outcome::Deferred,
                        ReasonCode::QuietHours,
                        format!(
                            "quiet hours at the recipient; sending at {}",
                            until.to_rfc3339()
                        ),
                    ));
                    w.next[job.enrollment] = Some(Next {
                        state: EnrollmentState::Waiting,
                        step: job.pc as i64,
                        due_at: Some(until),
                        error: None,
                    });
                    continue;
                }
                Gate::Go => {}
            }
            kept.push(job);
        }
        w.sends = kept;
        Ok(())
    }

    /// Reserves limits for the batch's sends and writes everything.
    async fn commit_batch(
        &self,
        tx: &mut StoreTx,
        account: &AccountId,
        settings: &AccountSettings,
        batch: &[ClaimedEnrollment],
        w: &mut BatchWrites,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tz = settings.time_zone;
        let lease_until = now + self.lease();
        let limits = settings.limits;
        // Group sends by the counters they draw on; one reservation per group.
        let mut groups: BTreeMap<(NumberId, Option<UserId>), Vec<usize>> = BTreeMap::new();
        for (j, s) in w.sends.iter().enumerate() {
            groups
                .entry((s.pending.number_id.clone(), s.pending.user_id.clone()))
                .or_default()
                .push(j);
        }
        let mut messages = Vec::new();
        let mut leased = Vec::new();
        let mut engagements = Vec::new();
        let mut threads = Vec::new();
        for ((number, user), jobs) in groups {
            let keys = limit_keys(now, tz, &limits, &number, user.as_ref());
            let periods: Vec<String> = keys
                .iter()
                .map(|(k, _)| k.period.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let grant = tx.reserve(account, &keys, jobs.len() as i64).await?;
            for (rank, &j) in jobs.iter().enumerate() {
                let job = &w.sends[j];
                let e = &batch[job.enrollment].row;
                let mut entry = ActionLogRow {
                    id: ActionLogId::generate(),
                    account_id: account.clone(),
                    workflow_id: e.workflow_id.clone(),
                    action_id: job.action_id.clone(),
                    record_id: e.record_id.clone(),
                    enrollment_id: e.id.clone(),
                    outcome: Outcome::Succeeded,
                    reason_code: None,
                    reason: None,
                    message_id: None,
                    at: now,
                };
                if (rank as i64) < grant.granted {
                    let p = &job.pending;
                    let message_id = MessageId::generate();
                    threads.push((p.number_id.clone(), p.to.clone()));
                    let in_hand = w.dedupes.get(&p.provider).copied().unwrap_or(false);
                    let message = NewMessage {
                        row: MessageRow {
                            id: message_id.clone(),
                            direction: Direction::Outbound,
                            from: p.from.clone(),
                            to: p.to.clone(),
                            body: p.body.clone(),
                            encoding: p.info.encoding,
                            segments: i64::from(p.info.segments),
                            status: if in_hand {
                                MessageStatus::Sending
                            } else {
                                MessageStatus::Queued
                            },
                            provider: p.provider.clone(),
                            provider_message_id: None,
                            error_code: None,
                            error: None,
                            number_id: Some(p.number_id.clone()),
                            user_id: p.user_id.clone(),
                            // Known once the thread is opened, below.
                            conversation_id: None,
                            record_id: Some(e.record_id.clone()),
                            workflow_id: Some(e.workflow_id.clone()),
                            enrollment_id: Some(e.id.clone()),
                            action_id: Some(job.action_id.clone()),
                            // Same enrollment, same step: same key, however
                            // often the step is retried (R12).
                            idempotency_key: Some(format!("{}:{}", e.id, job.pc)),
                            // Inserted leased: the hand-off is its first attempt.
                            attempts: i64::from(in_hand),
                            created_at: now,
                            updated_at: now,
                            handed_off_at: None,
                        },
                        account_id: account.clone(),
                        due_at: Some(now),
                        counted_periods: periods.clone(),
                    };
                    if in_hand {
                        leased.push(message);
                    } else {
                        messages.push(message);
                    }
                    for rec in std::iter::once(&e.record_id).chain(p.contact_id.as_ref()) {
                        engagements.push(EngagementRow {
                            id: EngagementId::generate(),
                            account_id: account.clone(),
                            record_id: rec.clone(),
                            kind: "sms_sent".into(),
                            message_id: Some(message_id.clone()),
                            body: p.body.clone(),
                            at: now,
                        });
                    }
                    entry.message_id = Some(message_id);
                    w.next[job.enrollment] = Some(job.after.clone());
                } else {
                    let key = grant.exhausted.clone();
                    let (window, what) = match &key {
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
                    let limit = match window {
                        Window::Day => limits.day,
                        Window::Month => limits.month,
                    };
                    entry.reason_code = Some(ReasonCode::LimitExceeded);
                    match limits.on_limit {
                        OnLimit::Fail => {
                            entry.outcome = Outcome::Failed;
                            entry.reason = Some(format!(
                                "the {what} limit of {limit} messages is reached; not retried"
                            ));
                            w.next[job.enrollment] = Some(job.after.clone());
                        }
                        OnLimit::Defer => {
                            let wake = next_window_start(now, tz, window);
                            entry.outcome = Outcome::Deferred;
                            entry.reason = Some(format!(
                                "the {what} limit of {limit} messages is reached; waiting until {}",
                                wake.to_rfc3339()
                            ));
                            w.next[job.enrollment] = Some(Next {
                                state: EnrollmentState::Waiting,
                                step: job.pc as i64,
                                due_at: Some(wake),
                                error: None,
                            });
                        }
                    }
                }
                w.logs.push(entry);
            }
        }
        let conversations = tx.open_conversations(account, &threads, now).await?;
        for m in messages.iter_mut().chain(leased.iter_mut()) {
            if let Some(number) = &m.row.number_id {
                m.row.conversation_id = conversations
                    .get(&(number.clone(), m.row.to.clone()))
                    .cloned();
            }
        }
        tx.insert_messages(&messages).await?;
        tx.insert_messages_leased(&leased, &self.inner.config.node_id, lease_until)
            .await?;
        tx.insert_engagements(&engagements).await?;
        tx.insert_action_logs(&w.logs).await?;
        let updates: Vec<EnrollmentUpdate> = batch
            .iter()
            .zip(&w.next)
            .map(|(claim, next)| {
                let next = next
                    .as_ref()
                    .expect("every enrollment of the batch has a next position");
                EnrollmentUpdate {
                    id: &claim.row.id,
                    state: next.state,
                    step: next.step,
                    due_at: next.due_at,
                    last_error: next.error.as_deref(),
                }
            })
            .collect();
        tx.update_enrollments(&self.inner.config.node_id, &updates, now)
            .await?;
        if !messages.is_empty() || !leased.is_empty() {
            self.wake();
        }
        w.in_hand = leased
            .into_iter()
            .map(|m| OutboxMessage {
                account_id: m.account_id,
                row: m.row,
                counted_periods: m.counted_periods,
            })
            .collect();
        Ok(())
    }
}
