//! The workflow dry run (R24): what a workflow would do if it enrolled the
//! matching records now — how many would enroll, how many messages would go,
//! how many would be blocked and why — without sending or writing anything.
//!
//! Each would-be enrollment follows its path through the program from step
//! 0 on the record as it is now: branches are evaluated, delays passed over
//! (they only postpone), `set_property` is applied in memory so later steps
//! see it, and manage-subscription changes are applied in memory so later
//! sends see them. Every send step reached goes through the executor's own
//! functions: [`prepare`] (recipient, rendering, encoding), [`gate_send`]
//! (consent, quiet hours at "now") and [`limit_keys`] (the counters it
//! draws on), against the day and month allowance left in the store,
//! decremented per message in record order.
//!
//! Records are read 5,000 at a time; each page costs a fixed handful of
//! queries (the records with their validated phones and their enrollments
//! in the workflow, primary contacts, consents of the page's phones), never
//! one per record.

use crate::error::Result;
use crate::gate::{gate_send_with, limit_keys, quiet_deferral, subscription_phone, Gate};
use crate::records::enrolls;
use crate::send_sms::{prepare, KnownPhones, PendingSend, Prepared, SendInputs};
use crate::Engine;
use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt, HashSet};
use serde::Serialize;
use smsflow_core::account::AccountSettings;
use smsflow_core::consent::{ConsentStatus, Purpose};
use smsflow_core::encoding::Encoding;
use smsflow_core::ids::{AccountId, NumberId, RecordId, SubscriptionTypeId, UserId, WorkflowId};
use smsflow_core::limits::{period_key, CounterKey, Window};
use smsflow_core::message::ReasonCode;
use smsflow_core::object::{ObjectType, Record};
use smsflow_core::phone::E164;
use smsflow_core::workflow::{Step, ValidWorkflow, WorkflowDefinition};
use smsflow_store::{NumberRow, Result as StoreResult, ScannedRecord, Store, UserRow};
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use utoipa::ToSchema;

/// Records read per page.
const PAGE: i64 = 5000;
/// Rendered messages shown in a report.
const SAMPLES: usize = 5;

/// What a workflow would do now (R24).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct DryRunReport {
    /// Records that would enroll now.
    pub enrolled: u64,
    /// Messages that would be sent now.
    pub messages: u64,
    /// Send steps that would not send, by reason code (`opted_out`,
    /// `quiet_hours`, `limit_exceeded`…).
    pub blocked: BTreeMap<String, u64>,
    /// The first few messages that would be sent, in record order.
    pub samples: Vec<DryRunSample>,
    /// Segments of all the messages that would be sent.
    pub segments_total: u64,
}

impl DryRunReport {
    /// Counts one send blocked for `code`; the map's key is only allocated
    /// the first time a reason is seen.
    fn block(&mut self, code: ReasonCode) {
        match self.blocked.get_mut(code.as_str()) {
            Some(n) => *n += 1,
            None => {
                self.blocked.insert(code.as_str().to_string(), 1);
            }
        }
    }
}

/// One message as it would be sent.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DryRunSample {
    pub record_id: RecordId,
    pub to: E164,
    pub body: String,
    pub encoding: Encoding,
    pub segments: u32,
}

/// What one step of a would-be enrollment's path produces, in path order.
enum Event {
    /// A send step that ended before the gates (no recipient, bad token…).
    Ended(ReasonCode),
    /// A prepared message, to go through the gates and limits, with its
    /// quiet-hours deferral at "now" worked out in the parallel pass.
    Send(usize, Box<PendingSend>, Option<DateTime<Utc>>),
    /// A manage-subscription step's change, seen by later sends.
    Consent(E164, SubscriptionTypeId, ConsentStatus),
}

/// The account as a send step sees it; loaded once per run.
struct World {
    settings: AccountSettings,
    numbers: HashMap<NumberId, NumberRow>,
    users: HashMap<UserId, UserRow>,
    purposes: HashMap<SubscriptionTypeId, Purpose>,
}

