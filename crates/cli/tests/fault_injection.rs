//! Fault-injection harness (issue 4, R9–R13, R25): the real `smsflow`
//! binary as several processes on one database, killed with SIGKILL at
//! random moments and restarted, against a fake HTTP gateway that injects
//! timeouts, 500s and 429s. Loopback only, bounded in time.
//!
//! At the end every enrollment's message was handed off exactly once (the
//! fake gateway counts by idempotency key and by recipient), none is lost,
//! and the usage counters equal the hand-offs. Each burst prints one line:
//! `fault-injection backend=… sent=… duplicates=… lost=… counter_drift=…`.
//!
//! Size: `SMSFLOW_FAULT_N` contacts per burst (default 20,000).

use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use smsflow_testkit::db::{test_db, TestBackend, TestDb};
use smsflow_testkit::fakes::gateway::{FakeGateway, Faults};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "sfa_fault_injection_admin";
const LEASE_MS: u64 = 4000;
const CLIENT_TIMEOUT_MS: u64 = 1500;

fn burst_size() -> usize {
    std::env::var("SMSFLOW_FAULT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn phone(i: usize) -> String {
    format!("+1212{:03}{:04}", 200 + i / 10_000, i % 10_000)
}

/// One `smsflow serve` process.
struct Node {
    role: &'static str,
    port: u16,
    db_url: String,
    gateway: String,
    log: std::path::PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl Node {
    fn new(
        role: &'static str,
        db_url: &str,
        gateway: &str,
        dir: &std::path::Path,
        i: usize,
    ) -> Node {
        Node {
            role,
            port: free_port(),
            db_url: db_url.to_string(),
            gateway: gateway.to_string(),
            log: dir.join(format!("node{i}.log")),
            child: None,
            starts: 0,
        }
    }

    fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_smsflow"))
            .args([
                "serve",
                "--role",
                self.role,
                "--listen",
                &format!("127.0.0.1:{}", self.port),
            ])
            .args(["--http-gateway-url", &self.gateway])
            .env("SMSFLOW_DATABASE_URL", &self.db_url)
            .env("SMSFLOW_ADMIN_TOKEN", ADMIN)
            .env("SMSFLOW_LEASE_MS", LEASE_MS.to_string())
            .env(
                "SMSFLOW_HTTP_GATEWAY_TIMEOUT_MS",
                CLIENT_TIMEOUT_MS.to_string(),
            )
            .env("SMSFLOW_LOG", "warn,sqlx=error")
            .env_remove("SMSFLOW_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start smsflow serve");
        self.child = Some(child);
        self.starts += 1;
    }

    /// SIGKILL: no chance to clean up.
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit; returns the exit status.
    #[allow(dead_code)] // graceful-shutdown check, not wired yet
    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn wait_healthy(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{url}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("node at {url} did not become healthy");
}

/// The HTTP API of one node.
struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let mut req = self
            .client
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status();
        let out: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {out}");
        out
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(Method::POST, path, &self.token.clone(), Some(body))
            .await
    }
}

struct Seeded {
    api: Api,
    number_id: String,
    user_id: String,
}

/// Account (limits above the load, no quiet hours), user, `http` number.
async fn seed_account(base: &str, limit: u32) -> Seeded {
    let mut api = Api {
        base: base.to_string(),
        token: ADMIN.to_string(),
        client: reqwest::Client::new(),
    };
    let account = api
        .call(
            Method::POST,
            "/accounts",
            ADMIN,
            Some(json!({
                "name": "Fault injection",
                "entitlements": {"sms": true},
                "limits": {"day": limit, "month": limit, "on_limit": "fail"},
                "quiet_hours": null,
            })),
        )
        .await;
    api.token = account["token"].as_str().unwrap().to_string();
    let user = api
        .post(
            "/users",
            json!({"name": "Chaos Agent", "email": "chaos@example.com"}),
        )
        .await;
    let user_id = user["id"].as_str().unwrap().to_string();
    let number = api
        .post(
            "/numbers",
            json!({
                "e164": "+14155550100", "label": "Chaos", "provider": "http",
                "capabilities": {"sms": true, "mms": false, "voice": false},
                "user_ids": [user_id], "throughput": 10000,
            }),
        )
        .await;
    Seeded {
        api,
        number_id: number["id"].as_str().unwrap().to_string(),
        user_id,
    }
}

