//! Messages (the outbox is the set of messages with a `due_at`), action logs,
//! timeline engagements and usage counters.

use crate::rows::{int, opt_text, opt_time, parse, text, time, Columns};
use crate::{ms, Claim, Page, Result, Store, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::encoding::Encoding;
use smsflow_core::ids::{
    AccountId, ActionLogId, ConversationId, EngagementId, EnrollmentId, MessageId, NumberId,
    RecordId, UserId, WorkflowId,
};
use smsflow_core::message::{Direction, MessageStatus, Outcome, ReasonCode};
use smsflow_core::phone::E164;
use sqlx::any::AnyRow;

/// A message as stored and shown.
#[derive(Debug, Clone)]
pub struct MessageRow {
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
    pub conversation_id: Option<ConversationId>,
    pub record_id: Option<RecordId>,
    pub workflow_id: Option<WorkflowId>,
    pub enrollment_id: Option<EnrollmentId>,
    pub action_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub handed_off_at: Option<DateTime<Utc>>,
}

/// A message to insert: queued outbound ones carry `due_at` (when the
/// dispatcher may hand them off) and the counter periods they reserved.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub row: MessageRow,
    pub account_id: AccountId,
    pub due_at: Option<DateTime<Utc>>,
    /// The counter periods (`d2026-11-22`, `m2026-11`) this message reserved
    /// against its number and user, released if the provider refuses it.
    pub counted_periods: Vec<String>,
}

/// A message leased to this node for hand-off.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub account_id: AccountId,
    pub row: MessageRow,
    pub counted_periods: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ActionLogRow {
    pub id: ActionLogId,
    pub account_id: AccountId,
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

#[derive(Debug, Clone, Default)]
pub struct ActionLogFilter {
    pub outcome: Option<Outcome>,
    pub action_id: Option<String>,
    pub record_id: Option<RecordId>,
}

#[derive(Debug, Clone)]
pub struct EngagementRow {
    pub id: EngagementId,
    pub account_id: AccountId,
    pub record_id: RecordId,
    /// `sms_sent`, `sms_received`, `subscription_changed`.
    pub kind: String,
    pub message_id: Option<MessageId>,
    pub body: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub record_id: Option<RecordId>,
    pub workflow_id: Option<WorkflowId>,
    pub conversation_id: Option<ConversationId>,
    pub status: Option<MessageStatus>,
    pub direction: Option<Direction>,
    pub provider: Option<String>,
}

/// One send counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub subject_kind: String,
    pub subject_id: String,
    pub period: String,
    pub count: i64,
}

pub(crate) const MESSAGE_COLUMNS: &str = "id, account_id, direction, from_e164, to_e164, body, encoding, segments, \
    status, provider, provider_message_id, error_code, error, number_id, user_id, conversation_id, record_id, \
    workflow_id, enrollment_id, action_id, idempotency_key, counted_periods, attempts, created_at, updated_at, \
    handed_off_at";

fn opt_id<T>(r: &(impl Columns + ?Sized), col: &str, f: impl Fn(String) -> T) -> Result<Option<T>> {
    Ok(opt_text(r, col)?.map(f))
}

pub(crate) fn message_row(r: &(impl Columns + ?Sized)) -> Result<MessageRow> {
    Ok(MessageRow {
        id: MessageId::from_string(text(r, "id")?),
        direction: parse_serde(r, "direction")?,
        from: E164::from_trusted(text(r, "from_e164")?),
        to: E164::from_trusted(text(r, "to_e164")?),
        body: text(r, "body")?,
        encoding: parse_serde(r, "encoding")?,
        segments: int(r, "segments")?,
        status: parse(r, "status")?,
        provider: text(r, "provider")?,
        provider_message_id: opt_text(r, "provider_message_id")?,
        error_code: opt_text(r, "error_code")?,
        error: opt_text(r, "error")?,
        number_id: opt_id(r, "number_id", NumberId::from_string)?,
        user_id: opt_id(r, "user_id", UserId::from_string)?,
        conversation_id: opt_id(r, "conversation_id", ConversationId::from_string)?,
        record_id: opt_id(r, "record_id", RecordId::from_string)?,
        workflow_id: opt_id(r, "workflow_id", WorkflowId::from_string)?,
        enrollment_id: opt_id(r, "enrollment_id", EnrollmentId::from_string)?,
        action_id: opt_text(r, "action_id")?,
        idempotency_key: opt_text(r, "idempotency_key")?,
        attempts: int(r, "attempts")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
        handed_off_at: opt_time(r, "handed_off_at")?,
    })
}

