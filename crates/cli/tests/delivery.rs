//! Delivery guarantees with engines in one process (R9, R11, R12): several
//! engines (nodes) on one PostgreSQL database racing for one limit, a
//! crash mid hand-off on a provider that does not deduplicate, and pacing.

use async_trait::async_trait;
use serde_json::{json, Value};
use smsflow_core::clock::{ManualClock, SystemClock};
use smsflow_core::ids::{AccountId, WorkflowId};
use smsflow_core::message::MessageStatus;
use smsflow_core::object::ObjectType;
use smsflow_engine::{
    parse_definition, AccountInput, BatchInput, Engine, EngineConfig, NumberInput, UserInput,
};
use smsflow_providers::{HttpGateway, Provider, SendError, SendReceipt, SendRequest};
use smsflow_store::{ActionLogFilter, MessageFilter, Store};
use smsflow_testkit::db::{test_db, TestBackend};
use smsflow_testkit::fakes::gateway::{FakeGateway, Faults};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn phone(i: usize) -> String {
    format!("+1212{:03}{:04}", 200 + i / 10_000, i % 10_000)
}

struct Setup {
    account: AccountId,
    workflow: WorkflowId,
}

/// Account with the given daily limit, one number on `provider`, a published
/// workflow sending to every contact with a phone; then `n` contacts.
async fn setup(
    engine: &Engine,
    provider: &str,
    throughput: u32,
    day_limit: u32,
    n: usize,
) -> Setup {
    let account = engine
        .create_account(AccountInput {
            name: Some(json!("Delivery")),
            entitlements: Some(json!({"sms": true})),
            limits: Some(json!({"day": day_limit, "month": day_limit * 2, "on_limit": "fail"})),
            quiet_hours: Some(Value::Null),
            ..Default::default()
        })
        .await
        .unwrap()
        .account
        .id;
    let user = engine
        .create_user(
            &account,
            UserInput {
                name: Some(json!("Agent")),
                email: Some(json!("agent@example.com")),
            },
        )
        .await
        .unwrap();
    let number = engine
        .create_number(
            &account,
            NumberInput {
                e164: Some(json!("+14155550100")),
                label: Some(json!("Main")),
                provider: Some(json!(provider)),
                capabilities: Some(json!({"sms": true, "mms": false, "voice": false})),
                user_ids: Some(json!([user.id])),
                throughput: Some(json!(throughput)),
            },
        )
        .await
        .unwrap();
    let definition = parse_definition(json!({
        "name": "Delivery",
        "object_type": "contact",
        "enrollment": {"filters": [[{"property": "mobilephone", "op": "is_known"}]]},
        "actions": [{
            "id": "notify", "type": "send_sms", "from_number_id": number.id, "sender_user_id": user.id,
            "recipient_property": "mobilephone", "body": "Hello",
        }],
    }))
    .unwrap();
    let workflow = engine
        .create_workflow(&account, definition)
        .await
        .unwrap()
        .id;
    engine
        .publish_workflow(&account, &workflow, false)
        .await
        .unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let inputs = chunk
            .iter()
            .map(|i| BatchInput {
                id: None,
                properties: Some(json!({"mobilephone": phone(*i)})),
                associations: None,
            })
            .collect();
        engine
            .batch_upsert(&account, ObjectType::Contact, inputs, None)
            .await
            .unwrap();
    }
    Setup { account, workflow }
}

/// The real HTTP gateway adapter, pointed at the fake gateway.
fn gateway_provider(gateway: &FakeGateway) -> Arc<dyn Provider> {
    let url = gateway.url.parse().expect("the fake gateway has a URL");
    Arc::new(HttpGateway::new(url, None))
}

fn config(node: usize) -> EngineConfig {
    EngineConfig {
        node_id: format!("node-{node}"),
        lease: Duration::from_secs(2),
        step_batch: 128,
        dispatch_batch: 128,
        ..EngineConfig::default()
    }
}

/// Runs rounds on every engine concurrently until all are idle twice.
async fn run_until_idle(engines: &[Engine], limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    let mut idle_rounds = 0;
    while idle_rounds < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "engines did not go idle in {limit:?}"
        );
        let rounds = futures::future::join_all(engines.iter().map(|e| e.run_once())).await;
        // A round may lose a race (another node took over work whose lease
        // ran out; the unique idempotency key rolls its step back): it is
        // logged and retried, as the worker loop does.
        let idle = rounds.into_iter().all(|r| match r {
            Ok(o) => o.is_idle(),
            Err(e) => {
                eprintln!("round failed (retried): {e}");
                false
            }
        });
        if idle {
            idle_rounds += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else {
            idle_rounds = 0;
        }
    }
}