/// Day and month allowance left per counter, starting from the store's
/// counts and spent per simulated message.
struct Allowance {
    now: DateTime<Utc>,
    used: HashMap<(String, String, String), i64>,
    /// What is left of each counter, once one of its sends was seen.
    left: Vec<i64>,
    /// Where each counter is in `left`.
    slots: HashMap<CounterKey, usize>,
    /// The counters (slots) of each number and user, from [`limit_keys`];
    /// nested so that a message's sender is looked up without copying it.
    senders: HashMap<NumberId, HashMap<Option<UserId>, Vec<usize>>>,
}

impl Allowance {
    /// Takes one message from every counter `p` draws on, or none when one
    /// of them is exhausted (as [`smsflow_store::StoreTx::reserve`] does).
    fn take(&mut self, settings: &AccountSettings, p: &PendingSend) -> bool {
        let known = self
            .senders
            .get(&p.number_id)
            .is_some_and(|users| users.contains_key(&p.user_id));
        if !known {
            let keys = limit_keys(
                self.now,
                settings.time_zone,
                &settings.limits,
                &p.number_id,
                p.user_id.as_ref(),
            );
            let mut list = Vec::with_capacity(keys.len());
            for (k, limit) in keys {
                let used = self
                    .used
                    .get(&(
                        k.subject.kind().to_string(),
                        k.subject.id().to_string(),
                        k.period.clone(),
                    ))
                    .copied()
                    .unwrap_or(0);
                let slot = *self.slots.entry(k).or_insert_with(|| {
                    self.left.push(limit - used);
                    self.left.len() - 1
                });
                list.push(slot);
            }
            self.senders
                .entry(p.number_id.clone())
                .or_default()
                .insert(p.user_id.clone(), list);
        }
        let slots = &self.senders[&p.number_id][&p.user_id];
        if slots.iter().any(|&s| self.left[s] < 1) {
            return false;
        }
        for &s in slots {
            self.left[s] -= 1;
        }
        true
    }
}

/// Follows one record's path from step 0 (see the module docs).
#[allow(clippy::too_many_arguments)]
fn walk(
    wf: &ValidWorkflow,
    world: &World,
    index: usize,
    record: &Record,
    contacts: &HashMap<RecordId, Record>,
    validated: KnownPhones<'_>,
    now: DateTime<Utc>,
    out: &mut Vec<Event>,
) {
    let mut record = Cow::Borrowed(record);
    let mut pc = 0;
    // Jumps only go forward; the bound is a guard, not a rule.
    for _ in 0..=wf.program.len() * 2 {
        let Some(step) = wf.program.get(pc) else {
            return;
        };
        pc += 1;
        match step {
            Step::Jump { to } => pc = *to,
            Step::Branch {
                condition, else_at, ..
            } => {
                if !condition.matches(&record.properties, None) {
                    pc = *else_at;
                }
            }
            Step::Delay { .. } => {}
            Step::SetProperty {
                property, value, ..
            } => {
                record
                    .to_mut()
                    .properties
                    .insert(property.to_string(), value.clone());
            }
            Step::ManageSubscription(m) => {
                if let Some(Ok(phone)) = subscription_phone(&record, &world.settings) {
                    let status = if m.subscribe {
                        ConsentStatus::Subscribed
                    } else {
                        ConsentStatus::Unsubscribed
                    };
                    out.push(Event::Consent(
                        phone,
                        m.subscription_type_id.clone(),
                        status,
                    ));
                }
            }
            Step::SendSms(step) => {
                let contact = if record.object_type == ObjectType::Contact {
                    Some(record.as_ref())
                } else {
                    record.primary_contact().and_then(|id| contacts.get(id))
                };
                let inputs = SendInputs {
                    settings: &world.settings,
                    record: &record,
                    contact,
                    number: world.numbers.get(&step.from_number_id),
                    user: step
                        .sender_user_id
                        .as_ref()
                        .and_then(|u| world.users.get(u)),
                    validated,
                };
                out.push(match prepare(step, &inputs) {
                    Prepared::Done { code, .. } => Event::Ended(code),
                    Prepared::Send(pending) => {
                        let quiet = quiet_deferral(&world.settings, &pending, now);
                        Event::Send(index, pending, quiet)
                    }
                });
            }
        }
    }
}

