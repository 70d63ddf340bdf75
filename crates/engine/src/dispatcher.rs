//! The dispatcher: leases due outbox messages, paces them, hands them to
//! their providers concurrently, and records every result in one
//! transaction.
//!
//! * Pacing (R11): before any provider call, the batch reserves slots in the
//!   shared token buckets of its numbers (segments per second) and provider
//!   accounts (requests per minute); a message without a slot goes back to
//!   the outbox until its slot, unsent, so a burst queues instead of drawing
//!   429s. A number's bucket grants slots up to a second ahead; a provider
//!   account's grants a request only once its slot has come, so no rolling
//!   minute ever holds more than the budget. A 429 with Retry-After closes
//!   the provider's bucket until then.
//! * Retries (R12): transient failures go back to the outbox with
//!   exponential backoff and jitter, up to the account's
//!   `delivery.max_attempts`; a 429 does not use up an attempt. Permanent
//!   ones fail the message, give its limit reservation back and mark its
//!   action log entry failed with the provider's code.
//! * A provider call that ends without an answer (timeout) on a provider
//!   that does not deduplicate is left to the reaper to reconcile, never
//!   retried blindly.
//! * Heartbeats: while the batch's provider calls run, its leases are
//!   extended every third of the lease, so a slow provider never lets
//!   another node take over a message in flight. (Bounding each call by a
//!   timeout instead would not bound a batch that runs in several waves.)

use crate::error::Result;
use crate::metrics::{CallOutcome, CallTally};
use crate::Engine;
use chrono::Duration;
use futures::stream::{self, StreamExt};
use rand::Rng;
use smsflow_core::ids::{AccountId, NumberId};
use smsflow_providers::{Provider, SendError, SendRequest};
use smsflow_store::{HandOff, NumberRow, OutboxMessage, PaceBucket, PaceDemand};
use std::collections::HashMap;
use std::sync::Arc;

/// The provider adapter a message uses, resolved once per batch.
#[derive(Clone)]
pub(crate) struct Resolved {
    pub provider: Option<Arc<dyn Provider>>,
    /// The pacing bucket of the provider account.
    pub bucket: String,
}

