//! [`StoreTx`]: one transaction in which the engine writes a step's domain
//! changes together with the work they create — record, enrollments,
//! counters, messages, action logs, engagements — so a crash leaves either
//! all of it or none (R25).

use crate::enrollments::{EnrollmentState, NewEnrollment};
use crate::messages::{serde_str, ActionLogRow, EngagementRow, NewMessage};
use crate::rows::{int, text, Columns};
use crate::writer::{LiteRow, WriteTx};
use crate::{ms, Backend, Result, StoreError};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, EnrollmentId, MessageId};
use smsflow_core::limits::CounterKey;
use smsflow_core::message::{Outcome, ReasonCode};
use smsflow_core::object::Record;
use sqlx::{Any, Transaction};

/// How many of the wanted sends the counters allow, and which limit stopped
/// the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterGrant {
    pub granted: i64,
    /// The first counter (in key order) that had no room left.
    pub exhausted: Option<CounterKey>,
}

pub struct StoreTx {
    conn: TxConn,
}

enum TxConn {
    /// PostgreSQL, through sqlx.
    Sqlx(Transaction<'static, Any>),
    /// SQLite, through rusqlite (see [`crate::writer`]).
    Sqlite(WriteTx),
}

/// A row read inside a transaction.
pub(crate) enum TxRow {
    Any(sqlx::any::AnyRow),
    Lite(LiteRow),
}

impl Columns for TxRow {
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match self {
            TxRow::Any(r) => r.opt_text(col),
            TxRow::Lite(r) => r.opt_text(col),
        }
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match self {
            TxRow::Any(r) => r.opt_int(col),
            TxRow::Lite(r) => r.opt_int(col),
        }
    }
}

/// A bind value for the multi-row statements.
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
}

pub(crate) fn t(s: impl Into<String>) -> Arg {
    Arg::Text(Some(s.into()))
}
pub(crate) fn ot(s: Option<impl Into<String>>) -> Arg {
    Arg::Text(s.map(Into::into))
}
pub(crate) fn i(v: i64) -> Arg {
    Arg::Int(Some(v))
}
pub(crate) fn oi(v: Option<i64>) -> Arg {
    Arg::Int(v)
}

/// Rows per multi-row statement: a whole batch (512 by default) in one
/// statement, because every statement of a transaction is a round trip
/// that holds the one writer connection on SQLite (BENCHMARKS.md) …
const MAX_ROWS: usize = 1000;
/// … and under both databases' bind-parameter limits (32,766 on SQLite,
/// 65,535 on PostgreSQL) however wide the table.
const MAX_PARAMS: usize = 30_000;

fn rows_per_statement(width: usize) -> usize {
    (MAX_PARAMS / width.max(1)).clamp(1, MAX_ROWS)
}

/// Writes `(…), (…)` for `rows` rows of `width` parameters, starting after
/// `first - 1` parameters already in the statement.
pub(crate) fn values_list(backend: Backend, rows: usize, width: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 4);
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            // SQLite looks a named parameter (`$N`) up by a linear scan on
            // every bind, which makes a 100-row statement quadratic in its
            // parameters; anonymous `?` are bound by position in O(1). The
            // order is the same.
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
            n += 1;
        }
        sql.push(')');
    }
    sql
}

fn bind_args<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for arg in args {
        q = match arg {
            Arg::Text(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
        };
    }
    q
}

/// One enrollment's next position, for [`StoreTx::update_enrollments`].
#[derive(Debug, Clone)]
pub struct EnrollmentUpdate<'a> {
    pub id: &'a EnrollmentId,
    pub state: EnrollmentState,
    pub step: i64,
    pub due_at: Option<DateTime<Utc>>,
    pub last_error: Option<&'a str>,
}

/// One accepted hand-off, for [`StoreTx::mark_handed_off_many`].
#[derive(Debug, Clone)]
pub struct HandOff<'a> {
    pub id: &'a MessageId,
    pub provider_message_id: &'a str,
    pub status: smsflow_core::message::MessageStatus,
}

