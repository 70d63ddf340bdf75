//! The smsflow engine. [`Engine`] is the service layer the API and CLI call
//! (accounts, directory, records, workflows, messages) and the worker that
//! moves enrollments through their steps and hands messages to providers.
//!
//! Work is durable: every enrollment step and every outbound message is a row
//! with a `due_at`, leased by the node working on it. [`Engine::run_once`]
//! does one round of due work and says how much it did, so tests drain the
//! engine deterministically; [`Engine::run`] only adds waiting and shutdown.
#![forbid(unsafe_code)]

mod accounts;
mod compiled;
mod connections;
mod consent;
mod conversations;
mod direct_send;
mod directory;
mod dispatcher;
mod dry_run;
mod error;
mod executor;
mod gate;
mod hubspot;
mod inbound;
mod messages;
mod metrics;
mod provider_events;
mod reaper;
mod records;
mod send_sms;
mod sms_messages;
mod workflows;

pub use accounts::{hash_token, AccountInput, NewAccountOutput};
pub use connections::{ConnectionInput, ConnectionPatch, CreatedConnection, WebhookUrls};
pub use consent::{ConsentInput, ConsentView, SubscriptionTypeInput};
pub use conversations::ReplyInput;
pub use direct_send::{DirectOutcome, DirectSend, HubspotLink};
pub use directory::{NumberInput, Options, UserInput};
pub use dry_run::{DryRunReport, DryRunSample};
pub use error::{EngineError, Result};
pub use hubspot::HubspotConnectInput;
pub use messages::{InboundInput, UsageReport, UsageSubject};
pub use records::{BatchInput, FILTER_SCAN};
pub use sms_messages::SmsMessageInput;
pub use workflows::{parse_definition, WorkflowView};

use smsflow_core::clock::Clock;
use smsflow_providers::{Provider, Sandbox};
use smsflow_store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How the worker behaves; the defaults suit one node.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This node's name in leases.
    pub node_id: String,
    /// Enrollments leased per round.
    pub step_batch: i64,
    /// Messages leased per round.
    pub dispatch_batch: i64,
    /// Concurrent provider calls per round.
    pub dispatch_concurrency: usize,
    /// How long a lease holds before another node may take the work over.
    pub lease: Duration,
    /// Hand-off attempts before a transiently failing message fails.
    pub max_attempts: i64,
    /// Pace hand-offs to numbers' throughput and providers' API budgets
    /// through the shared token buckets (R11).
    pub pacing: bool,
    /// The public base URL of this server, for webhook URLs and provider
    /// status callbacks.
    pub public_url: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            node_id: format!("node-{}", ulid::Ulid::new().to_string().to_lowercase()),
            step_batch: 512,
            dispatch_batch: 512,
            dispatch_concurrency: 128,
            lease: Duration::from_secs(60),
            max_attempts: 8,
            pacing: true,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// How much one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOutcome {
    pub steps: usize,
    pub dispatched: usize,
}

impl RunOutcome {
    pub fn is_idle(&self) -> bool {
        self.steps == 0 && self.dispatched == 0
    }
}

/// A connection's adapter with the config it was built from (a changed
/// config builds a new one).
type BuiltAdapter = (serde_json::Value, Arc<dyn Provider>);

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    providers: HashMap<String, Arc<dyn Provider>>,
    /// Adapters of provider connections, by connection id.
    connections: std::sync::Mutex<HashMap<String, BuiltAdapter>>,
    config: EngineConfig,
    compiled: compiled::Cache,
    wake: Notify,
    /// Messages this node's step rounds committed already leased to it, to
    /// be handed off by its next dispatch without being claimed (only for
    /// providers that deduplicate: should the node die first, the reaper
    /// puts them back in the outbox under the same key).
    in_hand: std::sync::Mutex<Vec<smsflow_store::OutboxMessage>>,
    metrics: metrics::Metrics,
}

impl Engine {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: EngineConfig) -> Self {
        Self::with_providers(store, clock, config, Vec::new())
    }

    /// `providers` come in addition to the sandbox, by their `kind()`.
    pub fn with_providers(
        store: Store,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
        providers: Vec<Arc<dyn Provider>>,
    ) -> Self {
        let mut map: HashMap<String, Arc<dyn Provider>> = HashMap::new();
        map.insert("sandbox".into(), Arc::new(Sandbox));
        for p in providers {
            map.insert(p.kind().to_string(), p);
        }
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                providers: map,
                connections: std::sync::Mutex::new(HashMap::new()),
                config,
                compiled: compiled::Cache::default(),
                wake: Notify::new(),
                in_hand: std::sync::Mutex::new(Vec::new()),
                metrics: metrics::Metrics::default(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn provider_kinds(&self) -> Vec<String> {
        self.inner.providers.keys().cloned().collect()
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// How long this node's leases hold.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.inner.config.lease).unwrap_or(chrono::Duration::seconds(60))
    }

    /// Tells an idle worker that new work may be due.
    fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// One round: due enrollment steps, then due hand-offs.
    pub async fn run_once(&self) -> Result<RunOutcome> {
        let round = self.round().await;
        self.metrics().rounds.inc();
        if round.is_err() {
            self.metrics().round_errors.inc();
        }
        round
    }

    async fn round(&self) -> Result<RunOutcome> {
        let steps = self.with_heartbeat(self.run_steps()).await?;
        let dispatched = self.reap().await? + self.dispatch().await?;
        // HubSpot: deferred action sends, callback completions, logging.
        let steps = steps + self.run_hubspot().await?;
        Ok(RunOutcome { steps, dispatched })
    }

    /// Runs rounds until nothing is due at the clock's current time.
    /// Bounded, so a bug cannot hang a test.
    pub async fn drain(&self) -> Result<RunOutcome> {
        let mut total = RunOutcome::default();
        for _ in 0..10_000 {
            let round = self.run_once().await?;
            if round.is_idle() {
                return Ok(total);
            }
            total.steps += round.steps;
            total.dispatched += round.dispatched;
        }
        Ok(total)
    }

    /// The worker loop: runs rounds, sleeps while idle, stops when
    /// `shutdown` resolves (finishing the round in progress).
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let idle = match self.run_once().await {
                Ok(outcome) => outcome.is_idle(),
                Err(e) => {
                    tracing::error!(error = %e, "worker round failed");
                    true
                }
            };
            if !idle {
                // Busy: stop between rounds once asked to, with nothing
                // kept for a hand-off (idle rounds keep nothing).
                if futures::FutureExt::now_or_never(&mut shutdown).is_some() {
                    self.hand_off_kept().await;
                    return;
                }
                continue;
            }
            let pause = self.idle_pause().await;
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// How long an idle worker may sleep: until the next due work, at most a
    /// second (other nodes may add work this node is not told about).
    async fn idle_pause(&self) -> Duration {
        let max = Duration::from_secs(1);
        match self.inner.store.next_due().await {
            Ok(Some(due)) => (due - self.now())
                .to_std()
                .unwrap_or(Duration::from_millis(5))
                .min(max),
            _ => max,
        }
    }
}
