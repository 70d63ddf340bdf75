//! Read-only lookups of the workflow dry run (R24): a page of records at a
//! time, each answered by one query instead of one per record.

use crate::records::placeholders;
use crate::rows::{parse, text};
use crate::{EnrollmentState, Result, Store};
use smsflow_core::consent::ConsentStatus;
use smsflow_core::ids::{AccountId, RecordId, WorkflowId};
use smsflow_core::phone::E164;

/// Values bound per query; both backends accept far more placeholders.
const CHUNK: usize = 5000;

impl Store {
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
            for r in q.fetch_all(&self.pool).await? {
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
            for r in q.fetch_all(&self.pool).await? {
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