/// Gates, then limits, one prepared message, and counts the outcome.
#[allow(clippy::too_many_arguments)]
fn settle(
    world: &World,
    allowance: &mut Allowance,
    stored: &HashMap<E164, Vec<(String, ConsentStatus)>>,
    changed: &HashMap<E164, Vec<(String, ConsentStatus)>>,
    record_id: &RecordId,
    p: &PendingSend,
    quiet: Option<DateTime<Utc>>,
    report: &mut DryRunReport,
) {
    let find = |map: &HashMap<E164, Vec<(String, ConsentStatus)>>, phone: &E164, type_id: &str| {
        map.get(phone)
            .and_then(|l| l.iter().find(|(t, _)| t == type_id))
            .map(|(_, s)| *s)
    };
    let status_of = |phone: &E164, type_id: &str| {
        find(changed, phone, type_id).or_else(|| find(stored, phone, type_id))
    };
    let purpose = p
        .subscription_type_id
        .as_ref()
        .and_then(|t| world.purposes.get(t))
        .copied();
    let code = match gate_send_with(p, purpose, status_of, || quiet) {
        Gate::Skip { code, .. } => Some(code),
        Gate::Defer { .. } => Some(ReasonCode::QuietHours),
        Gate::Go => (!allowance.take(&world.settings, p)).then_some(ReasonCode::LimitExceeded),
    };
    if let Some(code) = code {
        report.block(code);
        return;
    }
    report.messages += 1;
    report.segments_total += u64::from(p.info.segments);
    if report.samples.len() < SAMPLES {
        report.samples.push(DryRunSample {
            record_id: record_id.clone(),
            to: p.to.clone(),
            body: p.body.clone(),
            encoding: p.info.encoding,
            segments: p.info.segments,
        });
    }
}

/// What the walk of a page reads besides the page and the account.
#[derive(Default)]
struct PageLookups {
    /// Which records enroll, when that was decided before the walk (to
    /// fetch their primary contacts); else the walk decides.
    enrolling: Option<Vec<bool>>,
    /// The primary contacts of the enrolling records (other than contact
    /// workflows), and their validated phones.
    contacts: HashMap<RecordId, Record>,
    contact_phones: HashSet<E164>,
}

/// Walks the records of `page[range]` that enroll (see [`walk_all`]);
/// answers their events and how many enrolled.
fn walk_records(
    wf: &ValidWorkflow,
    world: &World,
    page: &[ScannedRecord],
    range: std::ops::Range<usize>,
    lookups: &PageLookups,
    now: DateTime<Utc>,
) -> (Vec<Event>, u64) {
    let mut out = Vec::with_capacity(range.len());
    let mut enrolled = 0u64;
    for i in range {
        let s = &page[i];
        let enrolls_now = match &lookups.enrolling {
            Some(decided) => decided[i],
            None => {
                let states = s.enrollments.iter().copied();
                enrolls(wf, &s.record.properties, None, states)
            }
        };
        if !enrolls_now {
            continue;
        }
        enrolled += 1;
        let known = KnownPhones {
            own: &s.validated,
            others: Some(&lookups.contact_phones),
        };
        walk(
            wf,
            world,
            i,
            &s.record,
            &lookups.contacts,
            known,
            now,
            &mut out,
        );
    }
    (out, enrolled)
}

/// A page as the run settles it, from [`read_pages`].
enum Loaded {
    /// Walked on the thread that read it (see [`Walker`]): its events, how
    /// many records enrolled, and the records' ids (the events' indexes).
    Walked {
        events: Vec<Event>,
        enrolled: u64,
        ids: Vec<RecordId>,
    },
    /// Read only: the run walks it after looking up what the walk needs.
    Read(Vec<ScannedRecord>),
}

/// What a page needs to be walked where it is read: everything but other
/// records, so in contact workflows (and those that send nothing). Each
/// page is then read, walked and freed by one thread, [`READERS`] pages at
/// a time; before, a page was parsed on one thread, walked on
/// two others and freed on a fourth, and freeing records on another thread
/// than the one that allocated them was a tenth of a run.
#[derive(Clone)]
struct Walker {
    wf: Arc<ValidWorkflow>,
    world: Arc<World>,
    now: DateTime<Utc>,
}

