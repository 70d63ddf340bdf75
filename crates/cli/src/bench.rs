//! `smsflow bench`: the whole pipeline against a fake provider on loopback.
//!
//! N contacts are batch-upserted through the service layer (1,000 per call,
//! as the API does). A published contact workflow with one `send_sms`
//! enrolls every one of them; W worker tasks run [`Engine::run_once`] in a
//! loop, so each message goes through enrollment filters, rendering, limit
//! counters, the outbox, the dispatcher and action/timeline logging before
//! the generic HTTP gateway provider (`kind = "http"`) POSTs it to a fake
//! provider (an axum server on 127.0.0.1).
//!
//! By default the workflow is published *before* the upsert and the workers
//! run while contacts arrive, so an enrollment is created in the same
//! transaction as its contact (the way CRM traffic arrives) and the clock
//! starts then. With `--enroll-existing` the contacts are loaded first and
//! the workflow is published with "enroll existing records": a backlog drain.
//!
//! Enrollment→hand-off latency needs no bookkeeping in the engine: the
//! idempotency key of a message is `<enrollment id>:<step>` and enrollment
//! ids are ULIDs, whose first 48 bits are the creation time in ms. The fake
//! provider reads that time, the hand-off time is when it received the POST.
//! Recipients are numbered phone numbers, so the fake provider keeps one slot
//! per contact (4 bytes each) to count distinct recipients and duplicates.
//!
//! The raw floor is the same hand-off code (`HttpGateway::send`, same client
//! settings, same concurrency) called in a bare loop against a fresh fake
//! provider: what the machine can do over HTTP with no database at all.

use anyhow::{anyhow, bail, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use futures::stream::{self, StreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;
use smsflow_core::clock::SystemClock;
use smsflow_core::object::ObjectType;
use smsflow_core::phone::E164;
use smsflow_engine::{
    parse_definition, AccountInput, BatchInput, Engine, EngineConfig, NumberInput, UserInput,
};
use smsflow_providers::{HttpGateway, Provider, SendRequest};
use smsflow_store::Store;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Contacts to create and message.
    #[arg(long, default_value_t = 100_000)]
    pub contacts: usize,
    /// Worker tasks, each running engine rounds (`run_once`) in a loop.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Enrollments / outbox messages leased per round (EngineConfig step and
    /// dispatch batch).
    #[arg(long, default_value_t = 512)]
    pub batch: i64,
    /// Concurrent provider calls per dispatch round (and in the raw floor).
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
    /// Load the contacts first, then publish with "enroll existing records"
    /// (a backlog drain) instead of enrolling contacts as they are upserted.
    #[arg(long)]
    pub enroll_existing: bool,
    /// Do not measure the raw HTTP floor.
    #[arg(long)]
    pub skip_floor: bool,
    /// Turn off hand-off pacing (R11). With pacing on, the sending number's
    /// throughput (at most 10,000 segments/s) caps the rate.
    #[arg(long)]
    pub no_pacing: bool,
    /// Give up when no message has been handed off for this many seconds.
    #[arg(long, default_value_t = 60)]
    pub stall_timeout: u64,
}

const MAX_CONTACTS: usize = 7_000_000;
const UPSERT_BATCH: usize = 1_000;
const BODY: &str = "Hi {{ contact.firstname }}, your order {{ contact.lastname }} has shipped. Reply STOP to opt out.";

/// Contact `i`'s mobile number: +1 212 NXX XXXX, NXX from 200.
fn phone(i: usize) -> String {
    format!("+1212{:03}{:04}", 200 + i / 10_000, i % 10_000)
}

fn index_of(to: &str) -> Option<usize> {
    let digits = to.strip_prefix("+1212")?;
    if digits.len() != 7 {
        return None;
    }
    let nxx: usize = digits[..3].parse().ok()?;
    let line: usize = digits[3..].parse().ok()?;
    Some(nxx.checked_sub(200)? * 10_000 + line)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The creation time of the enrollment in an idempotency key
/// `enr_<ulid>:<step>`.
fn enrolled_ms(key: &str) -> Option<i64> {
    let ulid = key.split(':').next()?.rsplit('_').next()?;
    ulid::Ulid::from_string(&ulid.to_ascii_uppercase())
        .ok()
        .map(|u| u.timestamp_ms() as i64)
}

/// What the fake provider saw.
struct Fake {
    requests: AtomicU64,
    distinct: AtomicU64,
    unknown: AtomicU64,
    /// Per contact: enrollment→hand-off latency in ms + 1; 0 = not yet.
    slots: Vec<AtomicU32>,
    first_enrolled: AtomicI64,
    last_handoff: AtomicI64,
}

impl Fake {
    fn new(n: usize) -> Self {
        Self {
            requests: AtomicU64::new(0),
            distinct: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            slots: (0..n).map(|_| AtomicU32::new(0)).collect(),
            first_enrolled: AtomicI64::new(i64::MAX),
            last_handoff: AtomicI64::new(0),
        }
    }
}

#[derive(serde::Deserialize)]
struct Incoming {
    to: String,
}

async fn accept(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let now = now_ms();
    let n = fake.requests.fetch_add(1, Ordering::Relaxed);
    let enrolled = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .and_then(enrolled_ms);
    let slot = serde_json::from_slice::<Incoming>(&body)
        .ok()
        .and_then(|m| index_of(&m.to))
        .and_then(|i| fake.slots.get(i));
    match slot {
        Some(slot) => {
            let latency =
                enrolled.map_or(0, |e| (now - e).clamp(0, i64::from(u32::MAX - 1))) as u32;
            if slot
                .compare_exchange(0, latency + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                fake.distinct.fetch_add(1, Ordering::Relaxed);
            }
        }
        None => {
            fake.unknown.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Some(e) = enrolled {
        fake.first_enrolled.fetch_min(e, Ordering::Relaxed);
    }
    fake.last_handoff.fetch_max(now, Ordering::Relaxed);
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"id\":\"fake-{n}\"}}"),
    )
}

/// Starts a fake provider on 127.0.0.1:0; returns its URL.
async fn start_fake(fake: Arc<Fake>) -> Result<reqwest::Url> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new().route("/send", post(accept)).with_state(fake);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "fake provider stopped");
        }
    });
    Ok(reqwest::Url::parse(&format!("http://{addr}/send"))?)
}

