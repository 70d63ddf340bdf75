//! Workflow definitions (DESIGN §5), their validation (R1, R2, R4, R5, R20)
//! and the validated, flattened form the engine runs.
//!
//! [`WorkflowDefinition`] is what a user writes; everything in it is optional
//! so that [`WorkflowDefinition::validate`] — not deserialisation — reports
//! every problem at once, keyed by field path (R5). Only a [`ValidWorkflow`]
//! can be published or run: its actions are flattened into a program of
//! [`Step`]s where a branch is a conditional jump, so an enrollment's position
//! is one index, and every template is parsed once.

use crate::account::SMS_NOT_ENABLED;
use crate::filter::{ConditionInput, FilterGroups};
use crate::ids::{NumberId, SmsMessageId, SubscriptionTypeId, UserId};
use crate::object::{ObjectType, PropertyName, PropertySchema, PropertyType};
use crate::template::{Template, TokenRef};
use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use utoipa::ToSchema;

pub const MAX_BODY_CHARS: usize = 1600;

/// A workflow as a user writes it. Everything optional is optional so that
/// validation, not deserialisation, reports missing fields — all at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default, ToSchema)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentInput {
    #[serde(default)]
    pub filters: Vec<Vec<ConditionInput>>,
    /// Properties whose change lets a record that matches again enroll again.
    /// Empty: re-enrollment off.
    #[serde(default)]
    pub reenroll_on: Vec<String>,
    /// Event trigger: enroll the contacts whose phone sends an SMS to one of
    /// the account's numbers — any SMS, or only this keyword (R17: a
    /// workflow can react to STOP, as the seed suggests for opt-outs).
    /// Contact workflows only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_sms: Option<InboundSmsTrigger>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundSmsTrigger {
    /// Whole-message keyword, matched like the keyword families (trimmed,
    /// any case). None: every inbound SMS.
    #[serde(default)]
    pub keyword: Option<String>,
}

/// One action as written. `type` selects which fields apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default, ToSchema)]
pub struct ActionInput {
    /// Unique in the workflow; action logs name it.
    #[serde(default)]
    pub id: Option<String>,
    /// What the action does; it selects which other fields apply.
    #[serde(rename = "type", default)]
    #[schema(value_type = Option<ActionType>)]
    pub kind: Option<String>,
    // send_sms
    /// send_sms: the sending number (R2: SMS-capable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_number_id: Option<String>,
    /// send_sms: the user it is sent on behalf of (R3: linked to the
    /// number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_user_id: Option<String>,
    /// send_sms: a phone-number property of the record (R6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_property: Option<String>,
    /// send_sms: used when the recipient property is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_property: Option<String>,
    /// send_sms: the template, 1–1600 characters, with `{{ object.property }}`
    /// tokens (R7). Or give `sms_message_id` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// send_sms (inline body) and manage_subscription: the subscription
    /// type the message is sent under or changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_type_id: Option<String>,
    /// send_sms: a published reusable SMS message instead of an inline body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_message_id: Option<String>,
    /// send_sms: replace look-alike characters to stay in GSM-7 (R8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_encoding: Option<bool>,
    // delay
    /// delay: e.g. `30m`, `2h`, `1d` or ISO 8601 (`PT2H`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    // branch
    /// branch: filter groups (OR of AND-groups) on the record.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Vec<Vec<ConditionInput>>>,
    /// branch: the actions when the condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub then: Option<Vec<ActionInput>>,
    /// branch: the actions otherwise.
    #[serde(rename = "else", default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub otherwise: Option<Vec<ActionInput>>,
    // set_property
    /// set_property: the property to set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// set_property: the new value; `null` clears the property.
    // `Some(Value::Null)` when written as `null`; None when absent.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<Value>,
    // manage_subscription
    /// manage_subscription: `sms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// manage_subscription: `subscribed` or `unsubscribed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// manage_subscription: required when subscribing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// manage_subscription: why, kept in the consent ledger.
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
    /// Always Some for the inline form (R4). In the published-message form
    /// the sender is optional; None leaves the choice to the engine.
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
    Delay {
        action_id: String,
        duration: chrono::Duration,
    },
    /// Falls through to the `then` steps when the condition matches, else
    /// jumps to `else_at`.
    Branch {
        action_id: String,
        condition: FilterGroups,
        else_at: usize,
    },
    Jump {
        to: usize,
    },
    SetProperty {
        action_id: String,
        property: PropertyName,
        value: Value,
    },
    ManageSubscription(Box<ManageSubscriptionStep>),
}

#[derive(Clone, Debug)]
pub struct ManageSubscriptionStep {
    pub action_id: String,
    /// true: `subscribed`; false: `unsubscribed`.
    pub subscribe: bool,
    pub subscription_type_id: SubscriptionTypeId,
    /// One of the R20 legal bases, lowercase; empty when an unsubscription
    /// gave none (subscribing always has one).
    pub legal_basis: String,
    /// The wording shown to the person; empty when an unsubscription gave
    /// none (subscribing always has one).
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
    /// Enroll on inbound SMS: Some(None) for any message, Some(Some(k)) for
    /// keyword `k` (in `keywords::keyword_form`).
    pub inbound_sms: Option<Option<String>>,
    pub program: Vec<Step>,
}

/// Keeps an explicit `null` as `Some(Value::Null)`; serde's default for
/// `Option<Value>` would fold it into None (absent).
fn present_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The longest a delay may wait.
const MAX_DELAY_DAYS: i64 = 365;
const MAX_NAME_CHARS: usize = 200;

const LEGAL_BASES: [&str; 7] = [
    "legitimate_interest_pql",
    "legitimate_interest_client",
    "legitimate_interest_other",
    "performance_of_contract",
    "consent_with_notice",
    "non_gdpr",
    "process_and_store",
];

const ACTION_TYPES: [&str; 5] = [
    "send_sms",
    "delay",
    "branch",
    "set_property",
    "manage_subscription",
];

/// An action's `type` as the API describes it: one of [`ACTION_TYPES`].
pub struct ActionType;

impl utoipa::PartialSchema for ActionType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(ACTION_TYPES))
            .into()
    }
}

impl utoipa::ToSchema for ActionType {}

/// Fields of [`ActionInput`] each action type accepts (besides `id`, `type`).
fn allowed_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "send_sms" => &[
            "from_number_id",
            "sender_user_id",
            "recipient_property",
            "fallback_property",
            "body",
            "subscription_type_id",
            "sms_message_id",
            "smart_encoding",
        ],
        "delay" => &["duration"],
        "branch" => &["if", "then", "else"],
        "set_property" => &["property", "value"],
        "manage_subscription" => &[
            "subscription_type_id",
            "channel",
            "status",
            "legal_basis",
            "explanation",
        ],
        _ => &[],
    }
}

/// A string field that holds something; blank counts as absent, since forms
/// send empty inputs as `""`.
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ActionInput {
    /// The names of the type-specific fields that are set to something.
    fn set_fields(&self) -> Vec<&'static str> {
        let strings = [
            ("from_number_id", &self.from_number_id),
            ("sender_user_id", &self.sender_user_id),
            ("recipient_property", &self.recipient_property),
            ("fallback_property", &self.fallback_property),
            ("body", &self.body),
            ("subscription_type_id", &self.subscription_type_id),
            ("sms_message_id", &self.sms_message_id),
            ("duration", &self.duration),
            ("property", &self.property),
            ("channel", &self.channel),
            ("status", &self.status),
            ("legal_basis", &self.legal_basis),
            ("explanation", &self.explanation),
        ];
        let mut set: Vec<&'static str> = strings
            .into_iter()
            .filter(|(_, v)| given(v).is_some())
            .map(|(k, _)| k)
            .collect();
        if self.smart_encoding == Some(true) {
            set.push("smart_encoding");
        }
        if self.condition.as_ref().is_some_and(|c| !c.is_empty()) {
            set.push("if");
        }
        if self.then.as_ref().is_some_and(|c| !c.is_empty()) {
            set.push("then");
        }
        if self.otherwise.as_ref().is_some_and(|c| !c.is_empty()) {
            set.push("else");
        }
        if self.value.as_ref().is_some_and(|v| !v.is_null()) {
            set.push("value");
        }
        set
    }
}