/// Each of the `n` messages reached the gateway once, under its own key,
/// and is `sent`.
async fn assert_each_sent_once(
    gateway: &FakeGateway,
    store: &Store,
    account: &AccountId,
    n: usize,
    backend: TestBackend,
) {
    let c = gateway.counts();
    assert_eq!(
        (c.keys, c.repeats, c.duplicate_recipients),
        (n as u64, 0, 0),
        "{backend}"
    );
    assert_eq!(
        count_status(store, account, MessageStatus::Sent).await,
        n,
        "{backend}"
    );
}

async fn count_status(store: &Store, account: &AccountId, status: MessageStatus) -> usize {
    let mut after: Option<String> = None;
    let mut n = 0;
    loop {
        let filter = MessageFilter {
            status: Some(status),
            ..Default::default()
        };
        let page = store
            .list_messages(account, &filter, after.as_deref(), 1000)
            .await
            .unwrap();
        n += page.results.len();
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => return n,
        }
    }
}

/// R9: 8 nodes (engines with their own connections, on worker threads) race
/// for a limit of 5,000 with 6,000 contacts: exactly 5,000 are handed off,
/// the rest fail `limit_exceeded`, and the counter says 5,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r9_eight_concurrent_senders_stop_at_exactly_5000() {
    let db = test_db(TestBackend::Postgres).await;
    let gateway = FakeGateway::start(Faults::default()).await;
    let mut engines = Vec::new();
    for node in 0..8 {
        let store = Store::connect(&db.url).await.unwrap();
        let http = gateway_provider(&gateway);
        engines.push(Engine::with_providers(
            store,
            Arc::new(SystemClock),
            config(node),
            vec![http],
        ));
    }
    let s = setup(&engines[0], "http", 10_000, 5_000, 6_000).await;
    let tasks: Vec<_> = engines
        .iter()
        .cloned()
        .map(|e| tokio::spawn(async move { run_until_idle(&[e], Duration::from_secs(120)).await }))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    run_until_idle(&engines, Duration::from_secs(60)).await;
    let counts = gateway.counts();
    let store = engines[0].store();
    let handed = count_status(store, &s.account, MessageStatus::Sent).await;
    let usage = engines[0].usage(&s.account).await.unwrap();
    smsflow_testkit::summary::report(&format!(
        "r9 concurrent: handed_off={} gateway_keys={} usage={usage:?}",
        handed, counts.keys
    ));
    assert_eq!(counts.keys, 5_000, "exactly the limit is handed off");
    assert_eq!(counts.duplicate_recipients, 0);
    assert_eq!(handed, 5_000);
    let failed = store
        .list_action_logs(
            &s.account,
            &s.workflow,
            &ActionLogFilter {
                outcome: Some("failed".parse().unwrap()),
                ..Default::default()
            },
            None,
            2000,
        )
        .await
        .unwrap();
    assert_eq!(failed.results.len(), 1_000);
    assert!(failed
        .results
        .iter()
        .all(|l| l.reason_code.map(|c| c.as_str()) == Some("limit_exceeded")));
    assert_eq!(usage.numbers[0].day, 5_000, "number counter: {usage:?}");
    assert_eq!(usage.users[0].day, 5_000, "user counter: {usage:?}");
}

/// A provider that does not deduplicate: its first send hangs (the node is
/// killed mid hand-off); `lookup` knows only the keys in `known`.
#[derive(Debug, Default)]
struct Legacy {
    hang: bool,
    known: Mutex<HashSet<String>>,
    sent: Mutex<Vec<String>>,
}

#[async_trait]
impl Provider for Legacy {
    fn kind(&self) -> &str {
        "legacy"
    }
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, SendError> {
        if self.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        self.sent
            .lock()
            .unwrap()
            .push(request.idempotency_key.clone());
        Ok(SendReceipt {
            provider_message_id: format!("lg-{}", request.idempotency_key),
            status: MessageStatus::Sent,
        })
    }
    async fn lookup(&self, request: &SendRequest) -> Result<Option<SendReceipt>, SendError> {
        Ok(self
            .known
            .lock()
            .unwrap()
            .contains(&request.to.as_str().to_string())
            .then(|| SendReceipt {
                provider_message_id: format!("lg-found-{}", request.idempotency_key),
                status: MessageStatus::Sent,
            }))
    }
}

