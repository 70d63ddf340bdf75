//! Recovery and shared pacing for the dispatcher (R11, R12, §6).
//!
//! * The reaper takes over messages a dead node left in `sending` (their
//!   lease ran out): [`Store::claim_stale_sending`] leases them to the
//!   reaper, which puts them back in the outbox with the same key, records a
//!   hand-off the provider confirms, or marks them `unknown`.
//! * Heartbeats keep a live node's in-flight leases from running out
//!   ([`Store::extend_leases`]); a node that stops gives its leases
//!   back ([`Store::release_leases`]).
//! * Pacing: token buckets in the `pacing` table, reserved in one
//!   transaction under a row lock, so every node shares them.

use crate::messages::{outbox_row, MESSAGE_COLUMNS};
use crate::rows::int;
use crate::tx::{i, t};
use crate::{ms, Backend, OutboxMessage, Result, Store};
use chrono::{DateTime, Utc};
use smsflow_core::ids::MessageId;
use smsflow_core::message::{Outcome, ReasonCode};
use std::collections::BTreeMap;

/// The action log reason of a message whose hand-off is unknown (R12).
pub const HANDOFF_UNKNOWN_REASON: &str = "hand-off outcome unknown after a crash; not re-sent";

/// What a bucket charges: `cost_us` microseconds of its time per unit (a segment for a
/// number, a request for a provider account).
///
/// `lookahead_us`: how far ahead of now a slot may be granted. A number's
/// bucket looks a second ahead (segments whose slot falls within the next
/// second go out with this batch). A provider account's budget is per
/// rolling minute and must hold exactly, so its bucket looks ahead `0`: a
/// request goes out only once its slot has come, and no window of a minute
/// ever holds more than the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaceBucket {
    pub key: String,
    pub cost_us: i64,
    pub lookahead_us: i64,
}

/// One message's pacing demand: the buckets it draws from and how many
/// units from each.
#[derive(Debug, Clone)]
pub struct PaceDemand {
    pub buckets: Vec<(PaceBucket, i64)>,
}

/// Per demand: `None` when it may be sent now, or the time to try again.
pub type PaceGrant = Vec<Option<DateTime<Utc>>>;