impl WorkflowDefinition {
    /// Checks the whole definition against the account and returns every
    /// problem at once (R5), or the runnable workflow.
    pub fn validate(&self, ctx: &ValidationContext<'_>) -> Result<ValidWorkflow, ValidationErrors> {
        let mut errors = BTreeMap::new();

        let name = match given(&self.name) {
            None => {
                errors.insert("name".to_string(), "required".to_string());
                None
            }
            Some(n) if n.chars().count() > MAX_NAME_CHARS => {
                errors.insert(
                    "name".to_string(),
                    format!("name must be at most {MAX_NAME_CHARS} characters"),
                );
                None
            }
            Some(n) => Some(n.to_string()),
        };

        let object_type = match given(&self.object_type) {
            None => {
                errors.insert("object_type".to_string(), "required".to_string());
                None
            }
            Some(s) => match ObjectType::from_str(s) {
                Ok(t) => Some(t),
                Err(e) => {
                    errors.insert("object_type".to_string(), e.to_string());
                    None
                }
            },
        };

        // Without an object type there is no schema to check properties
        // against; everything else is still checked.
        let schema = object_type.map(|t| (ctx.schema)(t));
        let mut enrollment = FilterGroups::default();
        let mut suppression = FilterGroups::default();
        let mut unenrollment = FilterGroups::default();
        let mut reenroll_on = Vec::new();
        if let (Some(schema), Some(t)) = (&schema, object_type) {
            enrollment = FilterGroups::parse(
                &self.enrollment.filters,
                schema,
                "enrollment.filters",
                &mut errors,
            );
            suppression =
                FilterGroups::parse(&self.suppression, schema, "suppression", &mut errors);
            unenrollment =
                FilterGroups::parse(&self.unenrollment, schema, "unenrollment", &mut errors);
            for (i, raw) in self.enrollment.reenroll_on.iter().enumerate() {
                let key = format!("enrollment.reenroll_on[{i}]");
                if let Some(name) = known_property(raw, schema, t, &key, &mut errors) {
                    if !reenroll_on.contains(&name) {
                        reenroll_on.push(name);
                    }
                }
            }
        }

        let mut inbound_sms = None;
        if let Some(trigger) = &self.enrollment.inbound_sms {
            if object_type.is_some_and(|t| t != ObjectType::Contact) {
                errors.insert(
                    "enrollment.inbound_sms".to_string(),
                    "the inbound SMS trigger is only allowed in contact workflows".to_string(),
                );
            }
            match trigger
                .keyword
                .as_deref()
                .map(crate::keywords::keyword_form)
            {
                Some(k) if k.is_empty() => {
                    errors.insert(
                        "enrollment.inbound_sms.keyword".to_string(),
                        "must not be empty; leave it out to react to every SMS".to_string(),
                    );
                }
                k => inbound_sms = Some(k),
            }
        }

        let mut checker = Checker {
            ctx,
            object_type,
            contact_schema: match object_type {
                Some(ObjectType::Contact) => schema.clone().unwrap_or_default(),
                _ => (ctx.schema)(ObjectType::Contact),
            },
            schema,
            errors,
            ids: HashSet::new(),
        };
        let nodes = checker.actions(&self.actions, "actions");

        match (name, object_type) {
            (Some(name), Some(object_type)) if checker.errors.is_empty() => {
                let mut program = Vec::new();
                flatten(nodes, &mut program);
                Ok(ValidWorkflow {
                    name,
                    object_type,
                    enrollment,
                    reenroll_on,
                    suppression,
                    unenrollment,
                    inbound_sms,
                    program,
                })
            }
            _ => Err(ValidationErrors {
                fields: checker.errors,
            }),
        }
    }
}

impl ValidWorkflow {
    /// Whether any step sends an SMS: such a workflow needs the `sms`
    /// entitlement to be published or run (R1).
    pub fn uses_sms(&self) -> bool {
        self.program.iter().any(|s| matches!(s, Step::SendSms(_)))
    }

    /// Every action's id, in program order.
    pub fn action_ids(&self) -> Vec<String> {
        self.program
            .iter()
            .filter_map(|s| s.action_id().map(str::to_string))
            .collect()
    }
}

impl Step {
    /// The id of the action this step came from; None for the jumps that
    /// flattening adds.
    pub fn action_id(&self) -> Option<&str> {
        match self {
            Step::SendSms(s) => Some(&s.action_id),
            Step::Delay { action_id, .. }
            | Step::Branch { action_id, .. }
            | Step::SetProperty { action_id, .. } => Some(action_id),
            Step::ManageSubscription(m) => Some(&m.action_id),
            Step::Jump { .. } => None,
        }
    }
}