impl Engine {
    pub(crate) async fn dispatch(&self) -> Result<usize> {
        let now = self.now();
        let cfg = &self.inner.config;
        let lease = self.lease();
        let mut claimed = self.take_in_hand(cfg.dispatch_batch);
        let room = cfg.dispatch_batch - claimed.len() as i64;
        if room > 0 {
            claimed.extend(
                self.store()
                    .claim_outbox(&cfg.node_id, now, now + lease, room)
                    .await?,
            );
        }
        if claimed.is_empty() {
            return Ok(0);
        }
        let n = claimed.len();
        let mut providers: HashMap<(AccountId, String), Resolved> = HashMap::new();
        for m in &claimed {
            let key = (m.account_id.clone(), m.row.provider.clone());
            if let std::collections::hash_map::Entry::Vacant(slot) = providers.entry(key) {
                let provider = self.provider_for(&m.account_id, &m.row.provider).await;
                let bucket = provider_bucket(&m.account_id, &m.row.provider);
                slot.insert(Resolved { provider, bucket });
            }
        }
        let resolved =
            |m: &OutboxMessage| providers[&(m.account_id.clone(), m.row.provider.clone())].clone();
        // The sending numbers, once each: their throughput (pacing) and the
        // provider's own id of each (providers that send by it).
        let mut numbers: HashMap<NumberId, Option<NumberRow>> = HashMap::new();
        for m in &claimed {
            if let Some(id) = &m.row.number_id {
                if !numbers.contains_key(id) {
                    let row = self.store().get_number(&m.account_id, id).await.ok();
                    numbers.insert(id.clone(), row);
                }
            }
        }
        let external_id = |m: &OutboxMessage| {
            m.row
                .number_id
                .as_ref()
                .and_then(|id| numbers.get(id))
                .and_then(|n| n.as_ref())
                .and_then(|n| n.external_id.clone())
        };

        // Pacing: only messages with a slot now are sent.
        let claimed = if cfg.pacing {
            self.pace(claimed, &resolved, &numbers, now).await?
        } else {
            claimed
        };
        if claimed.is_empty() {
            return Ok(n);
        }

        let mut max_attempts: HashMap<AccountId, i64> = HashMap::new();
        for m in &claimed {
            if !max_attempts.contains_key(&m.account_id) {
                let limit = match self.store().get_account(&m.account_id).await {
                    Ok(a) => i64::from(a.settings.delivery.max_attempts),
                    Err(_) => cfg.max_attempts,
                };
                max_attempts.insert(m.account_id.clone(), limit);
            }
        }

        let calls = stream::iter(claimed)
            .map(|m| {
                let r = resolved(&m);
                let request = send_request(&m, external_id(&m));
                async move {
                    let started = std::time::Instant::now();
                    let result = match &r.provider {
                        Some(p) => p.send(&request).await,
                        None => Err(no_provider(&m)),
                    };
                    (m, r, result, started.elapsed())
                }
            })
            .buffer_unordered(cfg.dispatch_concurrency.max(1))
            .collect::<Vec<_>>();
        let results = self.with_heartbeat(calls).await;

        let done_at = self.now();
        let mut tx = self.store().begin().await?;
        let mut pushes: HashMap<String, chrono::DateTime<chrono::Utc>> = HashMap::new();
        let mut accepted = Vec::new();
        let mut calls = CallTally::default();
        for (m, r, result, took) in results {
            let idempotent = r.provider.as_ref().is_some_and(|p| p.is_idempotent());
            let limit = max_attempts
                .get(&m.account_id)
                .copied()
                .unwrap_or(cfg.max_attempts);
            let kind = r.provider.as_ref().map_or("none", |p| p.kind());
            if r.provider.is_some() {
                calls.took(kind, took);
            }
            match result {
                Ok(receipt) => {
                    calls.count(kind, CallOutcome::HandedOff);
                    accepted.push((m.row.id, receipt));
                }
                Err(e) if !idempotent && e.is_in_doubt() => {
                    calls.count(kind, CallOutcome::InDoubt);
                    tx.mark_in_doubt(&m.row.id, done_at, &describe(&e)).await?;
                }
                Err(e) if e.is_rate_limited() => {
                    calls.count(kind, CallOutcome::RateLimited);
                    let retry_after = e.retry_after();
                    // Rate limited: not an attempt. The provider account's
                    // bucket stays closed until the provider said.
                    let wait = retry_after
                        .and_then(|d| Duration::from_std(d).ok())
                        .unwrap_or_else(|| Duration::seconds(1));
                    let until = done_at + wait;
                    let slot = pushes.entry(r.bucket.clone()).or_insert(until);
                    *slot = (*slot).max(until);
                    tx.defer_message(&m.row.id, until + jitter(wait)).await?;
                }
                Err(SendError::Transient {
                    code,
                    message,
                    retry_after,
                }) if m.row.attempts < limit => {
                    calls.count(kind, CallOutcome::Retried);
                    let backoff = retry_after
                        .and_then(|d| Duration::from_std(d).ok())
                        .unwrap_or_else(|| backoff(m.row.attempts));
                    tx.mark_retry(
                        &m.row.id,
                        done_at + backoff,
                        &format!("{code}: {message}"),
                        done_at,
                    )
                    .await?;
                }
                Err(
                    SendError::Transient { code, message, .. }
                    | SendError::Permanent { code, message },
                ) => {
                    calls.count(kind, CallOutcome::Failed);
                    tx.mark_failed(&m.row.id, &code, &message, done_at).await?;
                    let mut subjects = Vec::new();
                    if let Some(n) = &m.row.number_id {
                        subjects.push(("number", n.as_str()));
                    }
                    if let Some(u) = &m.row.user_id {
                        subjects.push(("user", u.as_str()));
                    }
                    // The message never reached a carrier: it must not use up
                    // the sender's allowance (R9 counts hand-offs).
                    tx.release(&subjects, &m.counted_periods, 1).await?;
                }
            }
        }
        // Counted once the calls are settled, even should the commit below
        // fail: the providers were called either way.
        self.metrics().record_calls(calls);
        let hand_offs: Vec<HandOff> = accepted
            .iter()
            .map(|(id, receipt)| HandOff {
                id,
                provider_message_id: &receipt.provider_message_id,
                status: receipt.status,
            })
            .collect();
        tx.mark_handed_off_many(&hand_offs, done_at).await?;
        tx.commit().await?;
        for (bucket, until) in pushes {
            self.store().push_pace(&bucket, until).await?;
        }
        Ok(n)
    }

    /// Keeps messages this node committed leased to itself for its next
    /// dispatch.
    pub(crate) fn hand_over(&self, messages: Vec<OutboxMessage>) {
        if messages.is_empty() {
            return;
        }
        self.inner
            .in_hand
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(messages);
    }

