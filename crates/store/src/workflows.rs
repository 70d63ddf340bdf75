//! Workflows and their published revisions. A published revision is never
//! changed: editing makes a new draft revision, and running enrollments keep
//! the revision they started on (R22).

use crate::rows::{int, json, opt_int, parse, text, time, to_json};
use crate::{ms, Page, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, WorkflowId};
use smsflow_core::object::ObjectType;
use smsflow_core::workflow::WorkflowDefinition;
use sqlx::any::AnyRow;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkflowState {
    Draft,
    Published,
    Paused,
}

impl WorkflowState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowState::Draft => "draft",
            WorkflowState::Published => "published",
            WorkflowState::Paused => "paused",
        }
    }
}

impl fmt::Display for WorkflowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkflowState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "draft" => WorkflowState::Draft,
            "published" => WorkflowState::Published,
            "paused" => WorkflowState::Paused,
            other => return Err(format!("unknown workflow state `{other}`")),
        })
    }
}

#[derive(Debug, Clone)]
pub struct WorkflowRow {
    pub id: WorkflowId,
    pub name: String,
    pub object_type: ObjectType,
    pub state: WorkflowState,
    /// The revision of `definition` (the latest, possibly draft).
    pub revision: i64,
    pub published_revision: Option<i64>,
    pub definition: WorkflowDefinition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const WORKFLOW_COLUMNS: &str =
    "id, name, object_type, state, revision, published_revision, definition, created_at, updated_at";

fn workflow_row(r: &AnyRow) -> Result<WorkflowRow> {
    Ok(WorkflowRow {
        id: WorkflowId::from_string(text(r, "id")?),
        name: text(r, "name")?,
        object_type: parse(r, "object_type")?,
        state: parse(r, "state")?,
        revision: int(r, "revision")?,
        published_revision: opt_int(r, "published_revision")?,
        definition: json(r, "definition")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

impl Store {
    pub async fn insert_workflow(&self, account: &AccountId, w: &WorkflowRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO workflows (id, account_id, name, object_type, state, revision, published_revision, \
             definition, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9)",
        )
        .bind(w.id.as_str())
        .bind(account.as_str())
        .bind(&w.name)
        .bind(w.object_type.as_str())
        .bind(w.state.as_str())
        .bind(w.revision)
        .bind(to_json(&w.definition))
        .bind(ms(w.created_at))
        .bind(ms(w.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Saves a new definition. If the current revision is the published one,
    /// the edit becomes the next (draft) revision; the published revision
    /// keeps running unchanged.
    pub async fn save_workflow_definition(
        &self,
        account: &AccountId,
        id: &WorkflowId,
        name: &str,
        object_type: ObjectType,
        definition: &WorkflowDefinition,
        at: DateTime<Utc>,
    ) -> Result<WorkflowRow> {
        let done = sqlx::query(
            "UPDATE workflows SET name = $1, object_type = $2, definition = $3, updated_at = $4, \
             revision = CASE WHEN published_revision = revision THEN revision + 1 ELSE revision END \
             WHERE account_id = $5 AND id = $6",
        )
        .bind(name)
        .bind(object_type.as_str())
        .bind(to_json(definition))
        .bind(ms(at))
        .bind(account.as_str())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_workflow(account, id).await
    }

    pub async fn get_workflow(&self, account: &AccountId, id: &WorkflowId) -> Result<WorkflowRow> {
        let row = sqlx::query(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE account_id = $1 AND id = $2"
        ))
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        workflow_row(&row)
    }

    pub async fn list_workflows(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<WorkflowRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(account.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let list = rows.iter().map(workflow_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(list, limit, |w| w.id.to_string()))
    }

    /// Freezes the current definition as a published revision.
    pub async fn publish_workflow(
        &self,
        account: &AccountId,
        w: &WorkflowRow,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO workflow_revisions (workflow_id, revision, definition, published_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workflow_id, revision) DO NOTHING",
        )
        .bind(w.id.as_str())
        .bind(w.revision)
        .bind(to_json(&w.definition))
        .bind(ms(at))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE workflows SET state = 'published', published_revision = $1, updated_at = $2 \
             WHERE account_id = $3 AND id = $4",
        )
        .bind(w.revision)
        .bind(ms(at))
        .bind(account.as_str())
        .bind(w.id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_workflow_state(
        &self,
        account: &AccountId,
        id: &WorkflowId,
        state: WorkflowState,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE workflows SET state = $1, updated_at = $2 WHERE account_id = $3 AND id = $4",
        )
        .bind(state.as_str())
        .bind(ms(at))
        .bind(account.as_str())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// (id, published revision) of the account's published workflows for an
    /// object type: the ones that enroll records now.
    pub async fn published_workflows(
        &self,
        account: &AccountId,
        object_type: ObjectType,
    ) -> Result<Vec<(WorkflowId, i64)>> {
        let rows = sqlx::query(
            "SELECT id, published_revision FROM workflows WHERE account_id = $1 AND object_type = $2 \
             AND state = 'published' AND published_revision IS NOT NULL ORDER BY id",
        )
        .bind(account.as_str())
        .bind(object_type.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    WorkflowId::from_string(text(r, "id")?),
                    int(r, "published_revision")?,
                ))
            })
            .collect()
    }

    /// The state of a workflow, so paused workflows stop running.
    pub async fn workflow_state(&self, id: &WorkflowId) -> Result<WorkflowState> {
        let row = sqlx::query("SELECT state FROM workflows WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reads())
            .await?
            .ok_or(StoreError::NotFound)?;
        parse(&row, "state")
    }

    pub async fn workflow_revision(
        &self,
        id: &WorkflowId,
        revision: i64,
    ) -> Result<WorkflowDefinition> {
        let row = sqlx::query(
            "SELECT definition FROM workflow_revisions WHERE workflow_id = $1 AND revision = $2",
        )
        .bind(id.as_str())
        .bind(revision)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound)?;
        json(&row, "definition")
    }
}