/// The database the bench runs on, removed afterwards.
enum Db {
    Sqlite {
        url: String,
        _dir: Option<tempfile::TempDir>,
    },
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl Db {
    async fn create(given: Option<String>) -> Result<Self> {
        match given {
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("smsflow-bench-")
                    .tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                Ok(Db::Sqlite {
                    url,
                    _dir: Some(dir),
                })
            }
            Some(url) if url.starts_with("sqlite:") => Ok(Db::Sqlite { url, _dir: None }),
            Some(admin_url)
                if admin_url.starts_with("postgres:") || admin_url.starts_with("postgresql:") =>
            {
                let name = format!(
                    "smsflow_bench_{}",
                    ulid::Ulid::new().to_string().to_lowercase()
                );
                let mut parsed =
                    reqwest::Url::parse(&admin_url).context("parsing --database-url")?;
                parsed.set_path(&format!("/{name}"));
                let admin = Store::connect_without_migrating(&admin_url)
                    .await
                    .context("connecting to PostgreSQL")?;
                sqlx::Executor::execute(admin.pool(), format!("CREATE DATABASE {name}").as_str())
                    .await?;
                admin.close().await;
                Ok(Db::Postgres {
                    url: parsed.to_string(),
                    admin_url,
                    name,
                })
            }
            Some(other) => {
                bail!("unsupported --database-url `{other}`: use sqlite://PATH or postgres://…")
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            Db::Sqlite { url, .. } | Db::Postgres { url, .. } => url,
        }
    }

    fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres { .. } => "postgres",
        }
    }

    async fn drop_it(self) {
        if let Db::Postgres {
            admin_url, name, ..
        } = self
        {
            match Store::connect_without_migrating(&admin_url).await {
                Ok(admin) => {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(e) = sqlx::Executor::execute(admin.pool(), sql.as_str()).await {
                        eprintln!("could not drop database {name}: {e}");
                    }
                    admin.close().await;
                }
                Err(e) => eprintln!("could not drop database {name}: {e}"),
            }
        }
    }
}

