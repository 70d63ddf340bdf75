//! HubSpot custom workflow action: portals (which account a HubSpot portal
//! belongs to, with the secrets to verify and answer it), executions
//! (deduplicated on HubSpot's `callbackId`; deferred ones wait for their due
//! time and their callback completion) and the outbox of communications to
//! log on HubSpot records. Due work is claimed by moving `due_at` past a
//! lease, so two nodes never post the same item at once.

use crate::rows::{int, opt_int, opt_text, opt_time, text, time};
use crate::tx::{i, oi, ot, t};
use crate::{ms, Result, Store, StoreTx};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, ConversationId, MessageId};
use sqlx::any::AnyRow;

/// One connected HubSpot portal. `client_secret` and `access_token` are
/// secrets: never show or log them.
#[derive(Clone, PartialEq)]
pub struct HubspotPortalRow {
    pub portal_id: String,
    pub account_id: AccountId,
    pub client_secret: String,
    pub app_id: Option<String>,
    pub access_token: String,
    pub api_base_url: String,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for HubspotPortalRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubspotPortalRow")
            .field("portal_id", &self.portal_id)
            .field("account_id", &self.account_id)
            .field("client_secret", &"<redacted>")
            .field("app_id", &self.app_id)
            .field("access_token", &"<redacted>")
            .field("api_base_url", &self.api_base_url)
            .finish()
    }
}