/// A checked action before flattening.
enum Node {
    Step(Step),
    Branch {
        action_id: String,
        condition: FilterGroups,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// Lays the tree out linearly: `Branch` falls through to its then-steps,
/// which end with a `Jump` past the else-steps when there are any.
fn flatten(nodes: Vec<Node>, out: &mut Vec<Step>) {
    for node in nodes {
        match node {
            Node::Step(step) => out.push(step),
            Node::Branch {
                action_id,
                condition,
                then,
                otherwise,
            } => {
                let at = out.len();
                out.push(Step::Branch {
                    action_id,
                    condition,
                    else_at: usize::MAX,
                });
                flatten(then, out);
                let else_at = if otherwise.is_empty() {
                    out.len()
                } else {
                    let jump = out.len();
                    out.push(Step::Jump { to: usize::MAX });
                    let else_at = out.len();
                    flatten(otherwise, out);
                    let end = out.len();
                    out[jump] = Step::Jump { to: end };
                    else_at
                };
                if let Step::Branch { else_at: slot, .. } = &mut out[at] {
                    *slot = else_at;
                }
            }
        }
    }
}

/// A property name that exists in `schema`, or an error under `key`.
fn known_property(
    raw: &str,
    schema: &PropertySchema,
    object_type: ObjectType,
    key: &str,
    errors: &mut BTreeMap<String, String>,
) -> Option<PropertyName> {
    match PropertyName::parse(raw) {
        Ok(name) if schema.get(name.as_str()).is_some() => Some(name),
        Ok(name) => {
            errors.insert(
                key.to_string(),
                format!("unknown property `{name}` for {object_type}"),
            );
            None
        }
        Err(e) => {
            errors.insert(key.to_string(), e.to_string());
            None
        }
    }
}

fn token_text(t: &TokenRef) -> String {
    match &t.property {
        Some(p) => format!("{{{{ {}.{} }}}}", t.object, p),
        None => format!("{{{{ {} }}}}", t.object),
    }
}

/// Walks the action tree, collecting errors and the checked nodes.
struct Checker<'c, 'a> {
    ctx: &'c ValidationContext<'a>,
    object_type: Option<ObjectType>,
    schema: Option<PropertySchema>,
    contact_schema: PropertySchema,
    errors: BTreeMap<String, String>,
    /// Ids seen so far anywhere in the tree.
    ids: HashSet<String>,
}

impl Checker<'_, '_> {
    fn error(&mut self, key: impl Into<String>, why: impl Into<String>) {
        // The first problem found for a field is the one worth fixing first.
        self.errors.entry(key.into()).or_insert_with(|| why.into());
    }

    fn actions(&mut self, list: &[ActionInput], path: &str) -> Vec<Node> {
        list.iter()
            .enumerate()
            .filter_map(|(i, action)| self.action(action, &format!("{path}[{i}]")))
            .collect()
    }

    fn action(&mut self, a: &ActionInput, p: &str) -> Option<Node> {
        let id = match given(&a.id) {
            None => {
                self.error(format!("{p}.id"), "required");
                None
            }
            Some(id) if !self.ids.insert(id.to_string()) => {
                self.error(format!("{p}.id"), format!("duplicate action id `{id}`"));
                None
            }
            Some(id) => Some(id.to_string()),
        };

        let kind = match given(&a.kind).map(str::to_ascii_lowercase) {
            None => {
                self.error(format!("{p}.type"), "required");
                return None;
            }
            Some(k) if !ACTION_TYPES.contains(&k.as_str()) => {
                self.error(
                    format!("{p}.type"),
                    format!(
                        "unknown action type `{}`; expected one of {}",
                        a.kind.as_deref().unwrap_or_default().trim(),
                        ACTION_TYPES.join(", ")
                    ),
                );
                return None;
            }
            Some(k) => k,
        };

        // A field of another type is a mistake (a `body` on a delay, a `then`
        // on a send) that would otherwise be silently dropped.
        let allowed = allowed_fields(&kind);
        for field in a.set_fields() {
            if !allowed.contains(&field) {
                self.error(
                    format!("{p}.{field}"),
                    format!("not allowed for {kind} actions"),
                );
            }
        }

        let action_id = id.unwrap_or_default();
        match kind.as_str() {
            "send_sms" => self
                .send_sms(a, p, action_id)
                .map(|s| Node::Step(Step::SendSms(Box::new(s)))),
            "delay" => self.delay(a, p, action_id),
            "branch" => self.branch(a, p, action_id),
            "set_property" => self.set_property(a, p, action_id),
            _ => self.manage_subscription(a, p, action_id),
        }
    }

    fn send_sms(&mut self, a: &ActionInput, p: &str, action_id: String) -> Option<SendSmsStep> {
        if !self.ctx.sms_enabled {
            self.error(format!("{p}.type"), SMS_NOT_ENABLED);
        }
        match given(&a.sms_message_id) {
            Some(message_id) => self.published_sms(a, p, action_id, message_id),
            None => self.inline_sms(a, p, action_id),
        }
    }

    /// R2: without any SMS-capable number no send can be saved.
    fn no_capable_number(&mut self, p: &str) -> bool {
        let none = !self.ctx.numbers.iter().any(|n| n.sms_capable);
        if none {
            self.error(
                format!("{p}.from_number_id"),
                "no SMS-capable number is connected",
            );
        }
        none
    }

    /// R3: the sender must be a user linked to the sending number.
    fn sender(&mut self, raw: &str, number: Option<&NumberFacts>, key: &str) -> Option<UserId> {
        let user = UserId::from(raw);
        if !self.ctx.users.contains(&user) {
            self.error(key, "unknown user");
            return None;
        }
        if let Some(number) = number {
            if !number.linked_users.contains(&user) {
                self.error(key, format!("user is not linked to number {}", number.id));
                return None;
            }
        }
        Some(user)
    }

    fn inline_sms(&mut self, a: &ActionInput, p: &str, action_id: String) -> Option<SendSmsStep> {
        let ctx = self.ctx;
        let number = if self.no_capable_number(p) {
            None
        } else {
            match given(&a.from_number_id) {
                None => {
                    self.error(format!("{p}.from_number_id"), "required");
                    None
                }
                Some(raw) => match ctx.numbers.iter().find(|n| n.id.as_str() == raw) {
                    None => {
                        self.error(format!("{p}.from_number_id"), "unknown number");
                        None
                    }
                    Some(n) => {
                        if !n.sms_capable {
                            self.error(format!("{p}.from_number_id"), "number cannot send SMS");
                        }
                        Some(n)
                    }
                },
            }
        };

        let sender = match given(&a.sender_user_id) {
            None => {
                self.error(format!("{p}.sender_user_id"), "required");
                None
            }
            Some(raw) => self.sender(raw, number, &format!("{p}.sender_user_id")),
        };

        let recipient = match given(&a.recipient_property) {
            None => {
                self.error(format!("{p}.recipient_property"), "required");
                None
            }
            Some(raw) => self.phone_property(raw, &format!("{p}.recipient_property")),
        };
        let fallback = given(&a.fallback_property)
            .map(|raw| self.phone_property(raw, &format!("{p}.fallback_property")));

        let body_key = format!("{p}.body");
        let body = match a.body.as_deref() {
            None => {
                self.error(body_key, "required");
                None
            }
            Some(b) if b.trim().is_empty() => {
                self.error(body_key, "body must not be empty");
                None
            }
            Some(b) if b.chars().count() > MAX_BODY_CHARS => {
                self.error(
                    body_key,
                    format!(
                        "body is {} characters; the limit is {MAX_BODY_CHARS}",
                        b.chars().count()
                    ),
                );
                None
            }
            Some(b) => self.template(b, &body_key, ""),
        };

        let subscription_type_id = given(&a.subscription_type_id)
            .map(|raw| self.subscription_type(raw, &format!("{p}.subscription_type_id")));

        Some(SendSmsStep {
            action_id,
            from_number_id: number?.id.clone(),
            sender_user_id: Some(sender?),
            recipient: recipient?,
            fallback: fallback.map(|f| f.ok_or(())).transpose().ok()?,
            body: body?,
            subscription_type_id: subscription_type_id.map(|s| s.ok_or(())).transpose().ok()?,
            sms_message_id: None,
            smart_encoding: a.smart_encoding.unwrap_or(false),
        })
    }

    /// R4, R6: a published message brings its number, body and subscription
    /// type; the recipient defaults to `mobilephone`, then `phone`.
    fn published_sms(
        &mut self,
        a: &ActionInput,
        p: &str,
        action_id: String,
        message_id: &str,
    ) -> Option<SendSmsStep> {
        let ctx = self.ctx;
        for (field, value) in [
            ("from_number_id", &a.from_number_id),
            ("body", &a.body),
            ("subscription_type_id", &a.subscription_type_id),
        ] {
            if given(value).is_some() {
                self.error(
                    format!("{p}.{field}"),
                    "use either sms_message_id or the inline fields",
                );
            }
        }

        let message_key = format!("{p}.sms_message_id");
        let message = ctx
            .published_sms_messages
            .iter()
            .find(|m| m.id.as_str() == message_id);
        if message.is_none() {
            self.error(&message_key, "message is not published");
        }

        let number = if self.no_capable_number(p) {
            None
        } else if let Some(m) = message {
            match ctx.numbers.iter().find(|n| n.id == m.from_number_id) {
                None => {
                    self.error(
                        &message_key,
                        format!("the message's number {} is not connected", m.from_number_id),
                    );
                    None
                }
                Some(n) if !n.sms_capable => {
                    self.error(
                        &message_key,
                        format!("the message's number {} cannot send SMS", m.from_number_id),
                    );
                    None
                }
                Some(n) => Some(n),
            }
        } else {
            None
        };

        let sender = match given(&a.sender_user_id) {
            None => Ok(None),
            Some(raw) => self
                .sender(raw, number, &format!("{p}.sender_user_id"))
                .map(Some)
                .ok_or(()),
        };

        let (recipient, fallback) = match given(&a.recipient_property) {
            Some(raw) => {
                let recipient = self.phone_property(raw, &format!("{p}.recipient_property"));
                let fallback = given(&a.fallback_property)
                    .map(|raw| self.phone_property(raw, &format!("{p}.fallback_property")));
                (recipient, fallback.map(|f| f.ok_or(())).transpose())
            }
            None => {
                if given(&a.fallback_property).is_some() {
                    self.error(
                        format!("{p}.fallback_property"),
                        "a fallback needs a recipient_property",
                    );
                }
                match self.default_recipient() {
                    Some((r, f)) => (Some(r), Ok(f)),
                    None => (None, Ok(None)),
                }
            }
        };

        let message = message?;
        let body = self.template(&message.body, &message_key, "the message uses ");

        Some(SendSmsStep {
            action_id,
            from_number_id: number?.id.clone(),
            sender_user_id: sender.ok()?,
            recipient: recipient?,
            fallback: fallback.ok()?,
            body: body?,
            subscription_type_id: message.subscription_type_id.clone(),
            sms_message_id: Some(message.id.clone()),
            smart_encoding: a.smart_encoding.unwrap_or(false),
        })
    }

    /// `mobilephone` then `phone` of the record when it has a mobile phone
    /// property, else of its primary contact (R6).
    fn default_recipient(&self) -> Option<(PropertyRef, Option<PropertyRef>)> {
        let schema = self.schema.as_ref()?;
        let is_phone = |s: &PropertySchema, name: &str| {
            s.get(name)
                .is_some_and(|d| d.kind == PropertyType::PhoneNumber)
        };
        let name = |n: &str| PropertyName::parse(n).expect("built-in property names are valid");
        if is_phone(schema, "mobilephone") {
            let fallback = if is_phone(schema, "phone") {
                Some(PropertyRef::Own(name("phone")))
            } else {
                Some(PropertyRef::Contact(name("phone")))
            };
            Some((PropertyRef::Own(name("mobilephone")), fallback))
        } else {
            Some((
                PropertyRef::Contact(name("mobilephone")),
                Some(PropertyRef::Contact(name("phone"))),
            ))
        }
    }

    /// `prop` of the workflow's object type, or `contact.prop` of the
    /// primary associated contact; either must be a phone number property.
    fn phone_property(&mut self, raw: &str, key: &str) -> Option<PropertyRef> {
        let (scope, prop) = match raw.split_once('.') {
            Some((scope, prop)) => (Some(scope.trim().to_ascii_lowercase()), prop.trim()),
            None => (None, raw.trim()),
        };
        let own = self.object_type;
        let on_contact = match (scope.as_deref(), own) {
            (None, _) => false,
            (Some(s), Some(t)) if s == t.as_str() => false,
            (Some("contact"), _) => true,
            (Some(_), _) => {
                let what = own.map_or("record".to_string(), |t| t.to_string());
                self.error(
                    key,
                    format!("recipient must be a property of the {what} or `contact.<property>`"),
                );
                return None;
            }
        };
        // In a contact workflow `contact.x` is the enrolled record itself.
        let (object_type, on_contact) = match own {
            Some(ObjectType::Contact) => (ObjectType::Contact, false),
            _ if on_contact => (ObjectType::Contact, true),
            Some(t) => (t, false),
            // The missing object type is reported already.
            None => return None,
        };
        let schema = if object_type == ObjectType::Contact {
            &self.contact_schema
        } else {
            self.schema.as_ref()?
        };
        let mut errors = BTreeMap::new();
        let name = known_property(prop, schema, object_type, key, &mut errors);
        let is_phone = name
            .as_ref()
            .and_then(|n| schema.get(n.as_str()))
            .is_some_and(|d| d.kind == PropertyType::PhoneNumber);
        for (k, v) in errors {
            self.error(k, v);
        }
        let name = name?;
        if !is_phone {
            self.error(
                key,
                format!("property `{name}` is not a phone number property"),
            );
            return None;
        }
        Some(if on_contact {
            PropertyRef::Contact(name)
        } else {
            PropertyRef::Own(name)
        })
    }

    /// Parses a body and checks that every token names something the engine
    /// can fill in (R7).
    fn template(&mut self, body: &str, key: &str, lead: &str) -> Option<Arc<Template>> {
        let template = match Template::parse(body) {
            Ok(t) => t,
            Err(e) => {
                self.error(key, format!("{lead}{e}"));
                return None;
            }
        };
        let mut unknown: Vec<String> = Vec::new();
        for token in template.tokens() {
            let text = token_text(&token);
            if !self.token_is_known(&token) && !unknown.contains(&text) {
                unknown.push(text);
            }
        }
        if unknown.is_empty() {
            return Some(Arc::new(template));
        }
        let listed: Vec<String> = unknown.iter().map(|t| format!("`{t}`")).collect();
        let noun = if unknown.len() == 1 {
            "unknown token"
        } else {
            "unknown tokens"
        };
        self.error(key, format!("{lead}{noun} {}", listed.join(", ")));
        None
    }

    fn token_is_known(&self, token: &TokenRef) -> bool {
        let object = token.object.to_ascii_lowercase();
        let property = token.property.as_deref().map(str::to_ascii_lowercase);
        match (object.as_str(), property.as_deref()) {
            ("unsubscribe_url", None) => true,
            ("sender", Some(p)) => matches!(p, "name" | "email"),
            ("number", Some(p)) => matches!(p, "e164" | "label"),
            ("contact", Some(p)) => self.contact_schema.get(p).is_some(),
            (o, Some(p)) => match (self.object_type, &self.schema) {
                (Some(t), Some(schema)) if t.as_str() == o => schema.get(p).is_some(),
                (Some(_), _) => false,
                // Without a valid object type, `deal.amount` may be fine;
                // the object type's own error is what to fix first.
                (None, _) => true,
            },
            _ => false,
        }
    }

    fn subscription_type(&mut self, raw: &str, key: &str) -> Option<SubscriptionTypeId> {
        let id = SubscriptionTypeId::from(raw);
        if self.ctx.subscription_types.contains(&id) {
            Some(id)
        } else {
            self.error(key, "unknown subscription type");
            None
        }
    }

    fn delay(&mut self, a: &ActionInput, p: &str, action_id: String) -> Option<Node> {
        let key = format!("{p}.duration");
        let raw = match given(&a.duration) {
            None => {
                self.error(key, "required");
                return None;
            }
            Some(raw) => raw,
        };
        let Some(duration) = parse_duration(raw) else {
            self.error(
                key,
                format!("invalid duration `{raw}`; use e.g. 30s, 15m, 2h, 2d, 1w, 1h30m or PT1H"),
            );
            return None;
        };
        if duration > chrono::Duration::days(MAX_DELAY_DAYS) {
            self.error(key, format!("a delay may be at most {MAX_DELAY_DAYS} days"));
            return None;
        }
        Some(Node::Step(Step::Delay {
            action_id,
            duration,
        }))
    }

    fn branch(&mut self, a: &ActionInput, p: &str, action_id: String) -> Option<Node> {
        let key = format!("{p}.if");
        let condition = match a.condition.as_deref() {
            None | Some([]) => {
                self.error(key, "required");
                None
            }
            Some(input) => self
                .schema
                .as_ref()
                .map(|schema| FilterGroups::parse(input, schema, &key, &mut self.errors)),
        };
        let then = self.actions(a.then.as_deref().unwrap_or_default(), &format!("{p}.then"));
        let otherwise = self.actions(
            a.otherwise.as_deref().unwrap_or_default(),
            &format!("{p}.else"),
        );
        Some(Node::Branch {
            action_id,
            condition: condition?,
            then,
            otherwise,
        })
    }

    fn set_property(&mut self, a: &ActionInput, p: &str, action_id: String) -> Option<Node> {
        let key = format!("{p}.property");
        let property = match given(&a.property) {
            None => {
                self.error(key, "required");
                None
            }
            Some(raw) => match (self.object_type, &self.schema) {
                (Some(t), Some(schema)) => known_property(raw, schema, t, &key, &mut self.errors),
                _ => None,
            },
        };
        let kind = property
            .as_ref()
            .and_then(|name| self.schema.as_ref()?.get(name.as_str()))
            .map(|d| d.kind);
        let value_key = format!("{p}.value");
        let value = match (&a.value, kind) {
            (None, _) => {
                self.error(value_key, "required; use null to clear the property");
                None
            }
            (Some(v), Some(kind)) => match coerce(v, kind) {
                Ok(v) => Some(v),
                Err(why) => {
                    self.error(value_key, why);
                    None
                }
            },
            (Some(_), None) => None,
        };
        Some(Node::Step(Step::SetProperty {
            action_id,
            property: property?,
            value: value?,
        }))
    }

    /// R20.
    fn manage_subscription(&mut self, a: &ActionInput, p: &str, action_id: String) -> Option<Node> {
        if self.object_type.is_some_and(|t| t != ObjectType::Contact) {
            self.error(
                format!("{p}.type"),
                "manage_subscription is only allowed in contact workflows",
            );
        }
        match given(&a.channel) {
            None => self.error(format!("{p}.channel"), "required"),
            Some(c) if !c.eq_ignore_ascii_case("sms") => {
                self.error(format!("{p}.channel"), "channel must be sms")
            }
            Some(_) => {}
        }
        let subscribe = match given(&a.status).map(str::to_ascii_lowercase).as_deref() {
            None => {
                self.error(format!("{p}.status"), "required");
                None
            }
            Some("subscribed") => Some(true),
            Some("unsubscribed") => Some(false),
            Some(_) => {
                self.error(
                    format!("{p}.status"),
                    "status must be subscribed or unsubscribed",
                );
                None
            }
        };
        let subscription_type_id = match given(&a.subscription_type_id) {
            None => {
                self.error(format!("{p}.subscription_type_id"), "required");
                None
            }
            Some(raw) => self.subscription_type(raw, &format!("{p}.subscription_type_id")),
        };
        // Proof of consent needs the basis and the wording when subscribing;
        // an unsubscription needs neither.
        let needs_proof = subscribe == Some(true);
        let legal_basis = match given(&a.legal_basis).map(str::to_ascii_lowercase) {
            None if needs_proof => {
                self.error(format!("{p}.legal_basis"), "required when subscribing");
                None
            }
            None => Some(String::new()),
            Some(b) if LEGAL_BASES.contains(&b.as_str()) => Some(b),
            Some(b) => {
                self.error(
                    format!("{p}.legal_basis"),
                    format!(
                        "unknown legal basis `{b}`; expected one of {}",
                        LEGAL_BASES.join(", ")
                    ),
                );
                None
            }
        };
        let explanation = match given(&a.explanation) {
            None if needs_proof => {
                self.error(format!("{p}.explanation"), "required when subscribing");
                None
            }
            e => Some(e.unwrap_or_default().to_string()),
        };
        Some(Node::Step(Step::ManageSubscription(Box::new(
            ManageSubscriptionStep {
                action_id,
                subscribe: subscribe?,
                subscription_type_id: subscription_type_id?,
                legal_basis: legal_basis?,
                explanation: explanation?,
            },
        ))))
    }
}

/// Checks a `set_property` value against the property's type, normalising
/// numeric and boolean strings to JSON numbers and bools. `null` clears.
fn coerce(v: &Value, kind: PropertyType) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let text = v.as_str().map(str::trim);
    match kind {
        PropertyType::Number => match v {
            Value::Number(_) => Ok(v.clone()),
            _ => text
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|n| n.is_finite())
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
                .ok_or_else(|| "value must be a number".to_string()),
        },
        PropertyType::Bool => match (v, text.map(str::to_ascii_lowercase).as_deref()) {
            (Value::Bool(_), _) => Ok(v.clone()),
            (_, Some("true")) => Ok(Value::Bool(true)),
            (_, Some("false")) => Ok(Value::Bool(false)),
            _ => Err("value must be true or false".to_string()),
        },
        PropertyType::Date => match text {
            Some(s) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
                Ok(Value::String(s.into()))
            }
            _ => Err("value must be a date (YYYY-MM-DD)".to_string()),
        },
        PropertyType::Datetime => match text {
            Some(s)
                if DateTime::parse_from_rfc3339(s).is_ok()
                    || NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() =>
            {
                Ok(Value::String(s.into()))
            }
            _ => Err("value must be an ISO-8601 datetime such as 2024-05-01T09:00:00Z".to_string()),
        },
        PropertyType::String | PropertyType::Enumeration | PropertyType::PhoneNumber => match v {
            Value::String(_) => Ok(v.clone()),
            // YAML reads `zip: 01234`-like values as numbers; keep what was meant.
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err("value must be a string".to_string()),
        },
    }
}

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;