async fn publish_workflow(s: &Seeded, actions: Value) -> String {
    let wf = s
        .api
        .post(
            "/workflows",
            json!({
                "name": "Chaos",
                "object_type": "contact",
                "enrollment": {"filters": [[{"property": "mobilephone", "op": "is_known"}]]},
                "actions": actions,
            }),
        )
        .await;
    let id = wf["id"].as_str().unwrap().to_string();
    s.api
        .post(
            &format!("/workflows/{id}/publish"),
            json!({"enroll_existing": false}),
        )
        .await;
    id
}

fn send_action(s: &Seeded) -> Value {
    json!({
        "id": "notify", "type": "send_sms", "from_number_id": s.number_id, "sender_user_id": s.user_id,
        "recipient_property": "mobilephone", "body": "Your order shipped",
    })
}

async fn upsert_contacts(s: &Seeded, range: std::ops::Range<usize>) {
    let mut start = range.start;
    while start < range.end {
        let end = (start + 1000).min(range.end);
        let inputs: Vec<Value> = (start..end)
            .map(|i| json!({"properties": {"firstname": format!("C{i}"), "mobilephone": phone(i)}}))
            .collect();
        s.api
            .post("/objects/contacts/batch", json!({"inputs": inputs}))
            .await;
        start = end;
    }
}

async fn pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .expect("connect to the test database")
}

async fn scalar(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(pool)
        .await
        .map(|r| r.get::<i64, _>(0))
        .unwrap_or(-1)
}

#[derive(Debug)]
struct DbState {
    enrollments: i64,
    open_enrollments: i64,
    messages: i64,
    open_messages: i64,
    handed_off: i64,
    failed: i64,
    unknown: i64,
    day_counter: i64,
}

async fn db_state(pool: &AnyPool) -> DbState {
    DbState {
        enrollments: scalar(pool, "SELECT COUNT(*) FROM enrollments").await,
        open_enrollments: scalar(
            pool,
            "SELECT COUNT(*) FROM enrollments WHERE due_at IS NOT NULL",
        )
        .await,
        messages: scalar(
            pool,
            "SELECT COUNT(*) FROM messages WHERE direction = 'outbound'",
        )
        .await,
        open_messages: scalar(
            pool,
            "SELECT COUNT(*) FROM messages WHERE status IN ('queued', 'sending')",
        )
        .await,
        handed_off: scalar(
            pool,
            "SELECT COUNT(*) FROM messages WHERE handed_off_at IS NOT NULL",
        )
        .await,
        failed: scalar(
            pool,
            "SELECT COUNT(*) FROM messages WHERE status = 'failed'",
        )
        .await,
        unknown: scalar(
            pool,
            "SELECT COUNT(*) FROM messages WHERE status = 'unknown'",
        )
        .await,
        day_counter: scalar(
            pool,
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM send_counters \
             WHERE subject_kind = 'number' AND period LIKE 'd%'",
        )
        .await,
    }
}

fn faults() -> Faults {
    Faults {
        timeout_rate: 0.01,
        timeout_delay: Duration::from_millis(CLIENT_TIMEOUT_MS + 500),
        error_rate: 0.02,
        throttle_rate: 0.02,
        retry_after_secs: 1,
    }
}

