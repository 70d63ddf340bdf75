//! JSON shapes of the resources (DESIGN §5 "Bodies"). Users' scripts rely on
//! them: change with care. Each is a type that both serialises the response
//! and describes it in `/api/openapi.json`, so the two cannot part ways.

use chrono::{DateTime, Utc};
use serde::Serialize;
use smsflow_core::account::{DeliverySettings, Entitlements, QuietHours, SendLimits};
use smsflow_core::consent::Purpose;
use smsflow_core::encoding::Encoding;
use smsflow_core::filter::ConditionInput;
use smsflow_core::ids::{
    AccountId, ActionLogId, ConversationId, EngagementId, EnrollmentId, MessageId, NumberId,
    RecordId, SubscriptionTypeId, UserId, WorkflowId,
};
use smsflow_core::keywords::KeywordSettings;
use smsflow_core::message::{Direction, MessageStatus, Outcome, ReasonCode};
use smsflow_core::object::{Association, ObjectType, Properties, Record as RecordRow};
use smsflow_core::phone::E164;
use smsflow_core::workflow::{ActionInput, EnrollmentInput};
use smsflow_store::{
    AccountRow, ActionLogRow, ConversationRow, EngagementRow, EnrollmentRow, MessageRow, NumberRow,
    Page, SubscriptionTypeRow, UserRow, WorkflowRow,
};
use utoipa::ToSchema;

/// A page of a list: `results`, and the cursor of the next page.
#[derive(Serialize, ToSchema)]
pub struct List<T> {
    pub results: Vec<T>,
    /// Pass as `?after=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    pub fn page<R>(page: Page<R>) -> Self
    where
        for<'a> T: From<&'a R>,
    {
        Self {
            results: page.results.iter().map(|r| T::from(r)).collect(),
            next_cursor: page.next_cursor,
        }
    }

    /// Every item at once: a list with no next page.
    pub fn all<R>(items: &[R]) -> Self
    where
        for<'a> T: From<&'a R>,
    {
        Self::each(items, |r| T::from(r))
    }

