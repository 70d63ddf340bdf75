//! Workflow definitions (DESIGN §5), their validation (R4, R5, R20) and the
//! validated, flattened form the engine runs. INTERFACE — implementation in progress.

use crate::filter::{ConditionInput, FilterGroups};
use crate::ids::{NumberId, SmsMessageId, SubscriptionTypeId, UserId};
use crate::object::{ObjectType, PropertyName, PropertySchema};
use crate::template::Template;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const MAX_BODY_CHARS: usize = 1600;

/// A workflow as a user writes it. Everything optional is optional so that
/// validation, not deserialisation, reports missing fields — all at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDefinition {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub object_type: Option<String>,
    #[serde(default)]
    pub enrollment: EnrollmentInput,
    #[serde(default)]
    pub suppression: Vec<Vec<ConditionInput>>,
    #[serde(default)]
    pub unenrollment: Vec<Vec<ConditionInput>>,
    #[serde(default)]
    pub actions: Vec<ActionInput>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentInput {
    #[serde(default)]
    pub filters: Vec<Vec<ConditionInput>>,
    /// Properties whose change lets a record that matches again enroll again.
    /// Empty: re-enrollment off.
    #[serde(default)]
    pub reenroll_on: Vec<String>,
}

/// One action as written. `type` selects which fields apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ActionInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    // send_sms
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_number_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_type_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_encoding: Option<bool>,
    // delay
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    // branch
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Vec<Vec<ConditionInput>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<Vec<ActionInput>>,
    #[serde(rename = "else", default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<Vec<ActionInput>>,
    // set_property
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    // manage_subscription
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// What validation needs to know about the account.
pub struct ValidationContext<'a> {
    pub sms_enabled: bool,
    /// Schema per object type (built-in plus the account's own properties).
    pub schema: &'a dyn Fn(ObjectType) -> PropertySchema,
    pub numbers: &'a [NumberFacts],
    pub users: &'a [UserId],
    pub subscription_types: &'a [SubscriptionTypeId],
    pub published_sms_messages: &'a [PublishedSmsMessage],
}

#[derive(Clone, Debug)]
pub struct NumberFacts {
    pub id: NumberId,
    pub sms_capable: bool,
    pub linked_users: Vec<UserId>,
}

#[derive(Clone, Debug)]
pub struct PublishedSmsMessage {
    pub id: SmsMessageId,
    pub from_number_id: NumberId,
    pub body: String,
    pub subscription_type_id: Option<SubscriptionTypeId>,
}

/// Every problem found, keyed by field path (`name`, `actions[0].body`,
/// `actions[2].then[0].from_number_id`, `enrollment.filters[0][1].op`).
#[derive(Clone, Debug, PartialEq, Eq, Default, thiserror::Error)]
#[error("workflow is invalid: {fields:?}")]
pub struct ValidationErrors {
    pub fields: BTreeMap<String, String>,
}

/// Where a send step finds its recipient (R4, R6).
#[derive(Clone, Debug, PartialEq)]
pub enum PropertyRef {
    /// A property of the enrolled record.
    Own(PropertyName),
    /// A property of the enrolled record's primary associated contact.
    Contact(PropertyName),
}

#[derive(Clone)]
pub struct SendSmsStep {
    pub action_id: String,
    pub from_number_id: NumberId,
    /// None when the published message form is used and… never: the
    /// published form resolves to a sender at send time? No — see validation.
    pub sender_user_id: Option<UserId>,
    pub recipient: PropertyRef,
    pub fallback: Option<PropertyRef>,
    pub body: Arc<Template>,
    pub subscription_type_id: Option<SubscriptionTypeId>,
    pub sms_message_id: Option<SmsMessageId>,
    pub smart_encoding: bool,
}

/// One instruction of the flattened action list. Branches become a
/// conditional jump, so an enrollment's position is a single index.
#[derive(Clone)]
pub enum Step {
    SendSms(Box<SendSmsStep>),
    Delay { action_id: String, duration: chrono::Duration },
    /// Falls through to the `then` steps when the condition matches, else
    /// jumps to `else_at`.
    Branch { action_id: String, condition: FilterGroups, else_at: usize },
    Jump { to: usize },
    SetProperty { action_id: String, property: PropertyName, value: Value },
    ManageSubscription(Box<ManageSubscriptionStep>),
}

#[derive(Clone, Debug)]
pub struct ManageSubscriptionStep {
    pub action_id: String,
    pub subscribe: bool,
    pub subscription_type_id: SubscriptionTypeId,
    pub legal_basis: String,
    pub explanation: String,
}

/// A workflow that passed validation. Only this type can be published or run.
#[derive(Clone)]
pub struct ValidWorkflow {
    pub name: String,
    pub object_type: ObjectType,
    pub enrollment: FilterGroups,
    pub reenroll_on: Vec<PropertyName>,
    pub suppression: FilterGroups,
    pub unenrollment: FilterGroups,
    pub program: Vec<Step>,
}

impl WorkflowDefinition {
    pub fn validate(&self, ctx: &ValidationContext<'_>) -> Result<ValidWorkflow, ValidationErrors> {
        let _ = ctx;
        unimplemented!()
    }
}

/// Parses `30s`, `15m`, `2h`, `2d`, `1w`, and sums like `1h30m`.
pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let _ = s;
    unimplemented!()
}