/// R12: a node dies mid hand-off on a provider without idempotency. After
/// the lease runs out, the reaper on another node asks the provider: the
/// message it knows is recorded as handed off, the other becomes `unknown`
/// with a failed action log entry saying so — neither is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_message_stuck_in_sending_after_a_crash_is_reconciled_or_unknown() {
    for backend in TestBackend::ALL {
        let db = test_db(backend).await;
        let store = Store::connect(&db.url).await.unwrap();
        let hanging = Arc::new(Legacy {
            hang: true,
            ..Default::default()
        });
        let dying = Engine::with_providers(
            store.clone(),
            Arc::new(SystemClock),
            config(1),
            vec![hanging.clone() as Arc<dyn Provider>],
        );
        let s = setup(&dying, "legacy", 100, 100, 2).await;
        // The node runs a round and is "killed" while both calls hang.
        let round = tokio::spawn({
            let e = dying.clone();
            async move { e.run_once().await }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while count_status(&store, &s.account, MessageStatus::Sending).await < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "messages never reached sending"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        round.abort();
        let healthy = Arc::new(Legacy::default());
        healthy.known.lock().unwrap().insert(phone(0));
        let survivor = Engine::with_providers(
            store.clone(),
            Arc::new(SystemClock),
            config(2),
            vec![healthy.clone() as Arc<dyn Provider>],
        );
        // Within the lease nothing is touched.
        survivor.run_once().await.unwrap();
        assert_eq!(
            count_status(&store, &s.account, MessageStatus::Sending).await,
            2,
            "{backend}: lease still held"
        );
        tokio::time::sleep(Duration::from_millis(2600)).await;
        survivor.drain().await.unwrap();
        assert!(
            healthy.sent.lock().unwrap().is_empty(),
            "{backend}: nothing may be sent again blindly"
        );
        let all = store
            .list_messages(&s.account, &MessageFilter::default(), None, 10)
            .await
            .unwrap()
            .results;
        let by_to = |i: usize| {
            all.iter()
                .find(|m| m.to.as_str() == phone(i))
                .unwrap()
                .clone()
        };
        let found = by_to(0);
        assert_eq!(
            found.status,
            MessageStatus::Sent,
            "{backend}: reconciled by lookup"
        );
        assert!(found
            .provider_message_id
            .as_deref()
            .unwrap()
            .starts_with("lg-found-"));
        let lost = by_to(1);
        assert_eq!(lost.status, MessageStatus::Unknown, "{backend}");
        let logs = store
            .list_action_logs(
                &s.account,
                &s.workflow,
                &ActionLogFilter::default(),
                None,
                10,
            )
            .await
            .unwrap()
            .results;
        let log = logs
            .iter()
            .find(|l| l.message_id.as_ref() == Some(&lost.id))
            .expect("action log of the unknown message");
        assert_eq!(log.outcome.as_str(), "failed", "{backend}");
        assert_eq!(log.reason_code.map(|c| c.as_str()), Some("handoff_unknown"));
        assert_eq!(
            log.reason.as_deref(),
            Some("hand-off outcome unknown after a crash; not re-sent")
        );
        let ok_log = logs
            .iter()
            .find(|l| l.message_id.as_ref() == Some(&found.id))
            .unwrap();
        assert_eq!(ok_log.outcome.as_str(), "succeeded", "{backend}");
        store.close().await;
    }
}

/// R12: a node commits its sends already leased to itself (the provider
/// deduplicates) and dies before handing them off. Another node leaves
/// them alone while the lease holds, then its reaper puts them back in the
/// outbox and they go out once each, under the keys they were created with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_messages_a_node_kept_for_itself_go_out_once_after_it_dies() {
    for backend in TestBackend::ALL {
        let db = test_db(backend).await;
        let store = Store::connect(&db.url).await.unwrap();
        let gateway = FakeGateway::start(Faults::default()).await;
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let node = |n: usize, dispatch_batch: i64| {
            let http = gateway_provider(&gateway);
            Engine::with_providers(
                store.clone(),
                clock.clone(),
                EngineConfig {
                    dispatch_batch,
                    ..config(n)
                },
                vec![http],
            )
        };
        // A dispatch batch of 0: the node runs its steps, keeps their
        // messages for a hand-off that never comes, and is gone.
        let dying = node(1, 0);
        let s = setup(&dying, "http", 100, 100, 3).await;
        let round = dying.run_once().await.unwrap();
        assert_eq!((round.steps, round.dispatched), (3, 0), "{backend}");
        drop(dying);
        assert_eq!(
            count_status(&store, &s.account, MessageStatus::Sending).await,
            3,
            "{backend}: committed leased to the node"
        );

        let survivor = node(2, 128);
        survivor.drain().await.unwrap();
        assert_eq!(gateway.counts().keys, 0, "{backend}: the lease still holds");
        clock.advance(chrono::Duration::seconds(3));
        survivor.drain().await.unwrap();
        assert_each_sent_once(&gateway, &store, &s.account, 3, backend).await;
        store.close().await;
    }
}