impl StoreTx {
    pub(crate) fn postgres(tx: Transaction<'static, Any>) -> Self {
        Self {
            conn: TxConn::Sqlx(tx),
        }
    }

    pub(crate) fn sqlite(tx: WriteTx) -> Self {
        Self {
            conn: TxConn::Sqlite(tx),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self.conn {
            TxConn::Sqlx(_) => Backend::Postgres,
            TxConn::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub async fn commit(self) -> Result<()> {
        match self.conn {
            TxConn::Sqlx(tx) => tx.commit().await?,
            TxConn::Sqlite(tx) => tx.commit()?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        match self.conn {
            TxConn::Sqlx(tx) => tx.rollback().await?,
            TxConn::Sqlite(tx) => tx.rollback()?,
        }
        Ok(())
    }

    /// Runs one statement with `args` bound in order (`$N` to the N-th);
    /// answers the rows it changed.
    pub(crate) async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64> {
        match &mut self.conn {
            TxConn::Sqlx(tx) => Ok(bind_args(sqlx::query(sql), args)
                .execute(&mut **tx)
                .await?
                .rows_affected()),
            TxConn::Sqlite(tx) => tx.execute(sql, &args),
        }
    }

    /// Runs one statement and reads every row it answers.
    pub(crate) async fn fetch_all(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<TxRow>> {
        Ok(match &mut self.conn {
            TxConn::Sqlx(tx) => bind_args(sqlx::query(sql), args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(TxRow::Any)
                .collect(),
            TxConn::Sqlite(tx) => tx
                .fetch_all(sql, &args)?
                .into_iter()
                .map(TxRow::Lite)
                .collect(),
        })
    }

    /// `INSERT INTO table (columns) VALUES (…), (…) [suffix]` in chunks that
    /// stay under both databases' bind-parameter limits.
    pub(crate) async fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Arg>>,
        suffix: &str,
    ) -> Result<()> {
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Arg>> = rows
                .by_ref()
                .take(rows_per_statement(columns.len()))
                .collect();
            debug_assert!(chunk.iter().all(|r| r.len() == columns.len()));
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {} {suffix}",
                columns.join(", "),
                values_list(self.backend(), chunk.len(), columns.len(), 1)
            );
            self.execute(&sql, chunk.into_iter().flatten().collect())
                .await?;
        }
        Ok(())
    }

    /// `UPDATE … FROM (VALUES (…), …) AS v WHERE …` in chunks: one statement
    /// per hundred rows instead of one per row. `statement` holds `{values}`
    /// where the list goes; the columns of `v` are `column1…columnN` on both
    /// databases. Answers the rows updated.
    async fn update_from_values(
        &mut self,
        statement: &str,
        width: usize,
        rows: Vec<Vec<Arg>>,
    ) -> Result<u64> {
        let mut updated = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Arg>> = rows.by_ref().take(rows_per_statement(width)).collect();
            debug_assert!(chunk.iter().all(|r| r.len() == width));
            let sql = statement.replace(
                "{values}",
                &values_list(self.backend(), chunk.len(), width, 1),
            );
            updated += self
                .execute(&sql, chunk.into_iter().flatten().collect())
                .await?;
        }
        Ok(updated)
    }

    /// Inserts new records and updates existing ones.
    pub async fn upsert_records(&mut self, account: &AccountId, records: &[Record]) -> Result<()> {
        let rows = records
            .iter()
            .map(|r| {
                vec![
                    t(r.id.as_str()),
                    t(account.as_str()),
                    t(r.object_type.as_str()),
                    t(serde_json::Value::Object(r.properties.clone()).to_string()),
                    t(crate::rows::to_json(&r.associations)),
                    i(ms(r.created_at)),
                    i(ms(r.updated_at)),
                ]
            })
            .collect();
        self.insert_rows(
            "records",
            &[
                "id",
                "account_id",
                "object_type",
                "properties",
                "associations",
                "created_at",
                "updated_at",
            ],
            rows,
            "ON CONFLICT (id) DO UPDATE SET properties = excluded.properties, \
             associations = excluded.associations, updated_at = excluded.updated_at",
        )
        .await
    }

    pub async fn delete_record(&mut self, account: &AccountId, record: &Record) -> Result<()> {
        let done = self
            .execute(
                "DELETE FROM records WHERE account_id = $1 AND id = $2",
                vec![t(account.as_str()), t(record.id.as_str())],
            )
            .await?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.execute(
            "DELETE FROM record_phones \
             WHERE account_id = $1 AND object_type = $2 AND record_id = $3",
            vec![
                t(account.as_str()),
                t(record.object_type.as_str()),
                t(record.id.as_str()),
            ],
        )
        .await?;
        // A deleted record leaves its workflows (HubSpot unenrolls it too).
        self.execute(
            "UPDATE enrollments SET state = 'unenrolled', due_at = NULL, lease_owner = NULL, lease_until = NULL \
             WHERE account_id = $1 AND record_id = $2 AND state IN ('active', 'waiting')",
            vec![t(account.as_str()), t(record.id.as_str())],
        )
        .await?;
        Ok(())
    }

    /// New enrollments, due at once.
    pub async fn insert_enrollments(&mut self, list: &[NewEnrollment]) -> Result<()> {
        let rows = list
            .iter()
            .map(|e| {
                vec![
                    t(e.id.as_str()),
                    t(e.account_id.as_str()),
                    t(e.workflow_id.as_str()),
                    i(e.revision),
                    t(e.record_id.as_str()),
                    t(EnrollmentState::Active.as_str()),
                    i(0),
                    i(ms(e.at)),
                    i(0),
                    i(ms(e.at)),
                    i(ms(e.at)),
                ]
            })
            .collect();
        self.insert_rows(
            "enrollments",
            &[
                "id",
                "account_id",
                "workflow_id",
                "revision",
                "record_id",
                "state",
                "step",
                "due_at",
                "attempts",
                "created_at",
                "updated_at",
            ],
            rows,
            "",
        )
        .await
    }

    /// Moves a leased enrollment on and releases its lease. Fails with
    /// `Conflict` if this node no longer holds the lease (another node took
    /// the work over), so nothing of this batch is committed twice.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_enrollment(
        &mut self,
        id: &EnrollmentId,
        lease_owner: &str,
        state: EnrollmentState,
        step: i64,
        due_at: Option<DateTime<Utc>>,
        last_error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.update_enrollments(
            lease_owner,
            &[EnrollmentUpdate {
                id,
                state,
                step,
                due_at,
                last_error,
            }],
            at,
        )
        .await
    }

    /// [`Self::update_enrollment`] for a whole batch in a few statements.
    /// Fails with `Conflict` if this node lost the lease on any of them, so
    /// nothing of the batch is committed twice.
    pub async fn update_enrollments(
        &mut self,
        lease_owner: &str,
        updates: &[EnrollmentUpdate<'_>],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let rows = updates
            .iter()
            .map(|u| {
                vec![
                    t(u.id.as_str()),
                    t(u.state.as_str()),
                    i(u.step),
                    oi(u.due_at.map(ms)),
                    ot(u.last_error),
                    i(ms(at)),
                    t(lease_owner),
                ]
            })
            .collect();
        let updated = self
            .update_from_values(
                "UPDATE enrollments SET state = v.column2, step = v.column3, due_at = v.column4, \
                 last_error = v.column5, updated_at = v.column6, lease_owner = NULL, lease_until = NULL, \
                 attempts = 0 FROM (VALUES {values}) AS v \
                 WHERE enrollments.id = v.column1 AND enrollments.lease_owner = v.column7",
                7,
                rows,
            )
            .await?;
        if updated != updates.len() as u64 {
            return Err(StoreError::Conflict(format!(
                "lease lost on {} of {} enrollments",
                updates.len() as u64 - updated,
                updates.len()
            )));
        }
        Ok(())
    }

    /// Reserves up to `want` sends against every counter in `keys`
    /// (each with its limit) in one atomic step (R9). Counters are locked in
    /// a fixed order so concurrent reservations cannot deadlock.
    pub async fn reserve(
        &mut self,
        account: &AccountId,
        keys: &[(CounterKey, i64)],
        want: i64,
    ) -> Result<CounterGrant> {
        let mut keys: Vec<(&CounterKey, &i64)> = keys.iter().map(|(k, l)| (k, l)).collect();
        keys.sort_by(|a, b| {
            (a.0.subject.kind(), a.0.subject.id(), &a.0.period).cmp(&(
                b.0.subject.kind(),
                b.0.subject.id(),
                &b.0.period,
            ))
        });
        // A key listed twice draws on its counter once, under the lower limit.
        let mut distinct: Vec<(&CounterKey, i64)> = Vec::with_capacity(keys.len());
        for (key, limit) in keys {
            match distinct.last_mut() {
                Some((last, l)) if *last == key => *l = (*l).min(*limit),
                _ => distinct.push((key, *limit)),
            }
        }
        if distinct.is_empty() {
            return Ok(CounterGrant {
                granted: want.max(0),
                exhausted: None,
            });
        }
        let triple =
            |k: &CounterKey| vec![t(k.subject.kind()), t(k.subject.id()), t(k.period.as_str())];
        // Three statements however many counters: every statement is a
        // round trip on the connection the transaction holds.
        self.insert_rows(
            "send_counters",
            &[
                "account_id",
                "subject_kind",
                "subject_id",
                "period",
                "count",
            ],
            distinct
                .iter()
                .map(|(k, _)| {
                    let mut row = vec![t(account.as_str())];
                    row.extend(triple(k));
                    row.push(i(0));
                    row
                })
                .collect(),
            "ON CONFLICT (subject_kind, subject_id, period) DO NOTHING",
        )
        .await?;
        // PostgreSQL locks the rows in the order of the sort, the same on
        // every node, so concurrent reservations cannot deadlock.
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE OF send_counters",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT subject_kind, subject_id, period, count FROM send_counters \
             WHERE (subject_kind, subject_id, period) IN (VALUES {}) \
             ORDER BY subject_kind, subject_id, period{lock}",
            values_list(self.backend(), distinct.len(), 3, 1)
        );
        let rows = self
            .fetch_all(&sql, distinct.iter().flat_map(|(k, _)| triple(k)).collect())
            .await?;
        let mut counts = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let key: (String, String, String) = (
                text(r, "subject_kind")?,
                text(r, "subject_id")?,
                text(r, "period")?,
            );
            counts.insert(key, int(r, "count")?);
        }
        let mut granted = want.max(0);
        let mut exhausted = None;
        for (key, limit) in &distinct {
            let count = counts
                .get(&(
                    key.subject.kind().to_string(),
                    key.subject.id().to_string(),
                    key.period.clone(),
                ))
                .copied()
                .ok_or_else(|| StoreError::Corrupt(format!("counter {key:?} vanished")))?;
            let room = (limit - count).max(0);
            if room < granted {
                granted = room;
                if exhausted.is_none() {
                    exhausted = Some((*key).clone());
                }
            }
        }
        if granted > 0 {
            let sql = format!(
                "UPDATE send_counters SET count = count + {} \
                 WHERE (subject_kind, subject_id, period) IN (VALUES {})",
                match self.backend() {
                    Backend::Sqlite => "?".to_string(),
                    Backend::Postgres => "$1".to_string(),
                },
                values_list(self.backend(), distinct.len(), 3, 2)
            );
            let mut args = vec![i(granted)];
            args.extend(distinct.iter().flat_map(|(k, _)| triple(k)));
            self.execute(&sql, args).await?;
        }
        Ok(CounterGrant { granted, exhausted })
    }