    /// Every item at once, each shown by `f`.
    pub fn each<R>(items: &[R], f: impl Fn(&R) -> T) -> Self {
        Self {
            results: items.iter().map(f).collect(),
            next_cursor: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub entitlements: Entitlements,
    /// IANA time zone: day and month limits and quiet hours use it.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// ISO 3166 two-letter code for phone numbers written without `+`.
    #[schema(example = "DE")]
    pub default_country: String,
    pub limits: SendLimits,
    /// Null when quiet hours are off.
    pub quiet_hours: Option<QuietHours>,
    pub keywords: KeywordSettings,
    pub delivery: DeliverySettings,
    pub created_at: DateTime<Utc>,
}

impl From<&AccountRow> for Account {
    fn from(a: &AccountRow) -> Self {
        let s = &a.settings;
        Self {
            id: a.id.clone(),
            name: a.name.clone(),
            entitlements: s.entitlements,
            time_zone: s.time_zone.name().to_string(),
            default_country: s.default_country.to_string(),
            limits: s.limits,
            quiet_hours: s.quiet_hours,
            keywords: s.keywords.clone(),
            delivery: s.delivery,
            created_at: a.created_at,
        }
    }
}

/// A new account and its API token, shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedAccount {
    #[serde(flatten)]
    pub account: Account,
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    /// The provider connection kind it was synced from; null when local.
    pub provider: Option<String>,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&UserRow> for User {
    fn from(u: &UserRow) -> Self {
        Self {
            id: u.id.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            provider: u.provider.clone(),
            external_id: u.external_id.clone(),
            created_at: u.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Capabilities {
    pub sms: bool,
    pub mms: bool,
    pub voice: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Number {
    pub id: NumberId,
    pub e164: E164,
    pub label: String,
    pub provider: String,
    pub capabilities: Capabilities,
    /// Segments per second (R11).
    pub throughput: i64,
    /// The users who may send from it (R3).
    pub user_ids: Vec<UserId>,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&NumberRow> for Number {
    fn from(n: &NumberRow) -> Self {
        Self {
            id: n.id.clone(),
            e164: n.e164.clone(),
            label: n.label.clone(),
            provider: n.provider.clone(),
            capabilities: Capabilities {
                sms: n.sms,
                mms: n.mms,
                voice: n.voice,
            },
            throughput: n.throughput,
            user_ids: n.user_ids.clone(),
            external_id: n.external_id.clone(),
            created_at: n.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Record {
    pub id: RecordId,
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    /// Property name → value.
    #[schema(value_type = Object)]
    pub properties: Properties,
    pub associations: Vec<Association>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&RecordRow> for Record {
    fn from(r: &RecordRow) -> Self {
        Self {
            id: r.id.clone(),
            object_type: r.object_type,
            properties: r.properties.clone(),
            associations: r.associations.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // describes `Workflow::state`
enum WorkflowState {
    Draft,
    Published,
    Paused,
}

/// A saved workflow: its definition (the latest revision, possibly a
/// draft) and where it stands.
#[derive(Serialize, ToSchema)]
pub struct Workflow {
    pub id: WorkflowId,
    pub name: String,
    pub object_type: ObjectType,
    pub enrollment: EnrollmentInput,
    /// Filter groups: records that match are never enrolled.
    pub suppression: Vec<Vec<ConditionInput>>,
    /// Filter groups: an enrollment whose record comes to match ends.
    pub unenrollment: Vec<Vec<ConditionInput>>,
    pub actions: Vec<ActionInput>,
    #[schema(value_type = WorkflowState)]
    pub state: &'static str,
    pub revision: i64,
    pub published_revision: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&WorkflowRow> for Workflow {
    fn from(w: &WorkflowRow) -> Self {
        let d = &w.definition;
        Self {
            id: w.id.clone(),
            name: w.name.clone(),
            object_type: w.object_type,
            enrollment: d.enrollment.clone(),
            suppression: d.suppression.clone(),
            unenrollment: d.unenrollment.clone(),
            actions: d.actions.clone(),
            state: w.state.as_str(),
            revision: w.revision,
            published_revision: w.published_revision,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// A workflow just published, and how many existing records it enrolled
/// (`enroll_existing`).
#[derive(Serialize, ToSchema)]
pub struct PublishedWorkflow {
    #[serde(flatten)]
    pub workflow: Workflow,
    pub enrolled: usize,
}

/// The answer of a validation that found nothing wrong (problems answer
/// 422 naming every field).
#[derive(Serialize, ToSchema)]
pub struct Valid {
    pub valid: bool,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // describes `Enrollment::state`
enum EnrollmentState {
    Active,
    Waiting,
    Completed,
    Failed,
    Unenrolled,
}

#[derive(Serialize, ToSchema)]
pub struct Enrollment {
    pub id: EnrollmentId,
    pub workflow_id: WorkflowId,
    /// The published revision it runs.
    pub revision: i64,
    pub record_id: RecordId,
    #[schema(value_type = EnrollmentState)]
    pub state: &'static str,
    /// Index of the next step in the flattened program.
    pub step: i64,
    pub due_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&EnrollmentRow> for Enrollment {
    fn from(e: &EnrollmentRow) -> Self {
        Self {
            id: e.id.clone(),
            workflow_id: e.workflow_id.clone(),
            revision: e.revision,
            record_id: e.record_id.clone(),
            state: e.state.as_str(),
            step: e.step,
            due_at: e.due_at,
            last_error: e.last_error.clone(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// One execution of one action (R15).
#[derive(Serialize, ToSchema)]
pub struct ActionLog {
    pub id: ActionLogId,
    pub workflow_id: WorkflowId,
    pub action_id: String,
    pub record_id: RecordId,
    pub enrollment_id: EnrollmentId,
    pub outcome: Outcome,
    pub reason_code: Option<ReasonCode>,
    pub reason: Option<String>,
    pub message_id: Option<MessageId>,
    pub at: DateTime<Utc>,
}

impl From<&ActionLogRow> for ActionLog {
    fn from(l: &ActionLogRow) -> Self {
        Self {
            id: l.id.clone(),
            workflow_id: l.workflow_id.clone(),
            action_id: l.action_id.clone(),
            record_id: l.record_id.clone(),
            enrollment_id: l.enrollment_id.clone(),
            outcome: l.outcome,
            reason_code: l.reason_code,
            reason: l.reason.clone(),
            message_id: l.message_id.clone(),
            at: l.at,
        }
    }
}

/// One SMS, outbound or inbound.
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub direction: Direction,
    pub from: E164,
    pub to: E164,
    pub body: String,
    pub encoding: Encoding,
    pub segments: i64,
    pub status: MessageStatus,
    pub provider: String,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub number_id: Option<NumberId>,
    pub user_id: Option<UserId>,
    pub record_id: Option<RecordId>,
    pub workflow_id: Option<WorkflowId>,
    pub conversation_id: Option<ConversationId>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&MessageRow> for Message {
    fn from(m: &MessageRow) -> Self {
        Self {
            id: m.id.clone(),
            direction: m.direction,
            from: m.from.clone(),
            to: m.to.clone(),
            body: m.body.clone(),
            encoding: m.encoding,
            segments: m.segments,
            status: m.status,
            provider: m.provider.clone(),
            provider_message_id: m.provider_message_id.clone(),
            error_code: m.error_code.clone(),
            error: m.error.clone(),
            number_id: m.number_id.clone(),
            user_id: m.user_id.clone(),
            record_id: m.record_id.clone(),
            workflow_id: m.workflow_id.clone(),
            conversation_id: m.conversation_id.clone(),
            idempotency_key: m.idempotency_key.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // describes `Engagement::kind`
enum EngagementType {
    SmsSent,
    SmsReceived,
    SubscriptionChanged,
}

/// An entry on a record's timeline (R14).
#[derive(Serialize, ToSchema)]
pub struct Engagement {
    pub id: EngagementId,
    #[serde(rename = "type")]
    #[schema(value_type = EngagementType)]
    pub kind: String,
    pub message_id: Option<MessageId>,
    pub body: String,
    pub at: DateTime<Utc>,
}

impl From<&EngagementRow> for Engagement {
    fn from(e: &EngagementRow) -> Self {
        Self {
            id: e.id.clone(),
            kind: e.kind.clone(),
            message_id: e.message_id.clone(),
            body: e.body.clone(),
            at: e.at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionType {
    pub id: SubscriptionTypeId,
    pub name: String,
    pub purpose: Purpose,
    pub created_at: DateTime<Utc>,
}

impl From<&SubscriptionTypeRow> for SubscriptionType {
    fn from(t: &SubscriptionTypeRow) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            purpose: t.purpose,
            created_at: t.created_at,
        }
    }
}

/// A conversation: one phone and one of the account's numbers.
#[derive(Serialize, ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub number_id: NumberId,
    pub phone: E164,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    /// Why an agent should look (an unanswered inbound message…); null
    /// when nothing waits.
    pub needs_attention: Option<String>,
}

impl From<&ConversationRow> for Conversation {
    fn from(c: &ConversationRow) -> Self {
        Self {
            id: c.id.clone(),
            number_id: c.number_id.clone(),
            phone: c.phone.clone(),
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            needs_attention: c.needs_attention.clone(),
        }
    }
}

/// A choice in a form field (R2, R3): the value to save and what to show.
#[derive(Serialize, ToSchema)]
pub struct FieldOption {
    pub value: String,
    pub label: String,
    /// The number itself, for number options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e164: Option<E164>,
}