/// A worker asked to stop hands off the messages its last round kept for
/// itself beyond one dispatch batch, instead of leaving them to the reaper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_stops_hands_off_the_messages_it_kept() {
    for backend in TestBackend::ALL {
        let db = test_db(backend).await;
        let store = Store::connect(&db.url).await.unwrap();
        let gateway = FakeGateway::start(Faults::default()).await;
        let http = gateway_provider(&gateway);
        let engine = Engine::with_providers(
            store.clone(),
            Arc::new(ManualClock::new(chrono::Utc::now())),
            EngineConfig {
                step_batch: 8,
                dispatch_batch: 2,
                ..config(1)
            },
            vec![http],
        );
        let s = setup(&engine, "http", 100, 100, 8).await;
        // Asked to stop before it starts: one round, then it stops.
        engine.run(std::future::ready(())).await;
        assert_each_sent_once(&gateway, &store, &s.account, 8, backend).await;
        store.close().await;
    }
}

/// R11: a number with throughput 20 segments/s and 100 messages: the
/// gateway never sees more than ~2 seconds' worth in any second (one
/// second of burst), and all are sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r11_number_throughput_paces_a_burst_across_nodes() {
    let db = test_db(TestBackend::Postgres).await;
    let gateway = FakeGateway::start(Faults::default()).await;
    let mut engines = Vec::new();
    for node in 0..3 {
        let store = Store::connect(&db.url).await.unwrap();
        let http = gateway_provider(&gateway);
        engines.push(Engine::with_providers(
            store,
            Arc::new(SystemClock),
            config(node),
            vec![http],
        ));
    }
    let s = setup(&engines[0], "http", 20, 1000, 100).await;
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_secs(30);
    while gateway.counts().keys < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "pacing stalled: {:?}",
            gateway.counts()
        );
        futures::future::join_all(engines.iter().map(|e| e.run_once())).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let c = gateway.counts();
    smsflow_testkit::summary::report(&format!(
        "r11 pacing: 100 messages at 20/s took {took:?}, peak {} per second",
        gateway.peak_per_second()
    ));
    assert_eq!((c.keys, c.repeats, c.duplicate_recipients), (100, 0, 0));
    assert!(
        took >= Duration::from_secs(3),
        "100 messages at 20/s need ~4 s, took {took:?}"
    );
    assert!(
        gateway.peak_per_second() <= 45,
        "peak {} per second",
        gateway.peak_per_second()
    );
    assert_eq!(
        count_status(engines[0].store(), &s.account, MessageStatus::Sent).await,
        100
    );
}

/// R11/R12: a gateway answering 429 with Retry-After to 40% of requests:
/// nothing fails, nothing is duplicated, every message goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_429_with_retry_after_no_failure_no_duplicate() {
    let db = test_db(TestBackend::Sqlite).await;
    let gateway = FakeGateway::start(Faults {
        throttle_rate: 0.4,
        retry_after_secs: 1,
        ..Default::default()
    })
    .await;
    let store = Store::connect(&db.url).await.unwrap();
    let http = gateway_provider(&gateway);
    let engine = Engine::with_providers(store, Arc::new(SystemClock), config(0), vec![http]);
    let s = setup(&engine, "http", 10_000, 1000, 200).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while gateway.counts().keys < 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "429s stalled delivery: {:?}",
            gateway.counts()
        );
        engine.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine.drain().await.unwrap();
    let c = gateway.counts();
    smsflow_testkit::summary::report(&format!("r12 429: {c:?}"));
    assert!(c.throttled > 0);
    assert_eq!((c.keys, c.duplicate_recipients), (200, 0));
    assert_eq!(
        count_status(engine.store(), &s.account, MessageStatus::Failed).await,
        0
    );
    assert_eq!(
        count_status(engine.store(), &s.account, MessageStatus::Sent).await,
        200
    );
}
