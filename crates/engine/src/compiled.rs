//! Validated workflow revisions, kept in memory. A published revision never
//! changes, so caching it by (workflow, revision) is safe — except for the
//! published SMS messages it sends: a workflow sends a message's current
//! published revision, so entries that use messages also remember the
//! account's message version and are rebuilt when a message is published
//! again (on every node, since the version is read from the database).

use crate::error::{EngineError, Result};
use crate::Engine;
use smsflow_core::ids::{AccountId, UserId, WorkflowId};
use smsflow_core::object::{ObjectType, PropertySchema};
use smsflow_core::workflow::{
    NumberFacts, Step, ValidWorkflow, ValidationContext, WorkflowDefinition,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A compiled revision and, when it sends published SMS messages, the
/// message version it was compiled against.
type Entry = (Arc<ValidWorkflow>, Option<i64>);

#[derive(Default)]
pub(crate) struct Cache {
    map: Mutex<HashMap<(WorkflowId, i64), Entry>>,
}

impl Cache {
    fn get(&self, key: &(WorkflowId, i64)) -> Option<Entry> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn put(&self, key: (WorkflowId, i64), entry: Entry) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, entry);
    }
}

fn uses_sms_messages(wf: &ValidWorkflow) -> bool {
    wf.program
        .iter()
        .any(|s| matches!(s, Step::SendSms(send) if send.sms_message_id.is_some()))
}

/// Everything validation needs to know about an account, loaded at once.
pub(crate) struct AccountFacts {
    pub sms_enabled: bool,
    pub schemas: HashMap<ObjectType, PropertySchema>,
    pub numbers: Vec<NumberFacts>,
    pub users: Vec<UserId>,
    pub subscription_types: Vec<smsflow_core::ids::SubscriptionTypeId>,
    pub published_sms_messages: Vec<smsflow_core::workflow::PublishedSmsMessage>,
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
            .map(|n| NumberFacts {
                id: n.id,
                sms_capable: n.sms,
                linked_users: n.user_ids,
            })
            .collect();
        let users = self.store().user_ids(account).await?;
        let subscription_types = self
            .store()
            .list_subscription_types(account)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        let published_sms_messages = self.published_sms_message_facts(account).await?;
        Ok(AccountFacts {
            sms_enabled: settings.entitlements.sms,
            schemas,
            numbers,
            users,
            subscription_types,
            published_sms_messages,
        })
    }

    pub(crate) fn validate_with(
        facts: &AccountFacts,
        def: &WorkflowDefinition,
    ) -> Result<ValidWorkflow> {
        let schema = |t: ObjectType| {
            facts
                .schemas
                .get(&t)
                .cloned()
                .unwrap_or_else(|| PropertySchema::new(t, []))
        };
        let ctx = ValidationContext {
            sms_enabled: facts.sms_enabled,
            schema: &schema,
            numbers: &facts.numbers,
            users: &facts.users,
            subscription_types: &facts.subscription_types,
            published_sms_messages: &facts.published_sms_messages,
        };
        def.validate(&ctx)
            .map_err(|e| EngineError::Validation { fields: e.fields })
    }

    /// The runnable form of a published revision. A revision that no longer
    /// validates (its number was removed, say) is reported, not run.
    pub(crate) async fn compiled(
        &self,
        account: &AccountId,
        id: &WorkflowId,
        revision: i64,
    ) -> Result<Arc<ValidWorkflow>> {
        let key = (id.clone(), revision);
        let mut version = None;
        if let Some((wf, used)) = self.inner.compiled.get(&key) {
            match used {
                None => return Ok(wf),
                Some(v) => {
                    let now = self.store().sms_message_version(account).await?;
                    if now == v {
                        return Ok(wf);
                    }
                    version = Some(now);
                }
            }
        }
        let def = self
            .store()
            .workflow_revision(id, revision)
            .await
            .map_err(EngineError::not_found("workflow revision"))?;
        let facts = self.account_facts(account).await?;
        let wf = Arc::new(Self::validate_with(&facts, &def)?);
        let used = if uses_sms_messages(&wf) {
            match version {
                Some(v) => Some(v),
                None => Some(self.store().sms_message_version(account).await?),
            }
        } else {
            None
        };
        self.inner.compiled.put(key, (wf.clone(), used));
        Ok(wf)
    }
}