/// Parses `30s`, `15m`, `2h`, `2d`, `1w`, and sums like `1h30m` (spaces
/// between parts allowed), and ISO-8601 durations such as `PT1H`, `P2D`,
/// `P1DT12H`. Case-insensitive. Empty, zero, fractional or unit-less input
/// is None.
pub fn parse_duration(s: &str) -> Option<chrono::Duration> {
    let s = s.trim().to_ascii_lowercase();
    let seconds = match s.strip_prefix('p') {
        Some(iso) => {
            let (date, time) = match iso.split_once('t') {
                Some((date, time)) if !time.is_empty() => (date, Some(time)),
                Some(_) => return None,
                None => (iso, None),
            };
            let mut total = if date.is_empty() {
                0
            } else {
                sum_parts(date, &[('w', WEEK), ('d', DAY)])?
            };
            if let Some(time) = time {
                total =
                    total.checked_add(sum_parts(time, &[('h', HOUR), ('m', MINUTE), ('s', 1)])?)?;
            }
            if date.is_empty() && time.is_none() {
                return None;
            }
            total
        }
        None => sum_parts(
            &s,
            &[
                ('w', WEEK),
                ('d', DAY),
                ('h', HOUR),
                ('m', MINUTE),
                ('s', 1),
            ],
        )?,
    };
    if seconds <= 0 {
        return None;
    }
    chrono::Duration::try_seconds(seconds)
}