/// One execution HubSpot asked for. `state`: `running` (being answered),
/// `done` (answered or completed), `deferred` (waits for `due_at`),
/// `completing` (sent or failed; the callback completion is still due).
#[derive(Debug, Clone, PartialEq)]
pub struct HubspotExecutionRow {
    pub callback_id: String,
    pub account_id: AccountId,
    pub portal_id: String,
    pub message_id: Option<MessageId>,
    pub state: String,
    /// What to send, for a deferred execution.
    pub request: serde_json::Value,
    /// The `outputFields` answered (or to complete with).
    pub output: serde_json::Value,
    pub due_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A communication to log on a HubSpot record. `state`: `pending`,
/// `logged`, `dropped` (the message never went out, or HubSpot refused).
#[derive(Debug, Clone, PartialEq)]
pub struct HubspotLogRow {
    pub id: String,
    pub account_id: AccountId,
    pub portal_id: String,
    pub message_id: MessageId,
    /// `outbound` | `inbound`.
    pub direction: String,
    /// HubSpot's object type as it sent it (`CONTACT`, `0-1`, …).
    pub object_type: String,
    pub object_id: String,
    pub state: String,
    pub due_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub communication_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Claiming an execution: new, or the one stored under that callbackId.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionClaim {
    New,
    Existing(Box<HubspotExecutionRow>),
}

const PORTAL_COLS: &str =
    "portal_id, account_id, client_secret, app_id, access_token, api_base_url, created_at";
const EXEC_COLS: &str = "callback_id, account_id, portal_id, message_id, state, request_json, output_json, due_at, attempts, last_error, created_at, updated_at";
const LOG_COLS: &str =
    "id, account_id, portal_id, message_id, direction, object_type, object_id, state, due_at, attempts, last_error, communication_id, created_at";

fn portal_row(r: &AnyRow) -> Result<HubspotPortalRow> {
    Ok(HubspotPortalRow {
        portal_id: text(r, "portal_id")?,
        account_id: AccountId::from_string(text(r, "account_id")?),
        client_secret: text(r, "client_secret")?,
        app_id: opt_text(r, "app_id")?,
        access_token: text(r, "access_token")?,
        api_base_url: text(r, "api_base_url")?,
        created_at: time(r, "created_at")?,
    })
}

fn exec_row(r: &AnyRow) -> Result<HubspotExecutionRow> {
    Ok(HubspotExecutionRow {
        callback_id: text(r, "callback_id")?,
        account_id: AccountId::from_string(text(r, "account_id")?),
        portal_id: text(r, "portal_id")?,
        message_id: opt_text(r, "message_id")?.map(MessageId::from_string),
        state: text(r, "state")?,
        request: crate::rows::json(r, "request_json")?,
        output: crate::rows::json(r, "output_json")?,
        due_at: opt_time(r, "due_at")?,
        attempts: int(r, "attempts")?,
        last_error: opt_text(r, "last_error")?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

fn log_row(r: &AnyRow) -> Result<HubspotLogRow> {
    Ok(HubspotLogRow {
        id: text(r, "id")?,
        account_id: AccountId::from_string(text(r, "account_id")?),
        portal_id: text(r, "portal_id")?,
        message_id: MessageId::from_string(text(r, "message_id")?),
        direction: text(r, "direction")?,
        object_type: text(r, "object_type")?,
        object_id: text(r, "object_id")?,
        state: text(r, "state")?,
        due_at: opt_time(r, "due_at")?,
        attempts: opt_int(r, "attempts")?.unwrap_or(0),
        last_error: opt_text(r, "last_error")?,
        communication_id: opt_text(r, "communication_id")?,
        created_at: time(r, "created_at")?,
    })
}

impl Store {
    /// Connects a portal to an account, or replaces its settings.
    pub async fn upsert_hubspot_portal(&self, p: &HubspotPortalRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO hubspot_portals (portal_id, account_id, client_secret, app_id, access_token, api_base_url, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (portal_id) DO UPDATE SET account_id = excluded.account_id, \
             client_secret = excluded.client_secret, app_id = excluded.app_id, access_token = excluded.access_token, \
             api_base_url = excluded.api_base_url",
        )
        .bind(p.portal_id.as_str())
        .bind(p.account_id.as_str())
        .bind(p.client_secret.as_str())
        .bind(p.app_id.clone())
        .bind(p.access_token.as_str())
        .bind(p.api_base_url.as_str())
        .bind(ms(p.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn hubspot_portal(&self, portal_id: &str) -> Result<Option<HubspotPortalRow>> {
        let row = sqlx::query(&format!(
            "SELECT {PORTAL_COLS} FROM hubspot_portals WHERE portal_id = $1"
        ))
        .bind(portal_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(portal_row).transpose()
    }

    pub async fn hubspot_portals_of_account(
        &self,
        account: &AccountId,
    ) -> Result<Vec<HubspotPortalRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {PORTAL_COLS} FROM hubspot_portals WHERE account_id = $1 ORDER BY portal_id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(portal_row).collect()
    }

    /// Stores a new execution as `running`, unless its callbackId is known:
    /// then the stored one comes back and nothing is written.
    pub async fn claim_hubspot_execution(&self, e: &HubspotExecutionRow) -> Result<ExecutionClaim> {
        let inserted = sqlx::query(
            "INSERT INTO hubspot_executions (callback_id, account_id, portal_id, message_id, state, request_json, output_json, due_at, attempts, last_error, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (callback_id) DO NOTHING",
        )
        .bind(e.callback_id.as_str())
        .bind(e.account_id.as_str())
        .bind(e.portal_id.as_str())
        .bind(e.message_id.as_ref().map(|m| m.to_string()))
        .bind(e.state.as_str())
        .bind(e.request.to_string())
        .bind(e.output.to_string())
        .bind(e.due_at.map(ms))
        .bind(e.attempts)
        .bind(e.last_error.clone())
        .bind(ms(e.created_at))
        .bind(ms(e.updated_at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(ExecutionClaim::New);
        }
        let row = sqlx::query(&format!(
            "SELECT {EXEC_COLS} FROM hubspot_executions WHERE callback_id = $1"
        ))
        .bind(e.callback_id.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(ExecutionClaim::Existing(Box::new(exec_row(&row)?)))
    }

    pub async fn hubspot_execution(
        &self,
        callback_id: &str,
    ) -> Result<Option<HubspotExecutionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {EXEC_COLS} FROM hubspot_executions WHERE callback_id = $1"
        ))
        .bind(callback_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(exec_row).transpose()
    }

    /// Forgets an execution whose answer failed before anything was sent,
    /// so HubSpot's retry runs it afresh.
    pub async fn delete_hubspot_execution(&self, callback_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM hubspot_executions WHERE callback_id = $1 AND state = 'running'")
            .bind(callback_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets an execution's state and answer outside a send.
    pub async fn update_hubspot_execution(
        &self,
        callback_id: &str,
        state: &str,
        output: &serde_json::Value,
        due_at: Option<DateTime<Utc>>,
        last_error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE hubspot_executions SET state = $1, output_json = $2, due_at = $3, last_error = $4, updated_at = $5, \
             attempts = CASE WHEN $4 IS NULL THEN attempts ELSE attempts + 1 END WHERE callback_id = $6",
        )
        .bind(state)
        .bind(output.to_string())
        .bind(due_at.map(ms))
        .bind(last_error.map(str::to_string))
        .bind(ms(at))
        .bind(callback_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Leases executions due at `now` (deferred sends, pending completions).
    pub async fn claim_due_hubspot_executions(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<HubspotExecutionRow>> {
        let due = |now: &str| format!("state IN ('deferred', 'completing') AND due_at <= {now}");
        if !self
            .may_be_due("hubspot_executions", &due("$1"), now)
            .await?
        {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "UPDATE hubspot_executions SET due_at = $1 WHERE callback_id IN (SELECT callback_id FROM hubspot_executions \
             WHERE {} ORDER BY due_at LIMIT $3 {}) RETURNING {EXEC_COLS}",
            due("$2"),
            self.skip_locked()
        ))
        .bind(ms(lease_until))
        .bind(ms(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(exec_row).collect()
    }

    /// Leases communications due to be logged at `now`.
    pub async fn claim_due_hubspot_logs(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<HubspotLogRow>> {
        let due = |now: &str| format!("state = 'pending' AND due_at <= {now}");
        if !self.may_be_due("hubspot_logs", &due("$1"), now).await? {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "UPDATE hubspot_logs SET due_at = $1 WHERE id IN (SELECT id FROM hubspot_logs \
             WHERE {} ORDER BY due_at LIMIT $3 {}) RETURNING {LOG_COLS}",
            due("$2"),
            self.skip_locked()
        ))
        .bind(ms(lease_until))
        .bind(ms(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(log_row).collect()
    }

    /// Moves a log entry on: `pending` again at `due_at`, `logged`, `dropped`.
    pub async fn update_hubspot_log(
        &self,
        id: &str,
        state: &str,
        due_at: Option<DateTime<Utc>>,
        last_error: Option<&str>,
        communication_id: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE hubspot_logs SET state = $1, due_at = $2, last_error = $3, communication_id = $4, \
             attempts = CASE WHEN $3 IS NULL THEN attempts ELSE attempts + 1 END WHERE id = $5",
        )
        .bind(state)
        .bind(due_at.map(ms))
        .bind(last_error.map(str::to_string))
        .bind(communication_id.map(str::to_string))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The HubSpot record a conversation belongs to: the outbound log of the
    /// conversation's last outbound message, when HubSpot sent it.
    pub async fn hubspot_link_of_conversation(
        &self,
        account: &AccountId,
        conversation: &ConversationId,
    ) -> Result<Option<HubspotLogRow>> {
        let cols: Vec<String> = LOG_COLS.split(", ").map(|c| format!("l.{c}")).collect();
        let row = sqlx::query(&format!(
            "SELECT {} FROM hubspot_logs l WHERE l.direction = 'outbound' AND l.message_id = \
             (SELECT m.id FROM messages m WHERE m.account_id = $1 AND m.conversation_id = $2 AND m.direction = 'outbound' \
              ORDER BY m.created_at DESC, m.id DESC LIMIT 1)",
            cols.join(", ")
        ))
        .bind(account.as_str())
        .bind(conversation.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(log_row).transpose()
    }
}

impl StoreTx {
    /// Queues communications to log, in the transaction of their message.
    pub async fn insert_hubspot_logs(&mut self, list: &[HubspotLogRow]) -> Result<()> {
        let rows = list
            .iter()
            .map(|l| {
                vec![
                    t(l.id.as_str()),
                    t(l.account_id.as_str()),
                    t(l.portal_id.as_str()),
                    t(l.message_id.as_str()),
                    t(l.direction.as_str()),
                    t(l.object_type.as_str()),
                    t(l.object_id.as_str()),
                    t(l.state.as_str()),
                    oi(l.due_at.map(ms)),
                    i(l.attempts),
                    ot(l.last_error.clone()),
                    ot(l.communication_id.clone()),
                    i(ms(l.created_at)),
                ]
            })
            .collect();
        let columns: Vec<&str> = LOG_COLS.split(", ").collect();
        self.insert_rows("hubspot_logs", &columns, rows, "").await
    }

    /// Sets an execution's outcome in the transaction that queued its
    /// message, so a crash cannot leave a sent message with a `running`
    /// execution (which a retry would send again).
    pub async fn finish_hubspot_execution(
        &mut self,
        callback_id: &str,
        state: &str,
        message_id: Option<&MessageId>,
        output: &serde_json::Value,
        due_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "UPDATE hubspot_executions SET state = $1, message_id = $2, output_json = $3, due_at = $4, updated_at = $5 WHERE callback_id = $6",
            vec![
                t(state),
                ot(message_id.map(|m| m.to_string())),
                t(output.to_string()),
                oi(due_at.map(ms)),
                i(ms(at)),
                t(callback_id),
            ],
        )
        .await?;
        Ok(())
    }
}
