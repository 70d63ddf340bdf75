//! Read-only lookups of the workflow dry run (R24): a page of records at a
//! time, each answered by one query instead of one per record.

use crate::records::placeholders;
use crate::rows::{parse, text};
use crate::{EnrollmentState, Result, Store};
use smsflow_core::consent::ConsentStatus;
use smsflow_core::ids::{AccountId, RecordId, WorkflowId};
use smsflow_core::phone::{Line, LineKind, E164};
use sqlx::Row;

/// Values bound per query; both backends accept far more placeholders.
const CHUNK: usize = 5000;

impl Store {
    /// The phones of these records' index that were stored with their line
    /// (validated by [`E164::parse`] when the record was written), so the
    /// dry run can take a recipient that is already in E.164 form without
    /// parsing it again.
    pub async fn validated_phones(
        &self,
        account: &AccountId,
        records: &[RecordId],
    ) -> Result<Vec<E164>> {
        let mut out = Vec::new();
        for chunk in records.chunks(CHUNK) {
            let sql = format!(
                "SELECT phone, line_kind, calling_code FROM record_phones \
                 WHERE {} = $1 AND record_id IN ({}) AND line_kind IS NOT NULL",
                self.backend.filter_only("account_id"),
                placeholders(2, chunk.len())
            );
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql).bind(account.as_str());
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(self.reads()).await? {
                let kind = LineKind::parse(&text(&r, "line_kind")?);
                let code: Option<i64> = r.try_get("calling_code")?;
                let code = code.and_then(|c| u16::try_from(c).ok());
                if let (Some(kind), Some(calling_code)) = (kind, code) {
                    out.push(E164::from_trusted_with_line(
                        text(&r, "phone")?,
                        Line { calling_code, kind },
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The states of the enrollments of these records in one workflow.
    pub async fn enrollment_states_in_workflow(
        &self,
        account: &AccountId,
        workflow: &WorkflowId,
        records: &[RecordId],
    ) -> Result<Vec<(RecordId, EnrollmentState)>> {
        let mut out = Vec::new();
        for chunk in records.chunks(CHUNK) {
            let sql = format!(
                "SELECT record_id, state FROM enrollments WHERE account_id = $1 AND workflow_id = $2 AND record_id IN ({})",
                placeholders(3, chunk.len())
            );
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql)
                .bind(account.as_str())
                .bind(workflow.as_str());
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(self.reads()).await? {
                out.push((
                    RecordId::from_string(text(&r, "record_id")?),
                    parse(&r, "state")?,
                ));
            }
        }
        Ok(out)
    }

    /// (phone, subscription type, status) of every consent row of these
    /// phones, `*` included.
    pub async fn consent_statuses(
        &self,
        account: &AccountId,
        phones: &[E164],
    ) -> Result<Vec<(E164, String, ConsentStatus)>> {
        let mut out = Vec::new();
        for chunk in phones.chunks(CHUNK) {
            let sql = format!(
                "SELECT phone, subscription_type_id, status FROM consents WHERE account_id = $1 AND phone IN ({})",
                placeholders(2, chunk.len())
            );
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql).bind(account.as_str());
            for p in chunk {
                q = q.bind(p.as_str());
            }
            for r in q.fetch_all(self.reads()).await? {
                out.push((
                    E164::from_trusted(text(&r, "phone")?),
                    text(&r, "subscription_type_id")?,
                    parse(&r, "status")?,
                ));
            }
        }
        Ok(out)
    }
}