/// The burst: `workers` extra `--role worker` nodes besides one `serve`
/// node with the API; SQLite gets the API node only (one process at a time).
async fn burst(backend: TestBackend, workers: usize, kills: usize) {
    let n = burst_size();
    let db: TestDb = test_db(backend).await;
    let gateway = FakeGateway::start(faults()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = vec![Node::new("all", &db.url, &gateway.url, dir.path(), 0)];
    nodes[0].start();
    wait_healthy(&nodes[0].url()).await;
    for i in 0..workers {
        let mut w = Node::new("worker", &db.url, &gateway.url, dir.path(), i + 1);
        w.start();
        nodes.push(w);
    }
    let started = Instant::now();
    let seeded = seed_account(&nodes[0].url(), (n * 2) as u32).await;
    publish_workflow(&seeded, json!([send_action(&seeded)])).await;
    let pool = pool(&db.url).await;

    // Contacts arrive while the worker nodes are being killed.
    let chaos_workers_only = workers > 0;
    let upsert = upsert_contacts(&seeded, 0..n);
    tokio::pin!(upsert);
    let mut killed = 0;
    let mut next_kill =
        Instant::now() + Duration::from_millis(rand::thread_rng().gen_range(500..2000));
    loop {
        tokio::select! {
            _ = &mut upsert => break,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        if chaos_workers_only && killed < kills && Instant::now() >= next_kill {
            let i = rand::thread_rng().gen_range(1..nodes.len());
            nodes[i].kill9();
            killed += 1;
            tokio::time::sleep(Duration::from_millis(
                rand::thread_rng().gen_range(100..800),
            ))
            .await;
            nodes[i].start();
            next_kill =
                Instant::now() + Duration::from_millis(rand::thread_rng().gen_range(500..2500));
        }
    }
    let seeded_in = started.elapsed();

    // Then any node, API node included, dies at random moments while the
    // backlog drains.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = None;
    loop {
        let s = db_state(&pool).await;
        let done = s.enrollments == n as i64
            && s.open_enrollments == 0
            && s.messages == n as i64
            && s.open_messages == 0;
        if done && killed >= kills {
            last = Some(s);
            break;
        }
        if Instant::now() > deadline {
            let tails: Vec<String> = nodes
                .iter()
                .map(|n| format!("--- {} ---\n{}", n.log.display(), n.log_tail()))
                .collect();
            panic!(
                "burst on {backend} did not finish in time: {s:?}\ngateway: {:?}\n{}",
                gateway.counts(),
                tails.join("\n")
            );
        }
        if killed < kills && Instant::now() >= next_kill {
            let i = rand::thread_rng().gen_range(0..nodes.len());
            nodes[i].kill9();
            killed += 1;
            tokio::time::sleep(Duration::from_millis(
                rand::thread_rng().gen_range(100..1000),
            ))
            .await;
            nodes[i].start();
            next_kill =
                Instant::now() + Duration::from_millis(rand::thread_rng().gen_range(500..2500));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let _ = &mut last;
    }
    let s = last.expect("finished");
    let g = gateway.counts();
    let per_recipient = gateway.per_recipient();
    let lost = (0..n)
        .filter(|i| !per_recipient.contains_key(&phone(*i)))
        .count();
    let duplicates = g.duplicate_recipients;
    let drift = s.day_counter - s.handed_off;
    smsflow_testkit::summary::report(&format!(
        "fault-injection backend={backend} nodes={} kills={killed} sent={} duplicates={duplicates} lost={lost} \
         counter_drift={drift} requests={} repeats_deduplicated={} injected_timeouts={} injected_500={} injected_429={} \
         failed={} unknown={} seeded_in={:.1}s total={:.1}s",
        nodes.len(),
        g.keys,
        g.requests,
        g.repeats,
        g.timeouts,
        g.errors,
        g.throttled,
        s.failed,
        s.unknown,
        seeded_in.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    ));
    assert_eq!(g.keys, n as u64, "distinct idempotency keys handed off");
    assert_eq!(duplicates, 0, "a recipient got two messages");
    assert!(per_recipient.values().all(|k| *k == 1));
    assert_eq!(lost, 0, "messages never handed off");
    assert_eq!(s.handed_off, n as i64, "messages recorded as handed off");
    assert_eq!(
        (s.failed, s.unknown),
        (0, 0),
        "no message may fail or be unknown with an idempotent provider"
    );
    assert_eq!(drift, 0, "usage counters must equal hand-offs");
    assert!(s.day_counter <= (n * 2) as i64, "no counter over its limit");
    for node in &mut nodes {
        node.kill9();
    }
    drop(pool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection_postgres_three_nodes_kill9() {
    burst(TestBackend::Postgres, 2, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection_sqlite_restarts_kill9() {
    burst(TestBackend::Sqlite, 0, 3).await;
}

/// R25: delays and pacing-deferred sends that fall due while every node is
/// down run once when a node comes back. Then SIGTERM: the node stops
/// claiming, finishes its round, gives back its leases and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r25_work_due_while_all_nodes_are_down_runs_once_on_restart_and_sigterm_is_clean() {
    let n = 60;
    let db = test_db(TestBackend::Postgres).await;
    let gateway = FakeGateway::start(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = vec![
        Node::new("all", &db.url, &gateway.url, dir.path(), 0),
        Node::new("worker", &db.url, &gateway.url, dir.path(), 1),
    ];
    nodes[0].start();
    wait_healthy(&nodes[0].url()).await;
    nodes[1].start();
    let seeded = seed_account(&nodes[0].url(), 1000).await;
    // A 4 s delay, then a send paced to 20 segments/s.
    seeded
        .api
        .call(
            Method::PATCH,
            &format!("/numbers/{}", seeded.number_id),
            &seeded.api.token,
            Some(json!({"throughput": 20})),
        )
        .await;
    let delay = json!({"id": "wait", "type": "delay", "duration": "4s"});
    publish_workflow(&seeded, json!([delay, send_action(&seeded)])).await;
    upsert_contacts(&seeded, 0..n).await;
    let pool = pool(&db.url).await;
    // Every enrollment is waiting on its delay: kill every node.
    let deadline = Instant::now() + Duration::from_secs(30);
    while scalar(
        &pool,
        "SELECT COUNT(*) FROM enrollments WHERE state = 'waiting'",
    )
    .await
        < n as i64
    {
        assert!(
            Instant::now() < deadline,
            "enrollments never reached the delay"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in &mut nodes {
        node.kill9();
    }
    assert_eq!(gateway.counts().keys, 0);
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Everything is overdue; one node comes back.
    nodes[1].start();
    let deadline = Instant::now() + Duration::from_secs(60);
    while gateway.counts().keys < n as u64 {
        assert!(
            Instant::now() < deadline,
            "overdue work did not run after restart: {:?}",
            gateway.counts()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = gateway.counts();
    assert_eq!(
        (c.keys, c.duplicate_recipients, c.repeats),
        (n as u64, 0, 0),
        "each overdue send ran once"
    );
    // SIGTERM: a clean exit, nothing left leased.
    let status = nodes[1].terminate().expect("the node was running");
    assert!(
        status.success(),
        "SIGTERM exit: {status:?}\n{}",
        nodes[1].log_tail()
    );
    let leased = scalar(
        &pool,
        "SELECT COUNT(*) FROM enrollments WHERE lease_owner IS NOT NULL",
    )
    .await
        + scalar(
            &pool,
            "SELECT COUNT(*) FROM messages WHERE lease_owner IS NOT NULL",
        )
        .await;
    assert_eq!(leased, 0, "a stopped node holds no lease");
    smsflow_testkit::summary::report(&format!("r25 restart: {n} overdue sends ran once after every node was killed; SIGTERM exit {status}"));
}

/// Scale-out figures for BENCHMARKS.md (ignored; run in release):
/// `SMSFLOW_SCALE_N` contacts (default 20,000) are enrolled with no worker
/// running, then 1 or 2 `serve --role worker` nodes drain the backlog
/// (steps, counters, outbox, hand-off to the fake gateway) on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release -p smsflow --test fault_injection scale_out -- --ignored --nocapture"]
async fn scale_out_one_vs_two_worker_nodes_on_postgres() {
    let n: usize = std::env::var("SMSFLOW_SCALE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for workers in [1usize, 2] {
        let db = test_db(TestBackend::Postgres).await;
        let gateway = FakeGateway::start(Faults::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let mut api = Node::new("api", &db.url, &gateway.url, dir.path(), 0);
        api.start();
        wait_healthy(&api.url()).await;
        let seeded = seed_account(&api.url(), (n * 2) as u32).await;
        publish_workflow(&seeded, json!([send_action(&seeded)])).await;
        upsert_contacts(&seeded, 0..n).await;
        let started = Instant::now();
        let mut nodes: Vec<Node> = (0..workers)
            .map(|i| Node::new("worker", &db.url, &gateway.url, dir.path(), i + 1))
            .collect();
        for node in &mut nodes {
            node.start();
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        while gateway.counts().keys < n as u64 {
            assert!(
                Instant::now() < deadline,
                "backlog did not drain: {:?}",
                gateway.counts()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = started.elapsed().as_secs_f64();
        let c = gateway.counts();
        smsflow_testkit::summary::report(&format!(
            "scale-out backend=postgres worker_nodes={workers} messages={n} seconds={took:.1} msg_per_s={:.0} duplicates={}",
            n as f64 / took,
            c.duplicate_recipients
        ));
        for node in &mut nodes {
            node.terminate();
        }
        api.terminate();
    }
}
