//! Records: create, update, delete, batch upsert — and the trigger evaluator
//! that enrolls them (R23). A record write and the enrollments it causes
//! commit in one transaction.

use crate::error::{EngineError, Result};
use crate::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};
use smsflow_core::filter::{ConditionInput, FilterGroups, Op};
use smsflow_core::ids::{AccountId, EnrollmentId, RecordId};
use smsflow_core::object::{
    is_empty_value, Association, ObjectType, Properties, PropertySchema, PropertyType, Record,
};
use smsflow_core::workflow::ValidWorkflow;
use smsflow_store::{EngagementRow, NewEnrollment, Page, RecordWrite};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use utoipa::ToSchema;

/// One input of a batch upsert.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    /// The record to update; absent: matched by `id_property`, or created.
    #[serde(default)]
    pub id: Option<String>,
    /// Property name → value; a null value clears the property.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<smsflow_core::object::Association>>)]
    pub associations: Option<Value>,
}

pub const MAX_BATCH: usize = 1000;

/// Records read per store page while filtering a list …
const FILTER_PAGE: i64 = 500;
/// … and at most this many for one filtered page.
pub const FILTER_SCAN: usize = 10_000;

/// Checks property names and value types against the schema; errors are
/// keyed `{prefix}properties.<name>`.
fn parse_properties(
    value: Option<&Value>,
    schema: &PropertySchema,
    prefix: &str,
    errors: &mut BTreeMap<String, String>,
) -> Properties {
    let mut out = Map::new();
    let Some(value) = value else { return out };
    let Some(map) = value.as_object() else {
        errors.insert(
            format!("{prefix}properties"),
            "must be an object of property name to value".into(),
        );
        return out;
    };
    for (name, v) in map {
        let key = format!("{prefix}properties.{name}");
        let Some(def) = schema.get(name) else {
            errors.insert(key, format!("unknown property `{name}`"));
            continue;
        };
        let ok = match (def.kind, v) {
            (_, Value::Null) => true,
            (_, Value::Array(_) | Value::Object(_)) => false,
            (PropertyType::Number, Value::Number(_)) => true,
            (PropertyType::Number, Value::String(s)) => {
                s.trim().is_empty() || s.trim().parse::<f64>().is_ok()
            }
            (PropertyType::Number, _) => false,
            (PropertyType::Bool, Value::Bool(_)) => true,
            (PropertyType::Bool, Value::String(s)) => matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "true" | "false" | ""
            ),
            (PropertyType::Bool, _) => false,
            _ => true,
        };
        if ok {
            out.insert(def.name.to_string(), v.clone());
        } else {
            errors.insert(
                key,
                format!("must be a {:?} value", def.kind).to_lowercase(),
            );
        }
    }
    out
}

fn parse_associations(
    value: Option<&Value>,
    prefix: &str,
    errors: &mut BTreeMap<String, String>,
) -> Option<Vec<Association>> {
    let value = value?;
    match serde_json::from_value::<Vec<Association>>(value.clone()) {
        Ok(list) => Some(list),
        Err(_) => {
            errors.insert(
                format!("{prefix}associations"),
                "must be a list of {type, id}".into(),
            );
            None
        }
    }
}

/// Whether a filter fires on changes (then a record that already matched
/// may match "again" on each change).
fn is_event_like(filter: &FilterGroups) -> bool {
    filter
        .0
        .iter()
        .flatten()
        .any(|c| matches!(c.op, Op::Changed | Op::ChangedTo))
}

fn changed(name: &str, now: &Properties, before: Option<&Properties>) -> bool {
    let old = before.and_then(|b| b.get(name));
    let new = now.get(name);
    match (is_empty_value(old), is_empty_value(new)) {
        (true, true) => false,
        (false, false) => old != new,
        _ => true,
    }
}

impl Engine {
    /// Records by id, of any type, keyed by their id; unknown ids are left
    /// out.
    pub(crate) async fn records_by_id<M: FromIterator<(RecordId, Record)>>(
        &self,
        account: &AccountId,
        ids: &[RecordId],
    ) -> Result<M> {
        Ok(self
            .store()
            .get_records(account, ids)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect())
    }

    pub async fn get_record(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        id: &RecordId,
    ) -> Result<Record> {
        self.store()
            .get_record(account, object_type, id)
            .await
            .map_err(EngineError::not_found("record"))
    }

