//! Validated workflow revisions, kept in memory. A published revision never
//! changes, so caching it by (workflow, revision) can never serve stale data.

use crate::error::{EngineError, Result};
use crate::Engine;
use smsflow_core::ids::{AccountId, UserId, WorkflowId};
use smsflow_core::object::{ObjectType, PropertySchema};
use smsflow_core::workflow::{NumberFacts, ValidWorkflow, ValidationContext, WorkflowDefinition};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub(crate) struct Cache {
    map: Mutex<HashMap<(WorkflowId, i64), Arc<ValidWorkflow>>>,
}

impl Cache {
    fn get(&self, key: &(WorkflowId, i64)) -> Option<Arc<ValidWorkflow>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    fn put(&self, key: (WorkflowId, i64), wf: Arc<ValidWorkflow>) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).insert(key, wf);
    }
}

/// Everything validation needs to know about an account, loaded at once.
pub(crate) struct AccountFacts {
    pub sms_enabled: bool,
    pub schemas: HashMap<ObjectType, PropertySchema>,
    pub numbers: Vec<NumberFacts>,
    pub users: Vec<UserId>,
    pub subscription_types: Vec<smsflow_core::ids::SubscriptionTypeId>,
}

impl Engine {
    pub(crate) async fn account_facts(&self, account: &AccountId) -> Result<AccountFacts> {
        let settings = self.get_account(account).await?.settings;
        let mut schemas = HashMap::new();
        for t in ObjectType::ALL {
            schemas.insert(t, self.schema(account, t).await?);
        }
        let numbers = self
            .store()
            .list_numbers(account)
            .await?
            .into_iter()
            .map(|n| NumberFacts { id: n.id, sms_capable: n.sms, linked_users: n.user_ids })
            .collect();
        let users = self.store().user_ids(account).await?;
        let subscription_types = self.store().list_subscription_types(account).await?.into_iter().map(|t| t.id).collect();
        Ok(AccountFacts { sms_enabled: settings.entitlements.sms, schemas, numbers, users, subscription_types })
    }

    pub(crate) fn validate_with(facts: &AccountFacts, def: &WorkflowDefinition) -> Result<ValidWorkflow> {
        let schema = |t: ObjectType| facts.schemas.get(&t).cloned().unwrap_or_else(|| PropertySchema::new(t, []));
        let ctx = ValidationContext {
            sms_enabled: facts.sms_enabled,
            schema: &schema,
            numbers: &facts.numbers,
            users: &facts.users,
            subscription_types: &facts.subscription_types,
            published_sms_messages: &[],
        };
        def.validate(&ctx).map_err(|e| EngineError::Validation { fields: e.fields })
    }

    /// The runnable form of a published revision. A revision that no longer
    /// validates (its number was removed, say) is reported, not run.
    pub(crate) async fn compiled(&self, account: &AccountId, id: &WorkflowId, revision: i64) -> Result<Arc<ValidWorkflow>> {
        let key = (id.clone(), revision);
        if let Some(wf) = self.inner.compiled.get(&key) {
            return Ok(wf);
        }
        let def = self.store().workflow_revision(id, revision).await.map_err(EngineError::not_found("workflow revision"))?;
        let facts = self.account_facts(account).await?;
        let wf = Arc::new(Self::validate_with(&facts, &def)?);
        self.inner.compiled.put(key, wf.clone());
        Ok(wf)
    }
}