impl Walker {
    fn walk(&self, page: Vec<ScannedRecord>) -> Loaded {
        let (events, enrolled) = walk_records(
            &self.wf,
            &self.world,
            &page,
            0..page.len(),
            &PageLookups::default(),
            self.now,
        );
        let ids = page.into_iter().map(|s| s.record.id).collect();
        Loaded::Walked {
            events,
            enrolled,
            ids,
        }
    }
}

/// Walks the records of a page that enroll, split over the machine's
/// cores: paths are independent of each other (filters, rendering, the
/// recipient's zones are most of a dry run's CPU), and the events come back
/// in record order for [`settle`], which must see them in that order.
/// Answers the events and how many records enrolled.
async fn walk_all(
    wf: Arc<ValidWorkflow>,
    world: Arc<World>,
    page: Arc<Vec<ScannedRecord>>,
    lookups: Arc<PageLookups>,
    now: DateTime<Utc>,
) -> (Vec<Event>, u64) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = page.len().div_ceil(threads).max(1);
    let parts = page.len().div_ceil(per_thread);
    // On tokio's blocking threads, which live on between pages: a thread
    // spawned per page started a fresh allocator heap each time, and
    // handing its memory back was a few per cent of a run.
    let handles: Vec<_> = (0..parts)
        .map(|part| {
            let (wf, world, page, lookups) =
                (wf.clone(), world.clone(), page.clone(), lookups.clone());
            tokio::task::spawn_blocking(move || {
                let first = part * per_thread;
                let last = (first + per_thread).min(page.len());
                walk_records(&wf, &world, &page, first..last, &lookups, now)
            })
        })
        .collect();
    let mut events = Vec::new();
    let mut enrolled = 0;
    for handle in handles {
        let (out, n) = handle
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        events.extend(out);
        enrolled += n;
    }
    (events, enrolled)
}

/// Pages read at once by [`read_pages`]. One more than the two cores of
/// the benchmark box: with the walk on the reading threads, a third page
/// keeps both cores busy while the run settles a page and looks up its
/// consents (a 1M run 2.0–3.0 s against 2.6–3.3 s with two, run
/// alternately; BENCHMARKS.md).
const READERS: usize = 3;

/// Sends the account's records of `object_type` to `pages`, in id order, a
/// page at a time. Pages are cut ahead from the record index
/// ([`Store::record_page_end`]) and up to [`READERS`] of them are read at
/// once, each on a task of its own; they are sent in order. Only records
/// up to the last id at the start are read, so records created during the
/// run cannot make it run on.
async fn read_pages(
    store: Store,
    account: AccountId,
    object_type: ObjectType,
    saved: Option<WorkflowId>,
    walker: Option<Walker>,
    pages: tokio::sync::mpsc::Sender<StoreResult<Loaded>>,
) {
    if let Err(e) = cut_and_read(&store, &account, object_type, saved, walker, &pages).await {
        let _ = pages.send(Err(e)).await;
    }
}

/// [`read_pages`]; an error reading a page is sent on with the page, and
/// an error cutting the pages is answered.
async fn cut_and_read(
    store: &Store,
    account: &AccountId,
    object_type: ObjectType,
    saved: Option<WorkflowId>,
    walker: Option<Walker>,
    pages: &tokio::sync::mpsc::Sender<StoreResult<Loaded>>,
) -> StoreResult<()> {
    let Some(last) = store.last_record_id(account, object_type).await? else {
        return Ok(());
    };
    let mut reading = VecDeque::new();
    let mut after: Option<String> = None;
    let mut cut_all = false;
    loop {
        while !cut_all && reading.len() < READERS {
            let end = store
                .record_page_end(account, object_type, after.as_deref(), PAGE)
                .await?;
            let until = end.filter(|e| *e < last).unwrap_or_else(|| last.clone());
            cut_all = until == last;
            let from = after.replace(until.clone());
            let (store, account, saved, walker) = (
                store.clone(),
                account.clone(),
                saved.clone(),
                walker.clone(),
            );
            reading.push_back(tokio_util::task::AbortOnDropHandle::new(tokio::spawn(
                async move {
                    let (saved, from) = (saved.as_ref(), from.as_deref());
                    match walker {
                        Some(w) => {
                            store
                                .dry_run_page_then(&account, object_type, saved, from, &until, {
                                    move |page| w.walk(page)
                                })
                                .await
                        }
                        None => store
                            .dry_run_page(&account, object_type, saved, from, &until)
                            .await
                            .map(Loaded::Read),
                    }
                },
            )));
        }
        let Some(next) = reading.pop_front() else {
            return Ok(());
        };
        let page = next
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let failed = page.is_err();
        // The run stopped listening, or has the error: nothing more to read.
        if pages.send(page).await.is_err() || failed {
            return Ok(());
        }
    }
}