/// Peak and current resident set size of this process, in MiB.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn bar(multi: &MultiProgress, len: usize, label: &str) -> ProgressBar {
    let pb = multi.add(ProgressBar::new(len as u64));
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec}",
        )
        .expect("valid template"),
    );
    pb.set_prefix(label.to_string());
    pb
}

struct Outcome {
    upsert_secs: f64,
    wall_secs: f64,
    pipeline_secs: f64,
    msg_per_s: f64,
    p50: u32,
    p99: u32,
    max: u32,
    peak_rss: f64,
    requests: u64,
    distinct: u64,
    unknown: u64,
    worker_errors: u64,
}

pub async fn run(args: BenchArgs, database_url: Option<String>) -> Result<()> {
    let n = args.contacts;
    anyhow::ensure!(
        (1..=MAX_CONTACTS).contains(&n),
        "--contacts must be from 1 to {MAX_CONTACTS}"
    );
    anyhow::ensure!(args.workers >= 1, "--workers must be at least 1");
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    let db = Db::create(database_url).await?;
    let backend = db.backend();
    eprintln!(
        "bench: {backend}, {n} contacts, {} workers, batch {}, concurrency {}, pacing {}, {}",
        args.workers,
        args.batch,
        args.concurrency,
        if args.no_pacing { "off" } else { "on" },
        if args.enroll_existing {
            "enroll existing (backlog)"
        } else {
            "enroll on upsert (live)"
        }
    );
    let result = pipeline(&args, &db).await;
    db.drop_it().await;
    let out = result?;

    let floor = if args.skip_floor {
        None
    } else {
        Some(floor(n, args.concurrency).await?)
    };
    let duplicates = out.requests.saturating_sub(out.distinct);

    println!();
    println!(
        "smsflow bench — {backend}, {n} contacts, {} workers, batch {}, pacing {}",
        args.workers,
        args.batch,
        if args.no_pacing { "off" } else { "on" }
    );
    println!(
        "  upsert ({UPSERT_BATCH}/call)          {:>10.2} s  ({:.0} contacts/s)",
        out.upsert_secs,
        n as f64 / out.upsert_secs
    );
    println!("  wall time                    {:>10.2} s", out.wall_secs);
    println!(
        "  first enrollment→last hand-off {:>8.2} s",
        out.pipeline_secs
    );
    println!(
        "  throughput                   {:>10.0} msg/s",
        out.msg_per_s
    );
    println!("  enrollment→hand-off p50      {:>10} ms", out.p50);
    println!("  enrollment→hand-off p99      {:>10} ms", out.p99);
    println!("  enrollment→hand-off max      {:>10} ms", out.max);
    println!("  peak RSS (VmHWM)             {:>10.1} MiB", out.peak_rss);
    println!("  provider requests            {:>10}", out.requests);
    println!("  distinct recipients          {:>10}", out.distinct);
    println!("  duplicates                   {:>10}", duplicates);
    if out.unknown > 0 {
        println!("  unrecognised requests        {:>10}", out.unknown);
    }
    if out.worker_errors > 0 {
        println!("  worker round errors          {:>10}", out.worker_errors);
    }
    if let Some(f) = floor {
        println!("  raw floor (bare HTTP loop)   {:>10.0} msg/s", f);
        println!(
            "  engine / floor               {:>10.2} × slower",
            f / out.msg_per_s
        );
    }
    println!(
        "bench: backend={backend} contacts={n} pacing={} msg_per_s={:.0} p50_ms={} p99_ms={} rss_mb={:.0} floor_msg_per_s={} duplicates={duplicates}",
        if args.no_pacing { "off" } else { "on" },
        out.msg_per_s,
        out.p50,
        out.p99,
        out.peak_rss,
        floor.map_or("skipped".to_string(), |f| format!("{f:.0}")),
    );
    if duplicates > 0 {
        bail!("{duplicates} duplicate hand-offs");
    }
    Ok(())
}

