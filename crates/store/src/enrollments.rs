//! Enrollments: a record inside one workflow revision, with its position and
//! when it is next due. Due work is leased so that a node that dies lets go
//! of it when the lease runs out.

use crate::records::placeholders;
use crate::rows::{int, opt_text, opt_time, parse, text, time, Columns};
use crate::{Claim, Page, Result, Store};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, EnrollmentId, RecordId, WorkflowId};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrollmentState {
    Active,
    Waiting,
    Completed,
    Failed,
    Unenrolled,
}

impl EnrollmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentState::Active => "active",
            EnrollmentState::Waiting => "waiting",
            EnrollmentState::Completed => "completed",
            EnrollmentState::Failed => "failed",
            EnrollmentState::Unenrolled => "unenrolled",
        }
    }

    pub fn is_running(self) -> bool {
        matches!(self, EnrollmentState::Active | EnrollmentState::Waiting)
    }
}

impl fmt::Display for EnrollmentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EnrollmentState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "active" => EnrollmentState::Active,
            "waiting" => EnrollmentState::Waiting,
            "completed" => EnrollmentState::Completed,
            "failed" => EnrollmentState::Failed,
            "unenrolled" => EnrollmentState::Unenrolled,
            other => return Err(format!("unknown enrollment state `{other}`")),
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewEnrollment {
    pub id: EnrollmentId,
    pub account_id: AccountId,
    pub workflow_id: WorkflowId,
    pub revision: i64,
    pub record_id: RecordId,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct EnrollmentRow {
    pub id: EnrollmentId,
    pub workflow_id: WorkflowId,
    pub revision: i64,
    pub record_id: RecordId,
    pub state: EnrollmentState,
    pub step: i64,
    pub due_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A due enrollment this node now holds a lease on.
#[derive(Debug, Clone)]
pub struct ClaimedEnrollment {
    pub account_id: AccountId,
    pub row: EnrollmentRow,
}

const ENROLLMENT_COLUMNS: &str =
    "id, account_id, workflow_id, revision, record_id, state, step, due_at, attempts, last_error, created_at, updated_at";

fn enrollment_row(r: &(impl Columns + ?Sized)) -> Result<EnrollmentRow> {
    Ok(EnrollmentRow {
        id: EnrollmentId::from_string(text(r, "id")?),
        workflow_id: WorkflowId::from_string(text(r, "workflow_id")?),
        revision: int(r, "revision")?,
        record_id: RecordId::from_string(text(r, "record_id")?),
        state: parse(r, "state")?,
        step: int(r, "step")?,
        due_at: opt_time(r, "due_at")?,
        attempts: int(r, "attempts")?,
        last_error: opt_text(r, "last_error")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

impl Store {
    /// (workflow, record, state) of every enrollment of these records.
    pub async fn enrollments_of_records(
        &self,
        account: &AccountId,
        records: &[RecordId],
    ) -> Result<Vec<(WorkflowId, RecordId, EnrollmentState)>> {
        let mut out = Vec::new();
        for chunk in records.chunks(500) {
            let sql = format!(
                "SELECT workflow_id, record_id, state FROM enrollments WHERE account_id = $1 AND record_id IN ({})",
                placeholders(2, chunk.len())
            );
            let sql = self.backend.positional(&sql);
            let mut q = sqlx::query(&sql).bind(account.as_str());
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(self.reads()).await? {
                out.push((
                    WorkflowId::from_string(text(&r, "workflow_id")?),
                    RecordId::from_string(text(&r, "record_id")?),
                    parse(&r, "state")?,
                ));
            }
        }
        Ok(out)
    }

    /// Leases up to `limit` due enrollments to `owner` until `lease_until`.
    /// Work whose lease ran out (its node died) is due again.
    pub async fn claim_due_enrollments(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedEnrollment>> {
        let claim = Claim {
            table: "enrollments",
            columns: ENROLLMENT_COLUMNS,
            status: None,
        };
        self.claim_due(&claim, owner, now, lease_until, limit, |r| {
            Ok(ClaimedEnrollment {
                account_id: AccountId::from_string(text(r, "account_id")?),
                row: enrollment_row(r)?,
            })
        })
        .await
    }

    /// The earliest time any enrollment or outbox message is due, so an idle
    /// worker knows how long it may sleep.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "SELECT MIN(t) AS t FROM (SELECT MIN(due_at) AS t FROM enrollments \
             UNION ALL SELECT MIN(due_at) AS t FROM messages WHERE status = 'queued') due",
        )
        .fetch_one(&self.pool)
        .await?;
        opt_time(&row, "t")
    }

    /// Whether any record was ever enrolled in `workflow` (and not yet
    /// deleted with it): a dry run of a draft that never ran needs no
    /// per-record enrollment lookups.
    pub async fn has_enrollments(
        &self,
        account: &AccountId,
        workflow: &WorkflowId,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM enrollments \
             WHERE workflow_id = $1 AND account_id = $2 LIMIT 1) e",
        )
        .bind(workflow.as_str())
        .bind(account.as_str())
        .fetch_one(self.reads())
        .await?;
        Ok(int(&row, "n")? > 0)
    }

    pub async fn list_enrollments(
        &self,
        account: &AccountId,
        workflow: &WorkflowId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<EnrollmentRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE account_id = $1 AND workflow_id = $2 AND id > $3 \
             ORDER BY id LIMIT $4"
        ))
        .bind(account.as_str())
        .bind(workflow.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let list = rows
            .iter()
            .map(enrollment_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(list, limit, |e| e.id.to_string()))
    }
}