impl Store {
    /// Leases to `owner` up to `limit` messages left in `sending` whose lease
    /// ran out (their node died mid hand-off). They stay `sending`.
    pub async fn claim_stale_sending(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>> {
        let stale = |now: &str| format!("status = 'sending' AND lease_until < {now}");
        if !self.may_be_due("messages", &stale("$1"), now).await? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE messages SET lease_owner = $1, lease_until = $2 \
             WHERE id IN (SELECT id FROM messages WHERE {} \
                          ORDER BY lease_until LIMIT $4 {}) \
             RETURNING {MESSAGE_COLUMNS}",
            stale("$3"),
            self.skip_locked()
        );
        let rows = self
            .lease_returning(&sql, owner, now, lease_until, limit)
            .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Puts a message the reaper holds back in the outbox, due now, with the
    /// same idempotency key (for providers that deduplicate on it).
    pub async fn requeue_stale(
        &self,
        id: &MessageId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE messages SET status = 'queued', due_at = $1, updated_at = $1, lease_owner = NULL, \
             lease_until = NULL WHERE id = $2 AND status = 'sending' AND lease_owner = $3",
        )
        .bind(ms(now))
        .bind(id.as_str())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a message whose hand-off cannot be established `unknown` and
    /// turns its action log entry into a failure saying so. Its counter
    /// reservation is kept: the carrier may have it, and a counter must never
    /// let more through than the limit.
    pub async fn mark_unknown(
        &self,
        id: &MessageId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE messages SET status = 'unknown', error_code = $1, error = $2, updated_at = $3, due_at = NULL, \
             lease_owner = NULL, lease_until = NULL WHERE id = $4 AND status = 'sending' AND lease_owner = $5",
        )
        .bind(ReasonCode::HandoffUnknown.as_str())
        .bind(HANDOFF_UNKNOWN_REASON)
        .bind(ms(now))
        .bind(id.as_str())
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("UPDATE action_logs SET outcome = $1, reason_code = $2, reason = $3 WHERE message_id = $4")
            .bind(Outcome::Failed.as_str())
            .bind(ReasonCode::HandoffUnknown.as_str())
            .bind(HANDOFF_UNKNOWN_REASON)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Heartbeat: extends every lease `owner` holds on enrollments and on
    /// `sending` messages. Rows locked by a transaction in progress are
    /// skipped (that transaction settles them).
    pub async fn extend_leases(&self, owner: &str, lease_until: DateTime<Utc>) -> Result<u64> {
        let mut n = 0;
        for (table, extra) in [("enrollments", ""), ("messages", " AND status = 'sending'")] {
            let sql = format!(
                "UPDATE {table} SET lease_until = $1 WHERE id IN \
                 (SELECT id FROM {table} WHERE lease_owner = $2{extra} {})",
                self.skip_locked()
            );
            n += sqlx::query(&sql)
                .bind(ms(lease_until))
                .bind(owner)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(n)
    }

    /// Gives back every lease `owner` still holds, so other nodes take the
    /// work over at once instead of after the lease runs out. Messages it
    /// had not handed off yet go back to the outbox, due now (a message
    /// whose provider call was cut off stays `sending` for the reaper).
    pub async fn release_leases(&self, owner: &str, now: DateTime<Utc>) -> Result<u64> {
        let a = sqlx::query(
            "UPDATE enrollments SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let b = sqlx::query(
            "UPDATE messages SET lease_until = $1 WHERE lease_owner = $2 AND status = 'sending'",
        )
        .bind(ms(now) - 1)
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let c = sqlx::query(
            "UPDATE messages SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1 AND status <> 'sending'",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(a + b + c)
    }

    /// Paces a batch of hand-offs (R11). Each demand is granted, in order,
    /// when every bucket it draws from has room within its lookahead of `now`;
    /// a granted demand reserves its units. Denied demands reserve nothing
    /// and learn when their buckets will have room. One transaction with the
    /// bucket rows locked, so nodes sharing the database share the buckets.
    pub async fn reserve_pace(
        &self,
        demands: &[PaceDemand],
        now: DateTime<Utc>,
    ) -> Result<PaceGrant> {
        let now_us = ms(now) * 1000;
        // A slot at `next` is free now when `next - now < lookahead`; a
        // lookahead of 0 means `next <= now`.
        let ahead = |b: &PaceBucket| b.lookahead_us.max(1);
        let mut keys: BTreeMap<&str, i64> = BTreeMap::new();
        for d in demands {
            for (b, _) in &d.buckets {
                keys.insert(b.key.as_str(), 0);
            }
        }
        if keys.is_empty() {
            return Ok(vec![None; demands.len()]);
        }
        let mut tx = self.begin().await?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        // Sorted keys: nodes lock buckets in one order, so never deadlock.
        for (key, next) in keys.iter_mut() {
            tx.execute(
                "INSERT INTO pacing (bucket, next_free) VALUES ($1, 0) ON CONFLICT (bucket) DO NOTHING",
                vec![t(*key)],
            )
            .await?;
            let rows = tx
                .fetch_all(
                    &format!("SELECT next_free FROM pacing WHERE bucket = $1{lock}"),
                    vec![t(*key)],
                )
                .await?;
            let row = rows.first().ok_or_else(|| {
                crate::StoreError::Corrupt(format!("pacing bucket {key} vanished"))
            })?;
            *next = int(row, "next_free")?.max(now_us);
        }
        let original = keys.clone();
        let mut out = Vec::with_capacity(demands.len());
        for d in demands {
            let fits = d
                .buckets
                .iter()
                .all(|(b, _)| keys[b.key.as_str()] - now_us < ahead(b));
            if fits {
                for (b, units) in &d.buckets {
                    *keys.get_mut(b.key.as_str()).expect("collected above") +=
                        b.cost_us * units.max(&1);
                }
                out.push(None);
            } else {
                let at = d
                    .buckets
                    .iter()
                    .map(|(b, _)| keys[b.key.as_str()] - ahead(b))
                    .max()
                    .unwrap_or(now_us);
                out.push(Some(crate::from_ms(at.max(now_us) / 1000 + 1)));
            }
        }
        for (key, next) in &keys {
            if original.get(key) != Some(next) {
                tx.execute(
                    "UPDATE pacing SET next_free = $1 WHERE bucket = $2",
                    vec![i(*next), t(*key)],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Charges `cost_us` of a bucket's time for requests made outside
    /// [`Store::reserve_pace`] (a provider directory sync): the bucket's next
    /// free slot moves that much later (from `now` if it was idle), so sends
    /// queue behind them.
    pub async fn charge_pace(&self, key: &str, cost_us: i64, now: DateTime<Utc>) -> Result<()> {
        let sql = match self.backend {
            Backend::Postgres => {
                "INSERT INTO pacing (bucket, next_free) VALUES ($1, $2) ON CONFLICT (bucket) \
                 DO UPDATE SET next_free = GREATEST(pacing.next_free + $3, EXCLUDED.next_free)"
            }
            Backend::Sqlite => {
                "INSERT INTO pacing (bucket, next_free) VALUES ($1, $2) ON CONFLICT (bucket) \
                 DO UPDATE SET next_free = MAX(pacing.next_free + $3, excluded.next_free)"
            }
        };
        let cost_us = cost_us.max(0);
        sqlx::query(sql)
            .bind(key)
            .bind(ms(now) * 1000 + cost_us)
            .bind(cost_us)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A provider said to wait (429 with Retry-After): nobody uses the
    /// bucket before `until`.
    pub async fn push_pace(&self, key: &str, until: DateTime<Utc>) -> Result<()> {
        let sql = match self.backend {
            Backend::Postgres => {
                "INSERT INTO pacing (bucket, next_free) VALUES ($1, $2) ON CONFLICT (bucket) \
                 DO UPDATE SET next_free = GREATEST(pacing.next_free, EXCLUDED.next_free)"
            }
            Backend::Sqlite => {
                "INSERT INTO pacing (bucket, next_free) VALUES ($1, $2) ON CONFLICT (bucket) \
                 DO UPDATE SET next_free = MAX(pacing.next_free, excluded.next_free)"
            }
        };
        sqlx::query(sql)
            .bind(key)
            .bind(ms(until) * 1000)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl crate::StoreTx {
    /// Puts a leased message back in the outbox until `due_at` without
    /// counting an attempt: pacing held it back, the provider never saw it.
    pub async fn defer_message(&mut self, id: &MessageId, due_at: DateTime<Utc>) -> Result<()> {
        self.execute(
            "UPDATE messages SET status = 'queued', due_at = $1, attempts = attempts - 1, lease_owner = NULL, \
             lease_until = NULL WHERE id = $2 AND status = 'sending'",
            vec![i(ms(due_at)), t(id.as_str())],
        )
        .await?;
        Ok(())
    }

    /// The provider call ended without an answer and the provider does not
    /// deduplicate: the message stays `sending` with its lease run out, so
    /// the reaper reconciles it (R12) instead of a blind retry.
    pub async fn mark_in_doubt(
        &mut self,
        id: &MessageId,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        self.execute(
            "UPDATE messages SET lease_until = $1, error = $2, updated_at = $3 WHERE id = $4 AND status = 'sending'",
            vec![i(ms(at) - 1), t(error), i(ms(at)), t(id.as_str())],
        )
        .await?;
        Ok(())
    }
}