impl Engine {
    /// R24 for an unsaved definition: validated like a save, then simulated
    /// as if no record had ever been enrolled in it.
    pub async fn dry_run(
        &self,
        account: &AccountId,
        def: &WorkflowDefinition,
    ) -> Result<DryRunReport> {
        let wf = self.validate_workflow(account, def).await?;
        self.simulate(account, Arc::new(wf), None).await
    }

    /// R24 for a saved workflow, draft or published: its current definition,
    /// with the records it already enrolled counted as it would count them.
    pub async fn dry_run_workflow(
        &self,
        account: &AccountId,
        id: &WorkflowId,
    ) -> Result<DryRunReport> {
        let row = self.get_workflow(account, id).await?;
        let wf = self.validate_workflow(account, &row.definition).await?;
        self.simulate(account, Arc::new(wf), Some(id)).await
    }

    async fn simulate(
        &self,
        account: &AccountId,
        wf: Arc<ValidWorkflow>,
        saved: Option<&WorkflowId>,
    ) -> Result<DryRunReport> {
        let now = self.now();
        let world = Arc::new(self.world(account, &wf).await?);
        let tz = world.settings.time_zone;
        let periods = [
            period_key(now, tz, Window::Day),
            period_key(now, tz, Window::Month),
        ];
        let used = self
            .store()
            .usage(account, &periods)
            .await?
            .into_iter()
            .map(|u| ((u.subject_kind, u.subject_id, u.period), u.count))
            .collect();
        let mut allowance = Allowance {
            now,
            used,
            left: Vec::new(),
            slots: HashMap::new(),
            senders: HashMap::new(),
        };
        // Consent changes made by the run's own manage-subscription steps.
        let mut changed: HashMap<E164, Vec<(String, ConsentStatus)>> = HashMap::new();
        let mut report = DryRunReport::default();
        // Pages are read (and in contact workflows walked) by a task of
        // their own ahead of the settling, READERS pages at a time, each on
        // a thread of its own. The task ends with the last page, on an
        // error, or when this run stops listening.
        let (pages, mut loaded) = tokio::sync::mpsc::channel(2);
        // A saved workflow no record was ever enrolled in (a draft, the
        // usual thing to dry-run) is read as if unsaved: no enrollment
        // lookups per record.
        let saved = match saved {
            Some(id) if self.store().has_enrollments(account, id).await? => Some(id.clone()),
            _ => None,
        };
        // In other than contact workflows the message goes to the primary
        // contacts of the enrolling records, which the run looks up per
        // page before walking it.
        let walker = (wf.object_type == ObjectType::Contact || !wf.uses_sms()).then(|| Walker {
            wf: wf.clone(),
            world: world.clone(),
            now,
        });
        let reader = tokio::spawn(read_pages(
            self.store().clone(),
            account.clone(),
            wf.object_type,
            saved,
            walker,
            pages,
        ));
        // Stops the reader if this run ends early (an error below).
        let _stop_reader = tokio_util::task::AbortOnDropHandle::new(reader);
        while let Some(page) = loaded.recv().await {
            let (events, enrolled, ids) = match page? {
                Loaded::Walked {
                    events,
                    enrolled,
                    ids,
                } => (events, enrolled, ids),
                Loaded::Read(page) => {
                    self.walk_with_contacts(account, &wf, &world, page, now)
                        .await?
                }
            };
            report.enrolled += enrolled;
            let mut phones: Vec<&E164> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Send(_, p, _) => Some(&p.to),
                    _ => None,
                })
                .collect();
            phones.sort_unstable();
            phones.dedup();
            let mut stored: HashMap<E164, Vec<(String, ConsentStatus)>> = HashMap::new();
            if !phones.is_empty() {
                for (phone, type_id, status) in
                    self.store().consent_statuses(account, &phones).await?
                {
                    stored.entry(phone).or_default().push((type_id, status));
                }
            }
            for event in events {
                match event {
                    Event::Ended(code) => report.block(code),
                    Event::Consent(phone, type_id, status) => {
                        let list = changed.entry(phone).or_default();
                        list.retain(|(t, _)| t.as_str() != type_id.as_str());
                        list.push((type_id.to_string(), status));
                    }
                    Event::Send(i, p, quiet) => settle(
                        &world,
                        &mut allowance,
                        &stored,
                        &changed,
                        &ids[i],
                        &p,
                        quiet,
                        &mut report,
                    ),
                }
            }
        }
        Ok(report)
    }

    /// Walks a page of other than contact records (see [`walk_all`]): which
    /// records enroll is decided first, to fetch their primary contacts,
    /// which the messages go to. Recipients already validated when their
    /// record was written are not parsed again (libphonenumber is most of
    /// the walk). Answers the events, how many enrolled and the records'
    /// ids.
    async fn walk_with_contacts(
        &self,
        account: &AccountId,
        wf: &Arc<ValidWorkflow>,
        world: &Arc<World>,
        page: Vec<ScannedRecord>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Event>, u64, Vec<RecordId>)> {
        let enrolling: Vec<bool> = page
            .iter()
            .map(|s| {
                let states = s.enrollments.iter().copied();
                enrolls(wf, &s.record.properties, None, states)
            })
            .collect();
        let ids: Vec<RecordId> = page
            .iter()
            .zip(&enrolling)
            .filter(|(_, enrolls)| **enrolls)
            .filter_map(|(s, _)| s.record.primary_contact().cloned())
            .collect();
        let contacts: HashMap<RecordId, Record> = self.records_by_id(account, &ids).await?;
        let ids: Vec<RecordId> = contacts.keys().cloned().collect();
        let phones = self
            .store()
            .validated_phones(account, ObjectType::Contact, &ids)
            .await?;
        let lookups = PageLookups {
            enrolling: Some(enrolling),
            contacts,
            contact_phones: phones.into_iter().collect(),
        };
        let page = Arc::new(page);
        let (events, enrolled) = walk_all(
            wf.clone(),
            world.clone(),
            page.clone(),
            Arc::new(lookups),
            now,
        )
        .await;
        // Freeing the page's records is a good share of a page's serial
        // time; let another thread do it.
        let ids = tokio::task::spawn_blocking(move || {
            Arc::try_unwrap(page)
                .map(|page| page.into_iter().map(|s| s.record.id).collect())
                .unwrap_or_else(|page| page.iter().map(|s| s.record.id.clone()).collect())
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        Ok((events, enrolled, ids))
    }

    /// Settings, numbers, the program's senders and the subscription types.
    async fn world(&self, account: &AccountId, wf: &ValidWorkflow) -> Result<World> {
        let settings = self.get_account(account).await?.settings;
        let numbers = self
            .store()
            .list_numbers(account)
            .await?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let mut users = HashMap::new();
        for step in &wf.program {
            if let Step::SendSms(s) = step {
                if let Some(uid) = &s.sender_user_id {
                    if !users.contains_key(uid) {
                        if let Ok(u) = self.store().get_user(account, uid).await {
                            users.insert(uid.clone(), u);
                        }
                    }
                }
            }
        }
        let purposes = self
            .store()
            .list_subscription_types(account)
            .await?
            .into_iter()
            .map(|t| (t.id, t.purpose))
            .collect();
        Ok(World {
            settings,
            numbers,
            users,
            purposes,
        })
    }
}