/// Sums `<digits><unit>` parts; None on anything else.
fn sum_parts(s: &str, units: &[(char, i64)]) -> Option<i64> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if c.is_whitespace() {
            // Between parts only: `1 2h` is not `12h`.
            if !digits.is_empty() {
                return None;
            }
        } else {
            let (_, unit) = units.iter().find(|(u, _)| *u == c)?;
            let n: i64 = digits.parse().ok()?;
            total = total.checked_add(n.checked_mul(*unit)?)?;
            digits.clear();
            parts += 1;
        }
    }
    (digits.is_empty() && parts > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(t: ObjectType) -> PropertySchema {
        PropertySchema::new(t, [])
    }

    /// An account with one SMS number linked to `usr_1`, a voice-only number,
    /// and a second user linked to nothing.
    struct Account {
        sms_enabled: bool,
        numbers: Vec<NumberFacts>,
        users: Vec<UserId>,
        subscription_types: Vec<SubscriptionTypeId>,
        published: Vec<PublishedSmsMessage>,
    }

    impl Account {
        fn new() -> Self {
            Self {
                sms_enabled: true,
                numbers: vec![
                    NumberFacts {
                        id: "num_1".into(),
                        sms_capable: true,
                        linked_users: vec!["usr_1".into()],
                    },
                    NumberFacts {
                        id: "num_voice".into(),
                        sms_capable: false,
                        linked_users: vec!["usr_1".into()],
                    },
                ],
                users: vec!["usr_1".into(), "usr_2".into()],
                subscription_types: vec!["sub_transactional".into(), "sub_marketing".into()],
                published: vec![PublishedSmsMessage {
                    id: "msg_9".into(),
                    from_number_id: "num_1".into(),
                    body: "Still interested, {{ contact.firstname | default('there') }}?".into(),
                    subscription_type_id: Some("sub_marketing".into()),
                }],
            }
        }

        fn ctx(&self) -> ValidationContext<'_> {
            ValidationContext {
                sms_enabled: self.sms_enabled,
                schema: &schema,
                numbers: &self.numbers,
                users: &self.users,
                subscription_types: &self.subscription_types,
                published_sms_messages: &self.published,
            }
        }

        fn validate(&self, definition: Value) -> Result<ValidWorkflow, ValidationErrors> {
            let definition: WorkflowDefinition =
                serde_json::from_value(definition).expect("test definition deserialises");
            definition.validate(&self.ctx())
        }

        fn errors(&self, definition: Value) -> BTreeMap<String, String> {
            match self.validate(definition) {
                Ok(_) => panic!("expected validation errors"),
                Err(e) => e.fields,
            }
        }
    }

    fn workflow(object_type: &str, actions: Value) -> Value {
        json!({"name": "Test", "object_type": object_type, "actions": actions})
    }

    fn sms(id: &str) -> Value {
        json!({
            "id": id,
            "type": "send_sms",
            "from_number_id": "num_1",
            "sender_user_id": "usr_1",
            "recipient_property": "mobilephone",
            "body": "Hello",
        })
    }

    fn welcome() -> Value {
        json!({
            "name": "Welcome new leads",
            "object_type": "contact",
            "enrollment": {
                "filters": [[{"property": "lifecyclestage", "op": "eq", "value": "lead"},
                             {"property": "mobilephone", "op": "is_known"}]],
                "reenroll_on": []
            },
            "suppression": [[{"property": "sms_opted_out", "op": "eq", "value": true}]],
            "actions": [
                {"id": "welcome", "type": "send_sms", "from_number_id": "num_1",
                 "sender_user_id": "usr_1", "recipient_property": "mobilephone",
                 "fallback_property": "phone", "subscription_type_id": "sub_transactional",
                 "body": "Hi {{ contact.firstname | default('there') }}, thanks for your interest!"},
                {"id": "wait", "type": "delay", "duration": "2d"},
                {"id": "check", "type": "branch",
                 "if": [[{"property": "lifecyclestage", "op": "eq", "value": "customer"}]],
                 "then": [],
                 "else": [{"id": "nudge", "type": "send_sms", "sms_message_id": "msg_9"}]}
            ]
        })
    }

    fn step_kind(s: &Step) -> String {
        match s {
            Step::SendSms(s) => format!("send:{}", s.action_id),
            Step::Delay { action_id, .. } => format!("delay:{action_id}"),
            Step::Branch {
                action_id, else_at, ..
            } => format!("branch:{action_id}:else@{else_at}"),
            Step::Jump { to } => format!("jump@{to}"),
            Step::SetProperty { action_id, .. } => format!("set:{action_id}"),
            Step::ManageSubscription(m) => format!("sub:{}", m.action_id),
        }
    }

    fn program(w: &ValidWorkflow) -> Vec<String> {
        w.program.iter().map(step_kind).collect()
    }

    #[test]
    fn r4_the_design_welcome_workflow_validates_and_flattens() {
        let w = Account::new()
            .validate(welcome())
            .expect("welcome workflow is valid");
        assert_eq!(w.name, "Welcome new leads");
        assert_eq!(w.object_type, ObjectType::Contact);
        assert_eq!(w.enrollment.0.len(), 1);
        assert_eq!(w.suppression.0.len(), 1);
        assert!(w.unenrollment.is_empty());
        assert_eq!(
            program(&w),
            [
                "send:welcome",
                "delay:wait",
                "branch:check:else@4",
                "jump@5",
                "send:nudge"
            ]
        );
        assert!(w.uses_sms());
        assert_eq!(w.action_ids(), ["welcome", "wait", "check", "nudge"]);

        let Step::SendSms(send) = &w.program[0] else {
            panic!("first step sends")
        };
        assert_eq!(send.from_number_id.as_str(), "num_1");
        assert_eq!(
            send.sender_user_id.as_ref().map(UserId::as_str),
            Some("usr_1")
        );
        assert_eq!(
            send.recipient,
            PropertyRef::Own(PropertyName::parse("mobilephone").unwrap())
        );
        assert_eq!(
            send.fallback,
            Some(PropertyRef::Own(PropertyName::parse("phone").unwrap()))
        );
        assert_eq!(
            send.subscription_type_id.as_ref().map(|s| s.as_str()),
            Some("sub_transactional")
        );
        assert!(send.body.source().starts_with("Hi {{ contact.firstname"));
        assert!(!send.smart_encoding);
        let Step::Delay { duration, .. } = &w.program[1] else {
            panic!("second step waits")
        };
        assert_eq!(*duration, chrono::Duration::days(2));
    }

    #[test]
    fn branches_jump_past_their_else_part_and_nest() {
        let w = Account::new()
            .validate(workflow(
                "contact",
                json!([
                    {"id": "b", "type": "branch",
                     "if": [[{"property": "email", "op": "is_known"}]],
                     "then": [
                        {"id": "t1", "type": "delay", "duration": "1h"},
                        {"id": "inner", "type": "branch",
                         "if": [[{"property": "phone", "op": "is_known"}]],
                         "then": [{"id": "t2", "type": "delay", "duration": "1h"}]}
                     ],
                     "else": [{"id": "e1", "type": "delay", "duration": "1h"},
                              {"id": "e2", "type": "delay", "duration": "1h"}]},
                    {"id": "after", "type": "set_property", "property": "lifecyclestage", "value": "lead"}
                ]),
            ))
            .expect("valid");
        assert_eq!(
            program(&w),
            [
                "branch:b:else@5",
                "delay:t1",
                "branch:inner:else@4",
                "delay:t2",
                "jump@7",
                "delay:e1",
                "delay:e2",
                "set:after"
            ]
        );
        assert!(!w.uses_sms());
    }

    #[test]
    fn r5_every_bad_send_sms_field_is_reported_at_once() {
        let long = "x".repeat(MAX_BODY_CHARS + 1);
        let errors = Account::new().errors(workflow(
            "contact",
            json!([
                {"id": "a", "type": "send_sms", "sender_user_id": "usr_1",
                 "recipient_property": "email", "body": "  "},
                {"id": "b", "type": "send_sms", "from_number_id": "num_1", "sender_user_id": "usr_2",
                 "recipient_property": "mobilephone", "body": long},
                {"id": "c", "type": "send_sms", "from_number_id": "num_1", "sender_user_id": "usr_1",
                 "recipient_property": "mobilephone", "fallback_property": "firstname",
                 "subscription_type_id": "sub_nope",
                 "body": "Hi {{ contact.favcolor }} from {{ sender.name }} {{ unsubscribe_url }}"}
            ]),
        ));
        let expected = [
            ("actions[0].from_number_id", "required"),
            (
                "actions[0].recipient_property",
                "property `email` is not a phone number property",
            ),
            ("actions[0].body", "body must not be empty"),
            (
                "actions[1].sender_user_id",
                "user is not linked to number num_1",
            ),
            (
                "actions[1].body",
                "body is 1601 characters; the limit is 1600",
            ),
            (
                "actions[2].fallback_property",
                "property `firstname` is not a phone number property",
            ),
            (
                "actions[2].subscription_type_id",
                "unknown subscription type",
            ),
            ("actions[2].body", "unknown token `{{ contact.favcolor }}`"),
        ];
        for (key, why) in expected {
            assert_eq!(
                errors.get(key).map(String::as_str),
                Some(why),
                "{key} in {errors:?}"
            );
        }
        assert_eq!(errors.len(), expected.len(), "{errors:?}");
    }

    #[test]
    fn r5_a_body_of_exactly_1600_characters_is_accepted() {
        let mut action = sms("a");
        action["body"] = json!("é".repeat(MAX_BODY_CHARS));
        assert!(Account::new()
            .validate(workflow("contact", json!([action])))
            .is_ok());
    }

    #[test]
    fn r5_missing_fields_and_unknown_numbers_and_users_are_named() {
        let errors = Account::new().errors(json!({
            "actions": [
                {"id": "a", "type": "send_sms"},
                {"id": "b", "type": "send_sms", "from_number_id": "num_other",
                 "sender_user_id": "usr_ghost", "recipient_property": "phone", "body": "x"},
                {"type": "teleport"}
            ]
        }));
        assert_eq!(errors["name"], "required");
        assert_eq!(errors["object_type"], "required");
        for field in [
            "from_number_id",
            "sender_user_id",
            "recipient_property",
            "body",
        ] {
            assert_eq!(
                errors[&format!("actions[0].{field}")],
                "required",
                "{field}"
            );
        }
        assert_eq!(errors["actions[1].from_number_id"], "unknown number");
        assert_eq!(errors["actions[1].sender_user_id"], "unknown user");
        assert_eq!(errors["actions[2].id"], "required");
        assert!(errors["actions[2].type"].starts_with("unknown action type `teleport`"));
    }

    #[test]
    fn r2_a_number_that_cannot_send_sms_is_refused() {
        let mut action = sms("a");
        action["from_number_id"] = json!("num_voice");
        let errors = Account::new().errors(workflow("contact", json!([action])));
        assert_eq!(
            errors["actions[0].from_number_id"],
            "number cannot send SMS"
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn r2_without_any_sms_capable_number_a_send_sms_action_cannot_be_saved() {
        let mut account = Account::new();
        account.numbers.retain(|n| !n.sms_capable);
        let errors = account.errors(workflow("contact", json!([sms("a")])));
        assert_eq!(
            errors["actions[0].from_number_id"],
            "no SMS-capable number is connected"
        );
        let errors = account.errors(workflow(
            "contact",
            json!([{"id": "p", "type": "send_sms", "sms_message_id": "msg_9"}]),
        ));
        assert_eq!(
            errors["actions[0].from_number_id"],
            "no SMS-capable number is connected"
        );
    }

    #[test]
    fn r1_without_the_sms_entitlement_send_sms_is_refused() {
        let mut account = Account::new();
        account.sms_enabled = false;
        let errors = account.errors(workflow("contact", json!([sms("a")])));
        assert_eq!(errors["actions[0].type"], SMS_NOT_ENABLED);
        assert_eq!(errors.len(), 1, "{errors:?}");
        // Workflows that send nothing stay available.
        let w = account
            .validate(workflow(
                "contact",
                json!([{"id": "w", "type": "delay", "duration": "1d"}]),
            ))
            .expect("no SMS, no entitlement needed");
        assert!(!w.uses_sms());
    }

    #[test]
    fn r4_the_published_message_form_takes_number_body_and_subscription_from_the_message() {
        let account = Account::new();
        let w = account
            .validate(workflow(
                "contact",
                json!([{"id": "p", "type": "send_sms", "sms_message_id": "msg_9"}]),
            ))
            .expect("valid");
        let Step::SendSms(send) = &w.program[0] else {
            panic!("sends")
        };
        assert_eq!(send.from_number_id.as_str(), "num_1");
        assert_eq!(
            send.sms_message_id.as_ref().map(|m| m.as_str()),
            Some("msg_9")
        );
        assert_eq!(
            send.subscription_type_id.as_ref().map(|s| s.as_str()),
            Some("sub_marketing")
        );
        assert!(send.body.source().starts_with("Still interested"));
        assert_eq!(send.sender_user_id, None);
        // R6: mobile phone first, then phone.
        assert_eq!(
            send.recipient,
            PropertyRef::Own(PropertyName::parse("mobilephone").unwrap())
        );
        assert_eq!(
            send.fallback,
            Some(PropertyRef::Own(PropertyName::parse("phone").unwrap()))
        );

        // A deal has no mobile phone: its primary contact's numbers are used.
        let w = account
            .validate(workflow(
                "deal",
                json!([{"id": "p", "type": "send_sms", "sms_message_id": "msg_9"}]),
            ))
            .expect("valid");
        let Step::SendSms(send) = &w.program[0] else {
            panic!("sends")
        };
        assert_eq!(
            send.recipient,
            PropertyRef::Contact(PropertyName::parse("mobilephone").unwrap())
        );
        assert_eq!(
            send.fallback,
            Some(PropertyRef::Contact(PropertyName::parse("phone").unwrap()))
        );
    }

    #[test]
    fn r5_published_form_refuses_drafts_inline_fields_and_unlinked_senders() {
        let errors = Account::new().errors(workflow(
            "contact",
            json!([
                {"id": "p", "type": "send_sms", "sms_message_id": "msg_draft"},
                {"id": "q", "type": "send_sms", "sms_message_id": "msg_9",
                 "body": "Hi", "from_number_id": "num_1", "sender_user_id": "usr_2"}
            ]),
        ));
        assert_eq!(
            errors["actions[0].sms_message_id"],
            "message is not published"
        );
        assert_eq!(
            errors["actions[1].body"],
            "use either sms_message_id or the inline fields"
        );
        assert_eq!(
            errors["actions[1].from_number_id"],
            "use either sms_message_id or the inline fields"
        );
        assert_eq!(
            errors["actions[1].sender_user_id"],
            "user is not linked to number num_1"
        );
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn r4_recipients_may_be_phone_properties_of_the_primary_contact() {
        let mut action = sms("a");
        action["recipient_property"] = json!("Contact.MobilePhone");
        action["fallback_property"] = json!("phone");
        action["body"] = json!("{{ deal.dealname }}: {{ deal.amount }} for {{ contact.firstname }} via {{ number.e164 }}");
        let w = Account::new()
            .validate(workflow("deal", json!([action])))
            .expect("valid");
        let Step::SendSms(send) = &w.program[0] else {
            panic!("sends")
        };
        assert_eq!(
            send.recipient,
            PropertyRef::Contact(PropertyName::parse("mobilephone").unwrap())
        );
        assert_eq!(
            send.fallback,
            Some(PropertyRef::Own(PropertyName::parse("phone").unwrap()))
        );

        let mut action = sms("a");
        action["recipient_property"] = json!("company.phone");
        action["body"] = json!("{{ deal.favcolor }} {{ company.name }} {{ sender.phone }}");
        let errors = Account::new().errors(workflow("deal", json!([action])));
        assert!(errors["actions[0].recipient_property"]
            .starts_with("recipient must be a property of the deal"));
        assert_eq!(
            errors["actions[0].body"],
            "unknown tokens `{{ deal.favcolor }}`, `{{ company.name }}`, `{{ sender.phone }}`"
        );
    }

    #[test]
    fn r20_manage_subscription_in_a_deal_workflow_is_refused() {
        let action = json!({"id": "m", "type": "manage_subscription", "channel": "sms",
                            "status": "unsubscribed", "subscription_type_id": "sub_marketing"});
        let errors = Account::new().errors(workflow("deal", json!([action.clone()])));
        assert_eq!(
            errors["actions[0].type"],
            "manage_subscription is only allowed in contact workflows"
        );
        assert_eq!(errors.len(), 1);
        let w = Account::new()
            .validate(workflow("contact", json!([action])))
            .expect("valid");
        let Step::ManageSubscription(m) = &w.program[0] else {
            panic!("manages")
        };
        assert!(!m.subscribe);
        assert_eq!(m.subscription_type_id.as_str(), "sub_marketing");
    }

    #[test]
    fn r20_subscribing_needs_a_legal_basis_and_an_explanation() {
        let errors = Account::new().errors(workflow(
            "contact",
            json!([
                {"id": "m", "type": "manage_subscription", "channel": "email", "status": "subscribed",
                 "subscription_type_id": "sub_unknown"},
                {"id": "n", "type": "manage_subscription", "status": "maybe",
                 "legal_basis": "because", "subscription_type_id": "sub_marketing"}
            ]),
        ));
        assert_eq!(errors["actions[0].channel"], "channel must be sms");
        assert_eq!(
            errors["actions[0].subscription_type_id"],
            "unknown subscription type"
        );
        assert_eq!(
            errors["actions[0].legal_basis"],
            "required when subscribing"
        );
        assert_eq!(
            errors["actions[0].explanation"],
            "required when subscribing"
        );
        assert_eq!(errors["actions[1].channel"], "required");
        assert_eq!(
            errors["actions[1].status"],
            "status must be subscribed or unsubscribed"
        );
        assert!(errors["actions[1].legal_basis"].starts_with("unknown legal basis `because`"));

        let w = Account::new()
            .validate(workflow(
                "contact",
                json!([{"id": "m", "type": "manage_subscription", "channel": "SMS", "status": "subscribed",
                        "subscription_type_id": "sub_marketing", "legal_basis": "consent_with_notice",
                        "explanation": "Ticked the SMS box on the signup form"}]),
            ))
            .expect("valid");
        let Step::ManageSubscription(m) = &w.program[0] else {
            panic!("manages")
        };
        assert!(m.subscribe);
        assert_eq!(m.legal_basis, "consent_with_notice");
        assert_eq!(m.explanation, "Ticked the SMS box on the signup form");
    }

    #[test]
    fn r5_errors_in_nested_branches_carry_their_full_path() {
        let errors = Account::new().errors(workflow(
            "contact",
            json!([
                {"id": "b", "type": "branch",
                 "if": [[{"property": "favcolor", "op": "eq", "value": "red"}]],
                 "then": [
                    {"id": "inner", "type": "branch", "if": [],
                     "else": [{"id": "ok", "type": "delay", "duration": "1h"},
                              {"id": "bad", "type": "delay", "duration": "soon"}]}
                 ],
                 "else": [{"id": "s", "type": "send_sms", "from_number_id": "num_1",
                           "sender_user_id": "usr_1", "recipient_property": "mobilephone"}]}
            ]),
        ));
        assert_eq!(
            errors["actions[0].if[0][0].property"],
            "unknown property `favcolor` for contact"
        );
        assert_eq!(errors["actions[0].then[0].if"], "required");
        assert!(
            errors["actions[0].then[0].else[1].duration"].starts_with("invalid duration `soon`")
        );
        assert_eq!(errors["actions[0].else[0].body"], "required");
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn r5_action_ids_are_required_and_unique_across_the_whole_tree() {
        let errors = Account::new().errors(workflow(
            "contact",
            json!([
                {"id": "a", "type": "delay", "duration": "1h"},
                {"id": "b", "type": "branch", "if": [[{"property": "email", "op": "is_known"}]],
                 "then": [{"id": "a", "type": "delay", "duration": "1h"}]},
                {"type": "delay", "duration": "1h"}
            ]),
        ));
        assert_eq!(errors["actions[1].then[0].id"], "duplicate action id `a`");
        assert_eq!(errors["actions[2].id"], "required");
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn r5_workflow_level_fields_are_checked_with_the_object_types_schema() {
        let errors = Account::new().errors(json!({
            "name": "x".repeat(201),
            "object_type": "deal",
            "enrollment": {"filters": [[{"property": "amount", "op": "gt"}]],
                           "reenroll_on": ["dealstage", "firstname"]},
            "suppression": [[{"property": "dealstage", "op": "nope", "value": 1}]],
            "unenrollment": [[]],
            "actions": []
        }));
        assert_eq!(errors["name"], "name must be at most 200 characters");
        assert_eq!(
            errors["enrollment.filters[0][0].value"],
            "value is required for gt"
        );
        assert_eq!(
            errors["enrollment.reenroll_on[1]"],
            "unknown property `firstname` for deal"
        );
        assert!(errors["suppression[0][0].op"].starts_with("unknown operator `nope`"));
        assert!(errors.contains_key("unenrollment[0]"));
        assert_eq!(errors.len(), 5, "{errors:?}");

        let errors = Account::new().errors(json!({"name": "n", "object_type": "widget"}));
        assert!(errors["object_type"].starts_with("unknown object type `widget`"));
    }

    #[test]
    fn set_property_values_must_fit_the_property_type() {
        let errors = Account::new().errors(workflow(
            "deal",
            json!([
                {"id": "a", "type": "set_property", "property": "amount", "value": "lots"},
                {"id": "b", "type": "set_property", "property": "closedate", "value": "tomorrow"},
                {"id": "c", "type": "set_property", "property": "favcolor", "value": "red"},
                {"id": "d", "type": "set_property", "property": "dealname"}
            ]),
        ));
        assert_eq!(errors["actions[0].value"], "value must be a number");
        assert!(errors["actions[1].value"].starts_with("value must be a date"));
        assert_eq!(
            errors["actions[2].property"],
            "unknown property `favcolor` for deal"
        );
        assert!(errors["actions[3].value"].starts_with("required"));

        let w = Account::new()
            .validate(workflow(
                "contact",
                json!([
                    {"id": "a", "type": "set_property", "property": "lifecyclestage", "value": "customer"},
                    {"id": "b", "type": "set_property", "property": "marketing_contact", "value": "TRUE"},
                    {"id": "c", "type": "set_property", "property": "firstname", "value": null}
                ]),
            ))
            .expect("valid");
        let values: Vec<Value> = w
            .program
            .iter()
            .map(|s| match s {
                Step::SetProperty { value, .. } => value.clone(),
                _ => panic!("only set_property steps"),
            })
            .collect();
        assert_eq!(values, [json!("customer"), json!(true), Value::Null]);
    }

    #[test]
    fn fields_of_another_action_type_are_refused() {
        let errors = Account::new().errors(workflow(
            "contact",
            json!([{"id": "w", "type": "delay", "duration": "1h", "body": "Hi",
                    "then": [{"id": "x", "type": "delay", "duration": "1h"}]}]),
        ));
        assert_eq!(errors["actions[0].body"], "not allowed for delay actions");
        assert_eq!(errors["actions[0].then"], "not allowed for delay actions");
    }

    #[test]
    fn delays_must_be_positive_and_at_most_a_year() {
        let errors = Account::new().errors(workflow(
            "contact",
            json!([
                {"id": "a", "type": "delay"},
                {"id": "b", "type": "delay", "duration": "0m"},
                {"id": "c", "type": "delay", "duration": "366d"}
            ]),
        ));
        assert_eq!(errors["actions[0].duration"], "required");
        assert!(errors["actions[1].duration"].starts_with("invalid duration"));
        assert_eq!(
            errors["actions[2].duration"],
            "a delay may be at most 365 days"
        );
        assert!(Account::new()
            .validate(workflow(
                "contact",
                json!([{"id": "a", "type": "delay", "duration": "365d"}])
            ))
            .is_ok());
    }

    #[test]
    fn durations_parse_short_sums_and_iso_8601() {
        let d = |s| parse_duration(s).map(|d| d.num_seconds());
        assert_eq!(d("30s"), Some(30));
        assert_eq!(d("15m"), Some(900));
        assert_eq!(d("2h"), Some(7200));
        assert_eq!(d("2d"), Some(172_800));
        assert_eq!(d("1w"), Some(604_800));
        assert_eq!(d("1h30m"), Some(5400));
        assert_eq!(d(" 1H 30M "), Some(5400));
        assert_eq!(d("PT1H"), Some(3600));
        assert_eq!(d("P2D"), Some(172_800));
        assert_eq!(d("P1DT12H"), Some(129_600));
        assert_eq!(d("pt90s"), Some(90));
        for bad in [
            "",
            "  ",
            "0s",
            "0h0m",
            "30",
            "h",
            "1.5h",
            "1 2h",
            "2x",
            "-1h",
            "P",
            "PT",
            "P1H",
            "99999999999999999999w",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }
}