/// Reads a snake_case enum stored as its serde string.
pub(crate) fn parse_serde<T: serde::de::DeserializeOwned>(
    r: &(impl Columns + ?Sized),
    col: &str,
) -> Result<T> {
    let raw = text(r, col)?;
    serde_json::from_value(serde_json::Value::String(raw))
        .map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn serde_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// An outbox message with its account and the counter periods it drew on.
pub(crate) fn outbox_row(r: &(impl Columns + ?Sized)) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        account_id: AccountId::from_string(text(r, "account_id")?),
        row: message_row(r)?,
        counted_periods: split_periods(opt_text(r, "counted_periods")?),
    })
}

pub(crate) fn split_periods(raw: Option<String>) -> Vec<String> {
    raw.map(|s| {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn action_log_row(r: &AnyRow) -> Result<ActionLogRow> {
    let reason_code = opt_text(r, "reason_code")?
        .map(|c| serde_json::from_value(serde_json::Value::String(c)))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("reason_code: {e}")))?;
    Ok(ActionLogRow {
        id: ActionLogId::from_string(text(r, "id")?),
        account_id: AccountId::from_string(text(r, "account_id")?),
        workflow_id: WorkflowId::from_string(text(r, "workflow_id")?),
        action_id: text(r, "action_id")?,
        record_id: RecordId::from_string(text(r, "record_id")?),
        enrollment_id: EnrollmentId::from_string(text(r, "enrollment_id")?),
        outcome: parse(r, "outcome")?,
        reason_code,
        reason: opt_text(r, "reason")?,
        message_id: opt_id(r, "message_id", MessageId::from_string)?,
        at: time(r, "at")?,
    })
}

impl Store {
    pub async fn get_message(&self, account: &AccountId, id: &MessageId) -> Result<MessageRow> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE account_id = $1 AND id = $2"
        ))
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        message_row(&row)
    }

    pub async fn list_messages(
        &self,
        account: &AccountId,
        filter: &MessageFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<MessageRow>> {
        let mut sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE account_id = $1 AND id > $2");
        let mut binds: Vec<String> = Vec::new();
        let mut add = |col: &str, v: Option<String>| {
            if let Some(v) = v {
                binds.push(v);
                sql.push_str(&format!(" AND {col} = ${}", binds.len() + 2));
            }
        };
        add(
            "record_id",
            filter.record_id.as_ref().map(|v| v.to_string()),
        );
        add(
            "workflow_id",
            filter.workflow_id.as_ref().map(|v| v.to_string()),
        );
        add(
            "conversation_id",
            filter.conversation_id.as_ref().map(|v| v.to_string()),
        );
        add("status", filter.status.map(|v| v.as_str().to_string()));
        add("direction", filter.direction.map(|v| serde_str(&v)));
        add("provider", filter.provider.clone());
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", binds.len() + 3));
        let mut q = sqlx::query(&sql)
            .bind(account.as_str())
            .bind(after.unwrap_or(""));
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows = q.bind(limit + 1).fetch_all(&self.pool).await?;
        let list = rows.iter().map(message_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(list, limit, |m| m.id.to_string()))
    }

    /// Leases up to `limit` queued messages that are due for hand-off and
    /// marks them `sending`. Only `queued` ones: a message left in `sending`
    /// by a node that died is the reaper's (R12), never re-sent blindly.
    pub async fn claim_outbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>> {
        let claim = Claim {
            table: "messages",
            columns: MESSAGE_COLUMNS,
            status: Some(("queued", "sending")),
        };
        self.claim_due(&claim, owner, now, lease_until, limit, |r| outbox_row(r))
            .await
    }

    /// Moves a message to a new status if that is forward (R13). Returns
    /// whether it moved.
    pub async fn advance_message_status(
        &self,
        account: &AccountId,
        id: &MessageId,
        status: MessageStatus,
        error_code: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let current = self.get_message(account, id).await?;
        if !current.status.can_move_to(status) {
            return Ok(false);
        }
        // The WHERE on the old status makes a concurrent callback that moved
        // it first win, instead of being overwritten.
        let done = sqlx::query(
            "UPDATE messages SET status = $1, error_code = COALESCE($2, error_code), updated_at = $3 \
             WHERE account_id = $4 AND id = $5 AND status = $6",
        )
        .bind(status.as_str())
        .bind(error_code)
        .bind(ms(at))
        .bind(account.as_str())
        .bind(id.as_str())
        .bind(current.status.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn list_action_logs(
        &self,
        account: &AccountId,
        workflow: &WorkflowId,
        filter: &ActionLogFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<ActionLogRow>> {
        let mut sql = String::from(
            "SELECT id, account_id, workflow_id, action_id, record_id, enrollment_id, outcome, reason_code, reason, \
             message_id, at FROM action_logs WHERE account_id = $1 AND workflow_id = $2 AND id > $3",
        );
        let mut binds: Vec<String> = Vec::new();
        for (col, v) in [
            ("outcome", filter.outcome.map(|o| o.as_str().to_string())),
            ("action_id", filter.action_id.clone()),
            (
                "record_id",
                filter.record_id.as_ref().map(|r| r.to_string()),
            ),
        ] {
            if let Some(v) = v {
                binds.push(v);
                sql.push_str(&format!(" AND {col} = ${}", binds.len() + 3));
            }
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", binds.len() + 4));
        let mut q = sqlx::query(&sql)
            .bind(account.as_str())
            .bind(workflow.as_str())
            .bind(after.unwrap_or(""));
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows = q.bind(limit + 1).fetch_all(&self.pool).await?;
        let list = rows
            .iter()
            .map(action_log_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(list, limit, |l| l.id.to_string()))
    }

    pub async fn timeline(
        &self,
        account: &AccountId,
        record: &RecordId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<EngagementRow>> {
        let rows = sqlx::query(
            "SELECT id, account_id, record_id, kind, message_id, body, at FROM engagements \
             WHERE account_id = $1 AND record_id = $2 AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(account.as_str())
        .bind(record.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(EngagementRow {
                    id: EngagementId::from_string(text(r, "id")?),
                    account_id: AccountId::from_string(text(r, "account_id")?),
                    record_id: RecordId::from_string(text(r, "record_id")?),
                    kind: text(r, "kind")?,
                    message_id: opt_id(r, "message_id", MessageId::from_string)?,
                    body: text(r, "body")?,
                    at: time(r, "at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(list, limit, |e| e.id.to_string()))
    }

    /// The account's counters for the given periods.
    pub async fn usage(&self, account: &AccountId, periods: &[String]) -> Result<Vec<UsageRow>> {
        let sql = format!(
            "SELECT subject_kind, subject_id, period, count FROM send_counters WHERE account_id = $1 AND period IN ({})",
            crate::records::placeholders(2, periods.len())
        );
        let sql = self.backend.positional(&sql);
        let mut q = sqlx::query(&sql).bind(account.as_str());
        for p in periods {
            q = q.bind(p.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(UsageRow {
                    subject_kind: text(r, "subject_kind")?,
                    subject_id: text(r, "subject_id")?,
                    period: text(r, "period")?,
                    count: int(r, "count")?,
                })
            })
            .collect()
    }
}
