//! What this node has done since it started, for `GET /metrics`
//! (Prometheus, in the OpenMetrics text format). Each engine has its own
//! registry, so tests running several engines in one process do not mix
//! their counts. No label carries an account, record or phone: the
//! endpoint is meant for operators and is served without a token.

use crate::Engine;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use smsflow_store::ActionLogRow;
use std::collections::HashMap;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ProviderLabels {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub outcome: String,
}

type HistogramFamily = Family<ProviderLabels, Histogram, fn() -> Histogram>;

pub(crate) struct Metrics {
    registry: Registry,
    pub handed_off: Family<ProviderLabels, Counter>,
    pub retried: Family<ProviderLabels, Counter>,
    pub rate_limited: Family<ProviderLabels, Counter>,
    pub failed: Family<ProviderLabels, Counter>,
    pub in_doubt: Family<ProviderLabels, Counter>,
    pub provider_seconds: HistogramFamily,
    pub actions: Family<OutcomeLabels, Counter>,
    pub enrollments: Counter,
    pub inbound: Counter,
    pub rounds: Counter,
    pub round_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("smsflow");
        let handed_off = Family::<ProviderLabels, Counter>::default();
        let retried = Family::<ProviderLabels, Counter>::default();
        let rate_limited = Family::<ProviderLabels, Counter>::default();
        let failed = Family::<ProviderLabels, Counter>::default();
        let in_doubt = Family::<ProviderLabels, Counter>::default();
        // 1 ms … ~16 s.
        let provider_seconds = HistogramFamily::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        let actions = Family::<OutcomeLabels, Counter>::default();
        let (enrollments, inbound, rounds, round_errors) = Default::default();
        registry.register(
            "messages_handed_off",
            "Messages a provider accepted",
            handed_off.clone(),
        );
        registry.register(
            "messages_retried",
            "Provider calls that failed transiently and were scheduled again (R12)",
            retried.clone(),
        );
        registry.register(
            "messages_rate_limited",
            "Provider calls answered 429, held back without using up an attempt (R11)",
            rate_limited.clone(),
        );
        registry.register(
            "messages_failed",
            "Messages failed for good: a permanent provider error or attempts used up",
            failed.clone(),
        );
        registry.register(
            "messages_in_doubt",
            "Provider calls that ended without an answer, left to the reaper",
            in_doubt.clone(),
        );
        registry.register(
            "provider_call_seconds",
            "How long provider send calls took",
            provider_seconds.clone(),
        );
        registry.register(
            "workflow_actions",
            "Workflow actions executed, by outcome (R15)",
            actions.clone(),
        );
        let counters: [(&str, &str, &Counter); 4] = [
            (
                "enrollments_created",
                "Records enrolled in workflows",
                &enrollments,
            ),
            ("inbound_messages", "Inbound SMS received", &inbound),
            ("worker_rounds", "Worker rounds run", &rounds),
            (
                "worker_round_errors",
                "Worker rounds that failed",
                &round_errors,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        Metrics {
            registry,
            handed_off,
            retried,
            rate_limited,
            failed,
            in_doubt,
            provider_seconds,
            actions,
            enrollments,
            inbound,
            rounds,
            round_errors,
        }
    }
}

/// How a provider call ended, as the dispatcher settled it.
#[derive(Clone, Copy)]
pub(crate) enum CallOutcome {
    HandedOff,
    InDoubt,
    RateLimited,
    Retried,
    Failed,
}

/// A dispatch batch's provider calls, tallied by provider kind (`twilio`,
/// `http`, …) and added to the metrics once per batch: per message, only
/// local counts move, with no label built and no lock taken.
#[derive(Default)]
pub(crate) struct CallTally {
    by_kind: HashMap<String, KindTally>,
}

#[derive(Default)]
struct KindTally {
    outcomes: [u64; 5],
    seconds: Vec<f64>,
}

impl CallTally {
    fn kind(&mut self, kind: &str) -> &mut KindTally {
        if !self.by_kind.contains_key(kind) {
            self.by_kind.insert(kind.to_string(), KindTally::default());
        }
        self.by_kind.get_mut(kind).expect("inserted above")
    }

    pub(crate) fn count(&mut self, kind: &str, outcome: CallOutcome) {
        self.kind(kind).outcomes[outcome as usize] += 1;
    }

    pub(crate) fn took(&mut self, kind: &str, took: std::time::Duration) {
        self.kind(kind).seconds.push(took.as_secs_f64());
    }
}

impl Metrics {
    /// Adds a dispatch batch's tally.
    pub(crate) fn record_calls(&self, tally: CallTally) {
        for (provider, t) in tally.by_kind {
            let labels = ProviderLabels { provider };
            let families = [
                &self.handed_off,
                &self.in_doubt,
                &self.rate_limited,
                &self.retried,
                &self.failed,
            ];
            for (family, n) in families.into_iter().zip(t.outcomes) {
                if n > 0 {
                    family.get_or_create(&labels).inc_by(n);
                }
            }
            if !t.seconds.is_empty() {
                let histogram = self.provider_seconds.get_or_create(&labels);
                for s in t.seconds {
                    histogram.observe(s);
                }
            }
        }
    }

    /// Counts a committed batch's action log entries by outcome, one
    /// update per outcome rather than per entry.
    pub(crate) fn executed(&self, logs: &[ActionLogRow]) {
        let mut by_outcome: HashMap<&'static str, u64> = HashMap::new();
        for log in logs {
            *by_outcome.entry(log.outcome.as_str()).or_default() += 1;
        }
        for (outcome, n) in by_outcome {
            self.actions
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_string(),
                })
                .inc_by(n);
        }
    }
}

impl Engine {
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// This node's metrics in the OpenMetrics text format.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.metrics().registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn a_batch_tally_lands_in_the_family_of_each_outcome() {
        let metrics = Metrics::default();
        let mut tally = CallTally::default();
        let outcomes = [
            (CallOutcome::HandedOff, 1),
            (CallOutcome::InDoubt, 2),
            (CallOutcome::RateLimited, 3),
            (CallOutcome::Retried, 4),
            (CallOutcome::Failed, 5),
        ];
        for (outcome, n) in outcomes {
            for _ in 0..n {
                tally.count("twilio", outcome);
                tally.took("twilio", std::time::Duration::from_millis(3));
            }
        }
        tally.count("http", CallOutcome::HandedOff);
        metrics.record_calls(tally);
        let mut text = String::new();
        encode(&mut text, &metrics.registry).unwrap();
        for (name, n) in [
            ("messages_handed_off", 1),
            ("messages_in_doubt", 2),
            ("messages_rate_limited", 3),
            ("messages_retried", 4),
            ("messages_failed", 5),
        ] {
            let line = format!("smsflow_{name}_total{{provider=\"twilio\"}} {n}\n");
            assert!(text.contains(&line), "{line} not in {text}");
        }
        assert!(text.contains("smsflow_messages_handed_off_total{provider=\"http\"} 1\n"));
        assert!(text.contains("smsflow_provider_call_seconds_count{provider=\"twilio\"} 15\n"));
        assert!(!text.contains("smsflow_messages_failed_total{provider=\"http\"}"));
    }
}