    /// Hands off the messages still kept (a round's steps can keep more
    /// than one dispatch takes), so a node that stops leaves none of them
    /// waiting for the reaper.
    pub(crate) async fn hand_off_kept(&self) {
        while !self
            .inner
            .in_hand
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            match self.dispatch().await {
                Ok(n) if n > 0 => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::error!(error = %e, "could not hand off the messages kept at shutdown");
                    return;
                }
            }
        }
    }

    /// Up to `limit` of the messages handed over, oldest first.
    fn take_in_hand(&self, limit: i64) -> Vec<OutboxMessage> {
        let mut in_hand = self.inner.in_hand.lock().unwrap_or_else(|e| e.into_inner());
        let n = in_hand
            .len()
            .min(usize::try_from(limit.max(0)).unwrap_or(0));
        in_hand.drain(..n).collect()
    }

    /// Reserves pacing slots for a claimed batch; returns the messages that
    /// may be sent now and puts the others back until their slot.
    async fn pace(
        &self,
        claimed: Vec<OutboxMessage>,
        resolved: &impl Fn(&OutboxMessage) -> Resolved,
        numbers: &HashMap<NumberId, Option<NumberRow>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<OutboxMessage>> {
        let mut demands = Vec::with_capacity(claimed.len());
        for m in &claimed {
            let mut buckets = Vec::new();
            if let Some(number) = &m.row.number_id {
                let t = numbers
                    .get(number)
                    .and_then(|n| n.as_ref())
                    .map_or(0, |n| n.throughput);
                if t > 0 {
                    buckets.push((
                        PaceBucket {
                            key: format!("number:{number}"),
                            cost_us: 1_000_000 / t.max(1),
                            lookahead_us: 1_000_000,
                        },
                        m.row.segments.max(1),
                    ));
                }
            }
            let r = resolved(m);
            if let Some(p) = &r.provider {
                let cost_us = p
                    .requests_per_minute()
                    .map_or(0, |rpm| 60_000_000 / i64::from(rpm.max(1)));
                buckets.push((
                    PaceBucket {
                        key: r.bucket.clone(),
                        cost_us,
                        lookahead_us: 0,
                    },
                    1,
                ));
            }
            demands.push(PaceDemand { buckets });
        }
        let grants = self.store().reserve_pace(&demands, now).await?;
        let mut go = Vec::with_capacity(claimed.len());
        let mut wait = Vec::new();
        for (m, grant) in claimed.into_iter().zip(grants) {
            match grant {
                None => go.push(m),
                Some(at) => wait.push((m, at)),
            }
        }
        if !wait.is_empty() {
            let mut tx = self.store().begin().await?;
            for (m, at) in &wait {
                tx.defer_message(&m.row.id, *at).await?;
            }
            tx.commit().await?;
        }
        Ok(go)
    }

    /// Runs `work` while extending this node's leases (enrollment steps and
    /// `sending` messages) every third of the lease. The heartbeat is its own
    /// task: it must never wait on the work (or the work on it), as it would
    /// inline on SQLite's single connection or on rows the work's
    /// transaction holds.
    pub(crate) async fn with_heartbeat<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let cfg = &self.inner.config;
        let every = (cfg.lease / 3).max(std::time::Duration::from_millis(50));
        let lease = self.lease();
        let engine = self.clone();
        let beat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let owner = &engine.inner.config.node_id;
                if let Err(e) = engine
                    .store()
                    .extend_leases(owner, engine.now() + lease)
                    .await
                {
                    tracing::warn!(error = %e, "could not extend the leases of work in flight");
                }
            }
        });
        // Stops the heartbeat however `work` ends, dropped (cancelled) included.
        struct AbortOnDrop(tokio::task::JoinHandle<()>);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        let _beat = AbortOnDrop(beat);
        work.await
    }
}

/// The pacing bucket of a provider account (one connection, or a
/// built-in provider of the account).
pub(crate) fn provider_bucket(account: &AccountId, provider: &str) -> String {
    format!("provider:{account}:{provider}")
}

/// What the provider is asked to send; `from_external_id` is the provider's
/// own id of the sending number, when it was synced from the provider.
pub(crate) fn send_request(m: &OutboxMessage, from_external_id: Option<String>) -> SendRequest {
    SendRequest {
        idempotency_key: m
            .row
            .idempotency_key
            .clone()
            .unwrap_or_else(|| m.row.id.to_string()),
        from: m.row.from.clone(),
        from_external_id,
        to: m.row.to.clone(),
        body: m.row.body.clone(),
        segments: u32::try_from(m.row.segments).unwrap_or(1),
    }
}

/// `code: message`, as messages keep a provider error.
fn describe(e: &SendError) -> String {
    match e {
        SendError::Transient { code, message, .. } | SendError::Permanent { code, message } => {
            format!("{code}: {message}")
        }
    }
}

fn no_provider(m: &OutboxMessage) -> SendError {
    SendError::Permanent {
        code: "no_provider".into(),
        message: format!(
            "provider `{}` is not configured on this node",
            m.row.provider
        ),
    }
}

/// 2^attempts seconds (capped at an hour), plus up to 20% jitter so retries
/// from many messages do not arrive together.
fn backoff(attempts: i64) -> Duration {
    let base = 1i64 << attempts.clamp(0, 12);
    let base = base.min(3600);
    let jitter = rand::thread_rng().gen_range(0..=base * 200);
    Duration::seconds(base) + Duration::milliseconds(jitter)
}

/// Up to 20% of `wait`, so messages held back together do not return together.
fn jitter(wait: Duration) -> Duration {
    let ms = wait.num_milliseconds().max(0) / 5;
    Duration::milliseconds(rand::thread_rng().gen_range(0..=ms))
}