    /// Gives back reservations of messages that never reached a provider.
    pub async fn release(
        &mut self,
        subjects: &[(&str, &str)],
        periods: &[String],
        n: i64,
    ) -> Result<()> {
        for (kind, id) in subjects {
            for period in periods {
                self.execute(
                    "UPDATE send_counters SET count = CASE WHEN count >= $1 THEN count - $1 ELSE 0 END \
                     WHERE subject_kind = $2 AND subject_id = $3 AND period = $4",
                    vec![i(n), t(*kind), t(*id), t(period.as_str())],
                )
                .await?;
            }
        }
        Ok(())
    }

    pub async fn insert_messages(&mut self, list: &[NewMessage]) -> Result<()> {
        self.write_messages(list, None).await
    }

    /// Inserts messages leased to `owner` until `until`: a node that hands
    /// its own new messages off at once needs no claim of them (their
    /// status and attempts say `sending`, 1).
    pub async fn insert_messages_leased(
        &mut self,
        list: &[NewMessage],
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<()> {
        self.write_messages(list, Some((owner, until))).await
    }

    async fn write_messages(
        &mut self,
        list: &[NewMessage],
        lease: Option<(&str, DateTime<Utc>)>,
    ) -> Result<()> {
        let (owner, until) = match lease {
            Some((owner, until)) => (Some(owner), Some(ms(until))),
            None => (None, None),
        };
        let rows = list
            .iter()
            .map(|m| {
                let r = &m.row;
                vec![
                    t(r.id.as_str()),
                    t(m.account_id.as_str()),
                    t(serde_str(&r.direction)),
                    t(r.from.as_str()),
                    t(r.to.as_str()),
                    t(r.body.as_str()),
                    t(r.encoding.as_str()),
                    i(r.segments),
                    t(r.status.as_str()),
                    t(r.provider.as_str()),
                    ot(r.provider_message_id.clone()),
                    ot(r.number_id.as_ref().map(|v| v.to_string())),
                    ot(r.user_id.as_ref().map(|v| v.to_string())),
                    ot(r.conversation_id.as_ref().map(|v| v.to_string())),
                    ot(r.record_id.as_ref().map(|v| v.to_string())),
                    ot(r.workflow_id.as_ref().map(|v| v.to_string())),
                    ot(r.enrollment_id.as_ref().map(|v| v.to_string())),
                    ot(r.action_id.clone()),
                    ot(r.idempotency_key.clone()),
                    t(m.counted_periods.join(",")),
                    // A message inserted leased is in its owner's hands, not
                    // in the outbox, until the reaper puts it back (which
                    // sets a due time): an outbox entry would only be added
                    // now and removed at its hand-off.
                    oi(m.due_at.filter(|_| lease.is_none()).map(ms)),
                    i(r.attempts),
                    i(ms(r.created_at)),
                    i(ms(r.updated_at)),
                    oi(r.handed_off_at.map(ms)),
                    ot(owner),
                    oi(until),
                ]
            })
            .collect();
        self.insert_rows(
            "messages",
            &[
                "id",
                "account_id",
                "direction",
                "from_e164",
                "to_e164",
                "body",
                "encoding",
                "segments",
                "status",
                "provider",
                "provider_message_id",
                "number_id",
                "user_id",
                "conversation_id",
                "record_id",
                "workflow_id",
                "enrollment_id",
                "action_id",
                "idempotency_key",
                "counted_periods",
                "due_at",
                "attempts",
                "created_at",
                "updated_at",
                "handed_off_at",
                "lease_owner",
                "lease_until",
            ],
            rows,
            "",
        )
        .await
    }

    pub async fn insert_action_logs(&mut self, list: &[ActionLogRow]) -> Result<()> {
        let rows = list
            .iter()
            .map(|l| {
                vec![
                    t(l.id.as_str()),
                    t(l.account_id.as_str()),
                    t(l.workflow_id.as_str()),
                    t(l.action_id.as_str()),
                    t(l.record_id.as_str()),
                    t(l.enrollment_id.as_str()),
                    t(l.outcome.as_str()),
                    ot(l.reason_code.map(|c| c.as_str())),
                    ot(l.reason.clone()),
                    ot(l.message_id.as_ref().map(|m| m.to_string())),
                    i(ms(l.at)),
                ]
            })
            .collect();
        self.insert_rows(
            "action_logs",
            &[
                "id",
                "account_id",
                "workflow_id",
                "action_id",
                "record_id",
                "enrollment_id",
                "outcome",
                "reason_code",
                "reason",
                "message_id",
                "at",
            ],
            rows,
            "",
        )
        .await
    }

    pub async fn insert_engagements(&mut self, list: &[EngagementRow]) -> Result<()> {
        let rows = list
            .iter()
            .map(|e| {
                vec![
                    t(e.id.as_str()),
                    t(e.account_id.as_str()),
                    t(e.record_id.as_str()),
                    t(e.kind.as_str()),
                    ot(e.message_id.as_ref().map(|m| m.to_string())),
                    t(e.body.as_str()),
                    i(ms(e.at)),
                ]
            })
            .collect();
        self.insert_rows(
            "engagements",
            &[
                "id",
                "account_id",
                "record_id",
                "kind",
                "message_id",
                "body",
                "at",
            ],
            rows,
            "",
        )
        .await
    }

    /// Records a successful hand-off: the message leaves the outbox.
    pub async fn mark_handed_off(
        &mut self,
        id: &MessageId,
        provider_message_id: &str,
        status: smsflow_core::message::MessageStatus,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.mark_handed_off_many(
            &[HandOff {
                id,
                provider_message_id,
                status,
            }],
            at,
        )
        .await
    }

    /// [`Self::mark_handed_off`] for many messages in a few statements.
    ///
    /// The status moves forward only (R13): from `queued` or `sending`, as
    /// a provider's webhook may have moved it on already. `queued` too: a
    /// hand-off that took longer than its lease finds its message requeued
    /// by the reaper, and it has left the outbox all the same (a second
    /// send under the same key is answered by the provider's idempotency).
    /// Left `queued` with no due time, it was a message neither the outbox
    /// nor the reaper would ever take again.
    pub async fn mark_handed_off_many(
        &mut self,
        list: &[HandOff<'_>],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let rows = list
            .iter()
            .map(|h| {
                vec![
                    t(h.id.as_str()),
                    t(h.provider_message_id),
                    t(h.status.as_str()),
                    i(ms(at)),
                ]
            })
            .collect();
        self.update_from_values(
            "UPDATE messages SET status = CASE WHEN messages.status IN ('queued', 'sending') THEN v.column3 \
             ELSE messages.status END, provider_message_id = v.column2, handed_off_at = v.column4, \
             updated_at = v.column4, due_at = NULL, lease_owner = NULL, lease_until = NULL \
             FROM (VALUES {values}) AS v WHERE messages.id = v.column1",
            4,
            rows,
        )
        .await?;
        Ok(())
    }

    /// Puts a message back in the outbox after a transient failure.
    pub async fn mark_retry(
        &mut self,
        id: &MessageId,
        retry_at: DateTime<Utc>,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "UPDATE messages SET status = 'queued', due_at = $1, error = $2, updated_at = $3, \
             lease_owner = NULL, lease_until = NULL WHERE id = $4",
            vec![i(ms(retry_at)), t(error), i(ms(at)), t(id.as_str())],
        )
        .await?;
        Ok(())
    }

    /// Fails a message for good and turns its action log entry into a
    /// failure naming the provider's code.
    pub async fn mark_failed(
        &mut self,
        id: &MessageId,
        code: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.execute(
            "UPDATE messages SET status = 'failed', error_code = $1, error = $2, updated_at = $3, due_at = NULL, \
             lease_owner = NULL, lease_until = NULL WHERE id = $4",
            vec![t(code), t(error), i(ms(at)), t(id.as_str())],
        )
        .await?;
        self.execute(
            "UPDATE action_logs SET outcome = $1, reason_code = $2, reason = $3 WHERE message_id = $4",
            vec![
                t(Outcome::Failed.as_str()),
                t(ReasonCode::ProviderError.as_str()),
                t(format!("provider refused the message ({code}): {error}")),
                t(id.as_str()),
            ],
        )
        .await?;
        Ok(())
    }

    /// Sets one property on a record inside the step's transaction.
    pub async fn update_record(&mut self, account: &AccountId, record: &Record) -> Result<()> {
        self.upsert_records(account, std::slice::from_ref(record))
            .await
    }
}
