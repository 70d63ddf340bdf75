//! A fake generic HTTP SMS gateway (the `http` provider's wire format) for
//! delivery tests: it deduplicates and counts by `Idempotency-Key` and by
//! recipient, and injects faults at configurable rates — answers held past
//! the client's timeout (after accepting the message, as a real provider
//! that got it would), 500s, and 429s with `Retry-After`.
//!
//! Loopback only: it binds 127.0.0.1 on a free port.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Fault rates, each a fraction of requests in 0..=1.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Accept the message, then answer only after `timeout_delay`.
    pub timeout_rate: f64,
    pub timeout_delay: Duration,
    /// 500, nothing accepted.
    pub error_rate: f64,
    /// 429 with `Retry-After: retry_after_secs`, nothing accepted.
    pub throttle_rate: f64,
    pub retry_after_secs: u64,
}

#[derive(Debug, Default)]
struct Books {
    /// Idempotency key → (recipient, times a request with it was accepted).
    by_key: HashMap<String, (String, u64)>,
    /// Recipient → distinct keys delivered to it.
    by_recipient: HashMap<String, HashSet<String>>,
    requests: u64,
    timeouts: u64,
    errors: u64,
    throttled: u64,
    /// Requests per whole second since start, for pacing checks.
    per_second: BTreeMap<u64, u64>,
}

/// What the gateway saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayCounts {
    /// Distinct idempotency keys accepted (messages handed off).
    pub keys: u64,
    /// Requests that repeated an accepted key (deduplicated, not delivered).
    pub repeats: u64,
    /// Recipients that got more than one distinct message, summed over the
    /// extra messages.
    pub duplicate_recipients: u64,
    pub recipients: u64,
    pub requests: u64,
    pub timeouts: u64,
    pub errors: u64,
    pub throttled: u64,
}

pub struct FakeGateway {
    pub url: String,
    books: Arc<Mutex<Books>>,
    faults: Arc<Mutex<Faults>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    books: Arc<Mutex<Books>>,
    faults: Arc<Mutex<Faults>>,
    seq: Arc<AtomicU64>,
    hasher: RandomState,
    started: std::time::Instant,
}

impl Shared {
    /// A uniform number in [0, 1) per request.
    fn roll(&self) -> f64 {
        let mut h = self.hasher.build_hasher();
        h.write_u64(self.seq.fetch_add(1, Ordering::Relaxed));
        (h.finish() >> 11) as f64 / (1u64 << 53) as f64
    }
}

async fn accept(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| body["idempotency_key"].as_str().map(str::to_string));
    let Some(key) = key else {
        return (StatusCode::BAD_REQUEST, "Idempotency-Key is required").into_response();
    };
    let to = body["to"].as_str().unwrap_or_default().to_string();
    let faults = s.faults.lock().unwrap().clone();
    let roll = s.roll();
    let mut delay = None;
    {
        let mut b = s.books.lock().unwrap();
        b.requests += 1;
        *b.per_second
            .entry(s.started.elapsed().as_secs())
            .or_default() += 1;
        if roll < faults.error_rate {
            b.errors += 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure").into_response();
        }
        if roll < faults.error_rate + faults.throttle_rate {
            b.throttled += 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", faults.retry_after_secs.to_string())],
                "slow down",
            )
                .into_response();
        }
        if roll < faults.error_rate + faults.throttle_rate + faults.timeout_rate {
            b.timeouts += 1;
            delay = Some(faults.timeout_delay);
        }
        let entry = b
            .by_key
            .entry(key.clone())
            .or_insert_with(|| (to.clone(), 0));
        entry.1 += 1;
        b.by_recipient.entry(to).or_default().insert(key.clone());
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    Json(serde_json::json!({"id": format!("gw-{key}"), "status": "sent"})).into_response()
}

impl FakeGateway {
    pub async fn start(faults: Faults) -> FakeGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake gateway");
        let addr = listener.local_addr().expect("local address");
        let books = Arc::new(Mutex::new(Books::default()));
        let faults = Arc::new(Mutex::new(faults));
        let shared = Shared {
            books: books.clone(),
            faults: faults.clone(),
            seq: Arc::new(AtomicU64::new(0)),
            hasher: RandomState::new(),
            started: std::time::Instant::now(),
        };
        let app = Router::new()
            .route("/send", post(accept))
            .with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGateway {
            url: format!("http://{addr}/send"),
            books,
            faults,
            task,
        }
    }

    /// Changes the fault rates from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    pub fn counts(&self) -> GatewayCounts {
        let b = self.books.lock().unwrap();
        GatewayCounts {
            keys: b.by_key.len() as u64,
            repeats: b.by_key.values().map(|(_, n)| n.saturating_sub(1)).sum(),
            duplicate_recipients: b
                .by_recipient
                .values()
                .map(|k| (k.len() as u64).saturating_sub(1))
                .sum(),
            recipients: b.by_recipient.len() as u64,
            requests: b.requests,
            timeouts: b.timeouts,
            errors: b.errors,
            throttled: b.throttled,
        }
    }

    /// Distinct keys delivered to each recipient.
    pub fn per_recipient(&self) -> HashMap<String, usize> {
        self.books
            .lock()
            .unwrap()
            .by_recipient
            .iter()
            .map(|(r, k)| (r.clone(), k.len()))
            .collect()
    }

    /// The most requests seen in any one second.
    pub fn peak_per_second(&self) -> u64 {
        self.books
            .lock()
            .unwrap()
            .per_second
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}