async fn pipeline(args: &BenchArgs, db: &Db) -> Result<Outcome> {
    let n = args.contacts;
    let err = |e: smsflow_engine::EngineError| anyhow!("{e}");
    let fake = Arc::new(Fake::new(n));
    let url = start_fake(fake.clone()).await?;
    let store = Store::connect(db.url())
        .await
        .context("opening the bench database")?;
    let gateway: Arc<dyn Provider> = Arc::new(HttpGateway::new(url, None));
    let config = EngineConfig {
        step_batch: args.batch,
        dispatch_batch: args.batch,
        dispatch_concurrency: args.concurrency.max(1),
        pacing: !args.no_pacing,
        ..Default::default()
    };
    let engine = Engine::with_providers(store, Arc::new(SystemClock), config, vec![gateway]);

    // Account, sender and number: nothing may block a send.
    let account = engine
        .create_account(AccountInput {
            name: Some(json!("Bench")),
            entitlements: Some(json!({"sms": true})),
            ..Default::default()
        })
        .await
        .map_err(err)?
        .account
        .id;
    let limit = u32::try_from(n.saturating_mul(2)).unwrap_or(u32::MAX);
    engine
        .update_account(
            &account,
            AccountInput {
                limits: Some(json!({"day": limit, "month": limit, "on_limit": "fail"})),
                quiet_hours: Some(serde_json::Value::Null),
                ..Default::default()
            },
        )
        .await
        .map_err(err)?;
    let user = engine
        .create_user(
            &account,
            UserInput {
                name: Some(json!("Bench Agent")),
                email: Some(json!("bench@example.com")),
            },
        )
        .await
        .map_err(err)?;
    let number = engine
        .create_number(
            &account,
            NumberInput {
                e164: Some(json!("+14155550100")),
                label: Some(json!("Bench")),
                provider: Some(json!("http")),
                capabilities: Some(json!({"sms": true, "mms": false, "voice": false})),
                user_ids: Some(json!([user.id])),
                throughput: Some(json!(10_000)),
            },
        )
        .await
        .map_err(err)?;
    let definition = parse_definition(json!({
        "name": "Bench",
        "object_type": "contact",
        "enrollment": {"filters": [[{"property": "mobilephone", "op": "is_known"}]]},
        "actions": [{
            "id": "notify", "type": "send_sms",
            "from_number_id": number.id, "sender_user_id": user.id,
            "recipient_property": "mobilephone", "body": BODY,
        }],
    }))
    .map_err(err)?;
    let workflow = engine
        .create_workflow(&account, definition)
        .await
        .map_err(err)?;

    let multi = MultiProgress::new();
    let started = Instant::now();
    if !args.enroll_existing {
        engine
            .publish_workflow(&account, &workflow.id, false)
            .await
            .map_err(err)?;
    }

    // Workers.
    let stop = Arc::new(AtomicBool::new(false));
    let worker_errors = Arc::new(AtomicU64::new(0));
    let spawn_workers = || {
        (0..args.workers)
            .map(|_| {
                let engine = engine.clone();
                let stop = stop.clone();
                let errors = worker_errors.clone();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match engine.run_once().await {
                            Ok(o) if o.is_idle() => {
                                tokio::time::sleep(Duration::from_millis(2)).await
                            }
                            Ok(_) => {}
                            Err(e) => {
                                if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                    tracing::warn!(error = %e, "worker round failed");
                                }
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                })
            })
            .collect::<Vec<_>>()
    };
    let mut workers = if args.enroll_existing {
        Vec::new()
    } else {
        spawn_workers()
    };
    let sent_bar = bar(&multi, n, "handed off");
    let ticker = {
        let fake = fake.clone();
        let sent_bar = sent_bar.clone();
        tokio::spawn(async move {
            loop {
                sent_bar.set_position(fake.distinct.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // Contacts, through the service layer the API uses.
    let upsert_bar = bar(&multi, n, "upserted");
    let upsert_started = Instant::now();
    let mut i = 0;
    while i < n {
        let end = (i + UPSERT_BATCH).min(n);
        let inputs = (i..end)
            .map(|k| BatchInput {
                id: None,
                properties: Some(json!({
                    "firstname": format!("Contact{k}"),
                    "lastname": format!("#{k:07}"),
                    "email": format!("contact{k}@example.com"),
                    "mobilephone": phone(k),
                })),
                associations: None,
            })
            .collect();
        engine
            .batch_upsert(&account, ObjectType::Contact, inputs, None)
            .await
            .map_err(err)?;
        upsert_bar.inc((end - i) as u64);
        i = end;
    }
    let upsert_secs = upsert_started.elapsed().as_secs_f64();
    upsert_bar.finish();

    if args.enroll_existing {
        workers = spawn_workers();
        let (_, enrolled) = engine
            .publish_workflow(&account, &workflow.id, true)
            .await
            .map_err(err)?;
        anyhow::ensure!(
            enrolled == n,
            "publishing enrolled {enrolled} of {n} contacts"
        );
    }

    // Wait for every hand-off, or a stall.
    let mut last = 0;
    let mut last_progress = Instant::now();
    let stall = Duration::from_secs(args.stall_timeout);
    let finished = loop {
        let seen = fake.distinct.load(Ordering::Relaxed);
        if seen as usize >= n {
            break true;
        }
        if seen != last {
            last = seen;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > stall {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let wall_secs = started.elapsed().as_secs_f64();
    let (peak_rss, _) = rss_mb();
    ticker.abort();
    sent_bar.set_position(fake.distinct.load(Ordering::Relaxed));
    sent_bar.finish();
    // Let in-flight rounds finish so their commits land, then stop.
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    engine.store().close().await;
    if !finished {
        bail!(
            "stalled: {} of {n} handed off after no progress for {}s",
            fake.distinct.load(Ordering::Relaxed),
            args.stall_timeout
        );
    }

    let mut latencies: Vec<u32> = fake
        .slots
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .filter(|&v| v > 0)
        .map(|v| v - 1)
        .collect();
    latencies.sort_unstable();
    let first = fake.first_enrolled.load(Ordering::Relaxed);
    let last = fake.last_handoff.load(Ordering::Relaxed);
    let pipeline_secs = ((last - first).max(1)) as f64 / 1000.0;
    Ok(Outcome {
        upsert_secs,
        wall_secs,
        pipeline_secs,
        msg_per_s: n as f64 / pipeline_secs,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: latencies.last().copied().unwrap_or(0),
        peak_rss,
        requests: fake.requests.load(Ordering::Relaxed),
        distinct: fake.distinct.load(Ordering::Relaxed),
        unknown: fake.unknown.load(Ordering::Relaxed),
        worker_errors: worker_errors.load(Ordering::Relaxed),
    })
}

/// N hand-offs through the same provider code, client settings and
/// concurrency, with no engine and no database: msg/s.
async fn floor(n: usize, concurrency: usize) -> Result<f64> {
    let fake = Arc::new(Fake::new(n));
    let url = start_fake(fake.clone()).await?;
    let gateway = HttpGateway::new(url, None);
    let from = E164::parse("+14155550100", None).map_err(|e| anyhow!("{e}"))?;
    let pb = bar(&MultiProgress::new(), n, "floor");
    let started = Instant::now();
    let failures = stream::iter(0..n)
        .map(|k| {
            let gateway = &gateway;
            let from = from.clone();
            let pb = pb.clone();
            async move {
                let request = SendRequest {
                    idempotency_key: format!(
                        "enr_{}:0",
                        ulid::Ulid::new().to_string().to_lowercase()
                    ),
                    from,
                    from_external_id: None,
                    to: E164::from_trusted(phone(k)),
                    body: format!(
                        "Hi Contact{k}, your order #{k:07} has shipped. Reply STOP to opt out."
                    ),
                    segments: 1,
                };
                let ok = gateway.send(&request).await.is_ok();
                pb.inc(1);
                ok
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter(|ok| futures::future::ready(!ok))
        .count()
        .await;
    let secs = started.elapsed().as_secs_f64();
    pb.finish();
    anyhow::ensure!(failures == 0, "{failures} floor requests failed");
    Ok(n as f64 / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_round_trip_and_parse() {
        for i in [0, 1, 9_999, 10_000, 123_456, 999_999, MAX_CONTACTS - 1] {
            let p = phone(i);
            assert_eq!(index_of(&p), Some(i), "{p}");
            assert_eq!(
                E164::parse(&p, None).map(|e| e.as_str().to_string()).ok(),
                Some(p)
            );
        }
    }

    #[test]
    fn keys_carry_the_enrollment_time() {
        let id = smsflow_core::ids::EnrollmentId::generate();
        let t = enrolled_ms(&format!("{id}:0")).unwrap();
        assert!((now_ms() - t).abs() < 1000);
    }

    #[test]
    fn percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
    }
}
