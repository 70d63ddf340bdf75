//! Workflows: save (always fully validated, R5), publish (R22, R23 with
//! `enroll_existing`), pause, and what they did: enrollments and action logs.

use crate::error::{EngineError, Result};
use crate::records::enrolls;
use crate::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;
use smsflow_core::ids::{AccountId, EnrollmentId, WorkflowId};
use smsflow_core::workflow::{ActionInput, ValidWorkflow, WorkflowDefinition};
use smsflow_store::{
    ActionLogFilter, ActionLogRow, EnrollmentRow, NewEnrollment, Page, WorkflowRow, WorkflowState,
};

/// A workflow as the API shows it.
pub type WorkflowView = WorkflowRow;

fn sends_sms(actions: &[ActionInput]) -> bool {
    actions.iter().any(|a| {
        a.kind.as_deref() == Some("send_sms")
            || a.then.as_deref().is_some_and(sends_sms)
            || a.otherwise.as_deref().is_some_and(sends_sms)
    })
}

/// Turns a JSON body into a definition, naming the field serde stumbled on.
pub fn parse_definition(body: Value) -> Result<WorkflowDefinition> {
    serde_json::from_value::<WorkflowDefinition>(body).map_err(|e| {
        let msg = e.to_string();
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field"))
            .unwrap_or("body")
            .to_string();
        EngineError::field(field, msg)
    })
}

impl Engine {
    /// Validates against the account as it is now (R5). An SMS workflow in
    /// an account without the entitlement is refused outright (R1).
    pub async fn validate_workflow(
        &self,
        account: &AccountId,
        def: &WorkflowDefinition,
    ) -> Result<ValidWorkflow> {
        let facts = self.account_facts(account).await?;
        if !facts.sms_enabled && sends_sms(&def.actions) {
            return Err(EngineError::SmsNotEnabled);
        }
        Self::validate_with(&facts, def)
    }

    pub async fn create_workflow(
        &self,
        account: &AccountId,
        def: WorkflowDefinition,
    ) -> Result<WorkflowView> {
        let valid = self.validate_workflow(account, &def).await?;
        let now = self.now();
        let row = WorkflowRow {
            id: WorkflowId::generate(),
            name: valid.name.clone(),
            object_type: valid.object_type,
            state: WorkflowState::Draft,
            revision: 1,
            published_revision: None,
            definition: def,
            created_at: now,
            updated_at: now,
        };
        self.store().insert_workflow(account, &row).await?;
        Ok(row)
    }

    /// Editing a published workflow makes a new draft revision; the
    /// published one keeps running until this one is published.
    pub async fn update_workflow(
        &self,
        account: &AccountId,
        id: &WorkflowId,
        def: WorkflowDefinition,
    ) -> Result<WorkflowView> {
        self.get_workflow(account, id).await?;
        let valid = self.validate_workflow(account, &def).await?;
        Ok(self
            .store()
            .save_workflow_definition(
                account,
                id,
                &valid.name,
                valid.object_type,
                &def,
                self.now(),
            )
            .await?)
    }

    pub async fn get_workflow(&self, account: &AccountId, id: &WorkflowId) -> Result<WorkflowView> {
        self.store()
            .get_workflow(account, id)
            .await
            .map_err(EngineError::not_found("workflow"))
    }

    pub async fn list_workflows(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<WorkflowView>> {
        Ok(self.store().list_workflows(account, after, limit).await?)
    }

    /// Publishes the current revision; with `enroll_existing`, records that
    /// match now are enrolled (R23). Returns the workflow and how many
    /// existing records were enrolled.
    pub async fn publish_workflow(
        &self,
        account: &AccountId,
        id: &WorkflowId,
        enroll_existing: bool,
    ) -> Result<(WorkflowView, usize)> {
        let wf = self.get_workflow(account, id).await?;
        let valid = self.validate_workflow(account, &wf.definition).await?;
        let now = self.now();
        self.store().publish_workflow(account, &wf, now).await?;
        let enrolled = if enroll_existing {
            self.enroll_existing(account, &wf.id, wf.revision, &valid, now)
                .await?
        } else {
            0
        };
        self.wake();
        Ok((self.get_workflow(account, id).await?, enrolled))
    }

    async fn enroll_existing(
        &self,
        account: &AccountId,
        id: &WorkflowId,
        revision: i64,
        wf: &ValidWorkflow,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut after: Option<String> = None;
        let mut total = 0;
        loop {
            let page = self
                .store()
                .list_records(account, wf.object_type, after.as_deref(), 1000)
                .await?;
            let ids: Vec<_> = page.results.iter().map(|r| r.id.clone()).collect();
            let existing = self.store().enrollments_of_records(account, &ids).await?;
            let new: Vec<NewEnrollment> = page
                .results
                .iter()
                .filter(|r| {
                    let prior = existing
                        .iter()
                        .filter(|(w, rec, _)| w == id && *rec == r.id)
                        .map(|(_, _, s)| *s);
                    enrolls(wf, &r.properties, None, prior)
                })
                .map(|r| NewEnrollment {
                    id: EnrollmentId::generate(),
                    account_id: account.clone(),
                    workflow_id: id.clone(),
                    revision,
                    record_id: r.id.clone(),
                    at: now,
                })
                .collect();
            if !new.is_empty() {
                let mut tx = self.store().begin().await?;
                tx.insert_enrollments(&new).await?;
                tx.commit().await?;
                self.metrics().enrollments.inc_by(new.len() as u64);
                total += new.len();
                self.wake();
            }
            match page.next_cursor {
                Some(c) => after = Some(c),
                None => return Ok(total),
            }
        }
    }

    /// Stops enrolling and running; enrollments resume where they were when
    /// the workflow is published again.
    pub async fn pause_workflow(
        &self,
        account: &AccountId,
        id: &WorkflowId,
    ) -> Result<WorkflowView> {
        let wf = self.get_workflow(account, id).await?;
        if wf.published_revision.is_none() {
            return Err(EngineError::Conflict(
                "only a published workflow can be paused".into(),
            ));
        }
        self.store()
            .set_workflow_state(account, id, WorkflowState::Paused, self.now())
            .await?;
        self.get_workflow(account, id).await
    }

    pub async fn list_enrollments(
        &self,
        account: &AccountId,
        id: &WorkflowId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<EnrollmentRow>> {
        self.get_workflow(account, id).await?;
        Ok(self
            .store()
            .list_enrollments(account, id, after, limit)
            .await?)
    }

    pub async fn list_action_logs(
        &self,
        account: &AccountId,
        id: &WorkflowId,
        filter: &ActionLogFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<ActionLogRow>> {
        self.get_workflow(account, id).await?;
        Ok(self
            .store()
            .list_action_logs(account, id, filter, after, limit)
            .await?)
    }
}