    /// Records of a type in id order, only those matching `filter` when
    /// one is given: filter groups as JSON text, in the form a workflow's
    /// enrollment takes (`[[{"property", "op", "value"}]]`). A filtered page
    /// reads at most [`FILTER_SCAN`] records: one that gets there answers
    /// the matches so far and a cursor to go on from, so that a rare match
    /// cannot make one request read a whole table.
    pub async fn list_records(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        filter: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<Record>> {
        let Some(filter) = filter else {
            return Ok(self
                .store()
                .list_records(account, object_type, after, limit)
                .await?);
        };
        let filter = self.list_filter(account, object_type, filter).await?;
        let limit = usize::try_from(limit.max(1)).unwrap_or(1);
        let mut results = Vec::new();
        let mut cursor = after.map(str::to_string);
        let mut scanned = 0;
        loop {
            let page = self
                .store()
                .list_records(account, object_type, cursor.as_deref(), FILTER_PAGE)
                .await?;
            for record in page.results {
                scanned += 1;
                cursor = Some(record.id.to_string());
                if filter.matches(&record.properties, None) {
                    results.push(record);
                    if results.len() == limit {
                        return Ok(Page {
                            results,
                            next_cursor: cursor,
                        });
                    }
                }
            }
            if page.next_cursor.is_none() {
                return Ok(Page {
                    results,
                    next_cursor: None,
                });
            }
            if scanned >= FILTER_SCAN {
                return Ok(Page {
                    results,
                    next_cursor: cursor,
                });
            }
        }
    }

    /// `filter` (JSON text) checked against the type's schema; every bad
    /// condition is named under `filter[g][c]`.
    async fn list_filter(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        filter: &str,
    ) -> Result<FilterGroups> {
        let input: Vec<Vec<ConditionInput>> = serde_json::from_str(filter).map_err(|e| {
            EngineError::field(
                "filter",
                format!(
                    "must be filter groups as JSON, e.g. \
                     [[{{\"property\": \"lifecyclestage\", \"op\": \"eq\", \"value\": \"lead\"}}]]: {e}"
                ),
            )
        })?;
        if input.is_empty() {
            return Err(EngineError::field(
                "filter",
                "needs at least one filter group",
            ));
        }
        let schema = self.schema(account, object_type).await?;
        let mut errors = BTreeMap::new();
        let groups = FilterGroups::parse(&input, &schema, "filter", &mut errors);
        for (g, group) in input.iter().enumerate() {
            for (c, condition) in group.iter().enumerate() {
                if matches!(Op::parse(&condition.op), Some(Op::Changed | Op::ChangedTo)) {
                    errors.insert(
                        format!("filter[{g}][{c}].op"),
                        format!(
                            "`{}` compares a record with its previous values; a list has none",
                            condition.op
                        ),
                    );
                }
            }
        }
        if !errors.is_empty() {
            return Err(EngineError::Validation { fields: errors });
        }
        Ok(groups)
    }

    pub async fn timeline(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        id: &RecordId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<EngagementRow>> {
        self.get_record(account, object_type, id).await?;
        Ok(self.store().timeline(account, id, after, limit).await?)
    }

    pub async fn create_record(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        properties: Option<Value>,
        associations: Option<Value>,
    ) -> Result<Record> {
        let schema = self.schema(account, object_type).await?;
        let mut errors = BTreeMap::new();
        let props = parse_properties(properties.as_ref(), &schema, "", &mut errors);
        let assoc = parse_associations(associations.as_ref(), "", &mut errors).unwrap_or_default();
        self.check_associations(account, &assoc, "", &mut errors)
            .await?;
        if !errors.is_empty() {
            return Err(EngineError::Validation { fields: errors });
        }
        let now = self.now();
        let record = Record {
            id: RecordId::generate(),
            object_type,
            properties: props,
            associations: assoc,
            created_at: now,
            updated_at: now,
        };
        self.write_records(
            account,
            object_type,
            vec![RecordWrite {
                record: record.clone(),
                previous: None,
            }],
        )
        .await?;
        Ok(record)
    }

    pub async fn update_record(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        id: &RecordId,
        properties: Option<Value>,
        associations: Option<Value>,
    ) -> Result<Record> {
        let previous = self.get_record(account, object_type, id).await?;
        let schema = self.schema(account, object_type).await?;
        let mut errors = BTreeMap::new();
        let patch = parse_properties(properties.as_ref(), &schema, "", &mut errors);
        let assoc = parse_associations(associations.as_ref(), "", &mut errors);
        if let Some(a) = &assoc {
            self.check_associations(account, a, "", &mut errors).await?;
        }
        if !errors.is_empty() {
            return Err(EngineError::Validation { fields: errors });
        }
        let mut record = previous.clone();
        record.properties.extend(patch);
        if let Some(a) = assoc {
            record.associations = a;
        }
        record.updated_at = self.now();
        self.write_records(
            account,
            object_type,
            vec![RecordWrite {
                record: record.clone(),
                previous: Some(previous),
            }],
        )
        .await?;
        Ok(record)
    }

    pub async fn delete_record(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        id: &RecordId,
    ) -> Result<()> {
        let record = self.get_record(account, object_type, id).await?;
        let mut tx = self.store().begin().await?;
        tx.delete_record(account, &record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Upserts up to 1,000 records: matched on `id`, else on `id_property`
    /// (such as `email`), else created. All or nothing.
    pub async fn batch_upsert(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        inputs: Vec<BatchInput>,
        id_property: Option<String>,
    ) -> Result<Vec<Record>> {
        if inputs.is_empty() || inputs.len() > MAX_BATCH {
            return Err(EngineError::field(
                "inputs",
                format!("must hold 1 to {MAX_BATCH} records"),
            ));
        }
        let schema = self.schema(account, object_type).await?;
        let mut errors = BTreeMap::new();
        if let Some(p) = &id_property {
            if schema.get(p).is_none() {
                errors.insert("id_property".into(), format!("unknown property `{p}`"));
            }
        }
        let ids: Vec<RecordId> = inputs
            .iter()
            .filter_map(|i| i.id.as_deref().map(RecordId::from))
            .collect();
        let mut existing: HashMap<RecordId, Record> = self.records_by_id(account, &ids).await?;
        existing.retain(|_, r| r.object_type == object_type);
        let now = self.now();
        let mut writes: Vec<RecordWrite> = Vec::with_capacity(inputs.len());
        let mut seen: HashSet<RecordId> = HashSet::new();
        for (i, input) in inputs.into_iter().enumerate() {
            let prefix = format!("inputs[{i}].");
            let props = parse_properties(input.properties.as_ref(), &schema, &prefix, &mut errors);
            let assoc = parse_associations(input.associations.as_ref(), &prefix, &mut errors);
            if let Some(a) = &assoc {
                self.check_associations(account, a, &prefix, &mut errors)
                    .await?;
            }
            let mut previous = match &input.id {
                Some(id) => match existing.get(&RecordId::from(id.as_str())) {
                    Some(r) => Some(r.clone()),
                    None => {
                        errors.insert(format!("{prefix}id"), "no such record".into());
                        continue;
                    }
                },
                None => None,
            };
            if previous.is_none() {
                if let Some(p) = &id_property {
                    if let Some(v) =
                        props
                            .get(p.to_ascii_lowercase().as_str())
                            .and_then(|v| match v {
                                Value::String(s) => Some(s.clone()),
                                Value::Number(n) => Some(n.to_string()),
                                _ => None,
                            })
                    {
                        previous = self
                            .store()
                            .find_records_by_property(
                                account,
                                object_type,
                                &p.to_ascii_lowercase(),
                                &v,
                            )
                            .await?
                            .into_iter()
                            .next();
                    }
                }
            }
            let record = match &previous {
                Some(prev) => {
                    let mut r = prev.clone();
                    r.properties.extend(props);
                    if let Some(a) = assoc {
                        r.associations = a;
                    }
                    r.updated_at = now;
                    r
                }
                None => Record {
                    id: RecordId::generate(),
                    object_type,
                    properties: props,
                    associations: assoc.unwrap_or_default(),
                    created_at: now,
                    updated_at: now,
                },
            };
            if !seen.insert(record.id.clone()) {
                errors.insert(
                    format!("{prefix}id"),
                    "the same record appears twice in this batch".into(),
                );
                continue;
            }
            writes.push(RecordWrite { record, previous });
        }
        if !errors.is_empty() {
            return Err(EngineError::Validation { fields: errors });
        }
        let records = writes.iter().map(|w| w.record.clone()).collect();
        self.write_records(account, object_type, writes).await?;
        Ok(records)
    }

    async fn check_associations(
        &self,
        account: &AccountId,
        list: &[Association],
        prefix: &str,
        errors: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        if list.is_empty() {
            return Ok(());
        }
        let ids: Vec<RecordId> = list.iter().map(|a| a.id.clone()).collect();
        let found = self.store().get_records(account, &ids).await?;
        for (i, a) in list.iter().enumerate() {
            if !found
                .iter()
                .any(|r| r.id == a.id && r.object_type == a.object_type)
            {
                errors.insert(
                    format!("{prefix}associations[{i}]"),
                    format!("no {} with id {}", a.object_type, a.id),
                );
            }
        }
        Ok(())
    }

    /// Writes records and the enrollments their change causes, atomically.
    async fn write_records(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        writes: Vec<RecordWrite>,
    ) -> Result<()> {
        let enrollments = self.plan_enrollments(account, object_type, &writes).await?;
        let created: Vec<bool> = writes.iter().map(|w| w.previous.is_none()).collect();
        let records: Vec<Record> = writes.into_iter().map(|w| w.record).collect();
        // A record without a previous version was just given a new id, so
        // it has no phone index entries to replace.
        let (mut new_phones, mut changed_phones) = (Vec::new(), Vec::new());
        for (entry, created) in self
            .phone_index(account, object_type, &records)
            .await?
            .into_iter()
            .zip(created)
        {
            match created {
                true => new_phones.push(entry),
                false => changed_phones.push(entry),
            }
        }
        let mut tx = self.store().begin().await?;
        tx.upsert_records(account, &records).await?;
        tx.set_record_phones(account, &changed_phones).await?;
        tx.add_record_phones(account, &new_phones).await?;
        tx.insert_enrollments(&enrollments).await?;
        tx.commit().await?;
        self.metrics().enrollments.inc_by(enrollments.len() as u64);
        if !enrollments.is_empty() {
            self.wake();
        }
        Ok(())
    }

    /// The published workflows of this object type that can run now.
    pub(crate) async fn live_workflows(
        &self,
        account: &AccountId,
        object_type: ObjectType,
    ) -> Result<Vec<(smsflow_core::ids::WorkflowId, i64, Arc<ValidWorkflow>)>> {
        let mut out = Vec::new();
        for (id, revision) in self
            .store()
            .published_workflows(account, object_type)
            .await?
        {
            match self.compiled(account, &id, revision).await {
                Ok(wf) => out.push((id, revision, wf)),
                Err(e) => {
                    tracing::warn!(workflow = %id, revision, error = %e, "published workflow no longer validates; not enrolling")
                }
            }
        }
        Ok(out)
    }

    /// R23: which of these writes enroll into which published workflows.
    pub(crate) async fn plan_enrollments(
        &self,
        account: &AccountId,
        object_type: ObjectType,
        writes: &[RecordWrite],
    ) -> Result<Vec<NewEnrollment>> {
        let workflows = self.live_workflows(account, object_type).await?;
        if workflows.is_empty() || writes.is_empty() {
            return Ok(Vec::new());
        }
        let record_ids: Vec<RecordId> = writes
            .iter()
            .filter(|w| w.previous.is_some())
            .map(|w| w.record.id.clone())
            .collect();
        let existing = if record_ids.is_empty() {
            Vec::new()
        } else {
            self.store()
                .enrollments_of_records(account, &record_ids)
                .await?
        };
        let now = self.now();
        let mut out = Vec::new();
        for w in writes {
            let props = &w.record.properties;
            let before = w.previous.as_ref().map(|p| &p.properties);
            for (wf_id, revision, wf) in &workflows {
                let prior: Vec<_> = existing
                    .iter()
                    .filter(|(e_wf, rec, _)| e_wf == wf_id && *rec == w.record.id)
                    .collect();
                if enrolls(wf, props, before, prior.iter().map(|(_, _, s)| *s)) {
                    out.push(NewEnrollment {
                        id: EnrollmentId::generate(),
                        account_id: account.clone(),
                        workflow_id: wf_id.clone(),
                        revision: *revision,
                        record_id: w.record.id.clone(),
                        at: now,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The enrollment rule for one record and one workflow (R23): it matches
/// now, is not suppressed or meeting unenrollment criteria, is not running in
/// the workflow, and either was never enrolled and has just come to match,
/// or re-enrollment is on and one of its properties changed.
pub(crate) fn enrolls(
    wf: &ValidWorkflow,
    props: &Properties,
    before: Option<&Properties>,
    mut prior: impl Iterator<Item = smsflow_store::EnrollmentState> + Clone,
) -> bool {
    if !wf.enrollment.matches(props, before) {
        return false;
    }
    if (!wf.suppression.is_empty() && wf.suppression.matches(props, None))
        || (!wf.unenrollment.is_empty() && wf.unenrollment.matches(props, None))
    {
        return false;
    }
    if prior.clone().any(|s| s.is_running()) {
        return false;
    }
    if prior.next().is_none() {
        let was_matching = !is_event_like(&wf.enrollment)
            && before.is_some_and(|b| wf.enrollment.matches(b, None));
        return !was_matching;
    }
    wf.reenroll_on
        .iter()
        .any(|p| changed(p.as_str(), props, before))
}
