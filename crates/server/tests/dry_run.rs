//! The workflow dry run (R24), on SQLite and PostgreSQL: over a data set that
//! mixes every reason a send can be blocked — opted out (R18), not a
//! marketing contact (R19), no phone and an unparsable one (R6), an empty
//! token without default (R7), quiet hours at the recipient (R21) and the day
//! limit with a counter already in use (R9, R10) — the dry run's counts,
//! reason by reason, equal what publishing with `enroll_existing` and running
//! the engine then does; and the dry run itself writes nothing.

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{cond, send_action, spawn_app, TestAccount, TestApp};
use smsflow_testkit::db::TestBackend;
use std::collections::BTreeMap;

/// The `smsflow` binary's allocator, so the benchmark below measures the
/// dry run as the server runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

smsflow_testkit::on_both_backends!(
    r24_dry_run_counts_equal_what_publishing_then_does_reason_by_reason,
    r24_dry_run_of_an_invalid_definition_reports_every_problem,
    r24_a_dry_run_over_several_pages_counts_every_record_once_in_order,
    r24_a_deal_workflows_dry_run_sends_to_each_deals_primary_contact_as_publishing_does,
);

/// A German mobile number distinct per `i`: 13:00 in Berlin when the test
/// clock says 12:00 UTC, outside quiet hours.
fn de_phone(i: usize) -> String {
    format!("+4915123456{:03}", 100 + i)
}

/// A San Francisco number distinct per `i`: 05:00 there at 12:00 UTC in
/// March, inside the default quiet hours (20:00–08:00).
fn us_west_phone(i: usize) -> String {
    format!("+1415555{:04}", 150 + i)
}

/// A contact workflow enrolling leads and sending them one message of the
/// given subscription type.
fn lead_workflow(number: &str, user: &str, type_id: &str) -> Value {
    let mut send = send_action(
        "hello",
        number,
        user,
        "Hi {{ contact.firstname }}, our spring offer is here.",
    );
    send["subscription_type_id"] = json!(type_id);
    json!({
        "name": "Spring offer",
        "object_type": "contact",
        "enrollment": {"filters": [[cond("lifecyclestage", "eq", json!("lead"))]], "reenroll_on": []},
        "actions": [send],
    })
}

async fn dry_run(app: &TestApp, acct: &TestAccount, path: &str, body: Value) -> Value {
    let (status, report) = app.post(acct, path, body).await;
    assert_eq!(status, StatusCode::OK, "POST {path}: {report}");
    report
}

fn blocked(report: &Value) -> BTreeMap<String, u64> {
    serde_json::from_value(report["blocked"].clone())
        .unwrap_or_else(|e| panic!("blocked is a map of counts ({e}): {report}"))
}

async fn subscription_type(app: &TestApp, acct: &TestAccount, name: &str, purpose: &str) -> String {
    let (status, out) = app
        .post(
            acct,
            "/subscription-types",
            json!({"name": name, "purpose": purpose}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "create subscription type: {out}"
    );
    out["id"].as_str().expect("type id is a string").to_string()
}

async fn r24_dry_run_counts_equal_what_publishing_then_does_reason_by_reason(backend: TestBackend) {
    let app = spawn_app(backend).await;
    // 12:00 UTC on 10 March: 13:00 in Berlin, 05:00 in San Francisco.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap());
    let acct = app.create_account(true).await;
    app.update_account(&acct, json!({"limits": {"day": 4}}))
        .await;
    let (number, user) = app.setup_sender(&acct).await;
    let marketing = subscription_type(&app, &acct, "Offers", "marketing").await;
    let transactional = subscription_type(&app, &acct, "Orders", "transactional").await;

    // One message already counts against today's limit: 3 of 4 are left.
    app.published_workflow(
        &acct,
        json!({
            "name": "Customers",
            "object_type": "contact",
            "enrollment": {"filters": [[cond("lifecyclestage", "eq", json!("customer"))]], "reenroll_on": []},
            "actions": [send_action("thanks", &number, &user, "Thanks!")],
        }),
    )
    .await;
    app.contact(
        &acct,
        json!({"mobilephone": de_phone(99), "lifecyclestage": "customer"}),
    )
    .await;
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 1);

    let lead = |phone: Option<String>, name: &str, marketing: bool| {
        let mut p =
            json!({"lifecyclestage": "lead", "firstname": name, "marketing_contact": marketing});
        if let Some(phone) = phone {
            p["mobilephone"] = json!(phone);
        }
        p
    };
    // Five sendable German leads; only three fit under the limit.
    for i in 0..5 {
        app.contact(&acct, lead(Some(de_phone(i)), &format!("Lea{i}"), true))
            .await;
    }
    // Opted out of everything.
    app.contact(&acct, lead(Some(de_phone(10)), "Otto", true))
        .await;
    let (status, out) = app
        .put(
            &acct,
            &format!("/consent/{}", de_phone(10)),
            json!({"subscription_type_id": "*", "status": "unsubscribed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "opt out: {out}");
    // Not a marketing contact.
    app.contact(&acct, lead(Some(de_phone(11)), "Nora", false))
        .await;
    // No phone, and a phone that does not parse.
    app.contact(&acct, lead(None, "Nils", true)).await;
    app.contact(&acct, lead(Some("12".into()), "Ina", true))
        .await;
    // An empty first name and no default.
    app.contact(
        &acct,
        json!({"lifecyclestage": "lead", "mobilephone": de_phone(12), "marketing_contact": true}),
    )
    .await;
    // Two leads on the US west coast, where it is 05:00.
    for i in 0..2 {
        app.contact(
            &acct,
            lead(Some(us_west_phone(i)), &format!("Quinn{i}"), true),
        )
        .await;
    }
    // Not a lead: never enrolls.
    app.contact(&acct, json!({"lifecyclestage": "subscriber", "mobilephone": de_phone(13), "marketing_contact": true})).await;

    let usage_before = app.usage(&acct).await;
    let definition = lead_workflow(&number, &user, &marketing);
    let unsaved = dry_run(&app, &acct, "/workflows/dry-run", definition.clone()).await;
    let wf = app.create_workflow(&acct, definition).await;
    let report = dry_run(&app, &acct, &format!("/workflows/{wf}/dry-run"), json!({})).await;
    assert_eq!(
        report, unsaved,
        "a draft and the same unsaved definition run alike"
    );

    let want: BTreeMap<String, u64> = [
        ("opted_out", 1),
        ("not_marketing_contact", 1),
        ("no_recipient", 1),
        ("invalid_phone", 1),
        ("missing_token", 1),
        ("quiet_hours", 2),
        ("limit_exceeded", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(report["enrolled"], 12, "{report}");
    assert_eq!(report["messages"], 3, "{report}");
    assert_eq!(blocked(&report), want, "{report}");
    assert_eq!(report["segments_total"], 3, "{report}");
    let samples = report["samples"].as_array().expect("samples is a list");
    assert_eq!(samples.len(), 3, "{report}");
    for s in samples {
        assert!(s["body"].as_str().unwrap().starts_with("Hi Lea"), "{s}");
        assert_eq!(s["encoding"], "gsm7", "{s}");
        assert_eq!(s["segments"], 1, "{s}");
        assert!(s["to"].as_str().unwrap().starts_with("+49"), "{s}");
        assert!(s["record_id"].is_string(), "{s}");
    }

    // The same workflow with a transactional type: Nora's message now
    // passes the consent rules and competes for the three places left.
    let mut other = lead_workflow(&number, &user, &transactional);
    other["name"] = json!("Order news");
    let transactional_report = dry_run(&app, &acct, "/workflows/dry-run", other).await;
    let t = blocked(&transactional_report);
    assert!(
        !t.contains_key("not_marketing_contact"),
        "{transactional_report}"
    );
    assert_eq!(
        transactional_report["messages"], 3,
        "{transactional_report}"
    );
    assert_eq!(t["limit_exceeded"], 3, "{transactional_report}");

    // The dry runs wrote nothing.
    assert!(app
        .list(&acct, &format!("/workflows/{wf}/enrollments"))
        .await
        .is_empty());
    assert!(app.action_logs(&acct, &wf).await.is_empty());
    assert_eq!(app.outbox(&acct).await.len(), 1);
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 1);
    assert_eq!(app.usage(&acct).await, usage_before);

    // Now for real.
    let published = app.publish(&acct, &wf, true).await;
    assert_eq!(published["enrolled"], report["enrolled"], "{published}");
    app.drain().await;
    let logs = app.action_logs(&acct, &wf).await;
    let mut did: BTreeMap<String, u64> = BTreeMap::new();
    let mut sent = 0;
    for l in &logs {
        match l["reason_code"].as_str() {
            Some(code) => *did.entry(code.to_string()).or_default() += 1,
            None => {
                assert_eq!(l["outcome"], "succeeded", "{l}");
                assert!(l["message_id"].is_string(), "{l}");
                sent += 1;
            }
        }
    }
    assert_eq!(did, want, "{logs:?}");
    assert_eq!(sent, 3, "{logs:?}");
    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 1 + 3, "{outbox:?}");
    let bodies: Vec<&str> = outbox.iter().filter_map(|m| m["body"].as_str()).collect();
    for s in samples {
        assert!(
            bodies.contains(&s["body"].as_str().unwrap()),
            "{s} not in {bodies:?}"
        );
    }

    // Everyone is enrolled now; a second dry run enrolls no one.
    let again = dry_run(&app, &acct, &format!("/workflows/{wf}/dry-run"), json!({})).await;
    assert_eq!(again["enrolled"], 0, "{again}");
    assert_eq!(again["messages"], 0, "{again}");
}

async fn r24_dry_run_of_an_invalid_definition_reports_every_problem(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (status, out) = app
        .post(
            &acct,
            "/workflows/dry-run",
            json!({"name": "Broken", "object_type": "contact", "actions": [{"id": "a", "type": "send_sms", "body": ""}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{out}");
    assert_eq!(out["error"]["code"], "validation_failed", "{out}");
    let (status, out) = app
        .post(&acct, "/workflows/wf_missing/dry-run", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{out}");
}

/// The R24 performance figures of BENCHMARKS.md: a dry run over N contacts
/// (default 1,000,000; `DRY_RUN_BENCH_N`), 95 % of them enrolling and
/// reaching a marketing send. Run with
/// `cargo test --release -p smsflow-server --test dry_run -- --ignored --nocapture r24_dry_run_benchmark_sqlite`
/// (or `…_postgres`, with `SMSFLOW_TEST_POSTGRES_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: seeds a million records"]
async fn r24_dry_run_benchmark_sqlite() {
    dry_run_benchmark(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: seeds a million records"]
async fn r24_dry_run_benchmark_postgres() {
    dry_run_benchmark(TestBackend::Postgres).await;
}

/// Seeds `n` contacts straight through the store, with their phone index
/// as the engine writes it: every 20th a customer, the rest leads; every
/// 10th on a US west-coast number, the rest German; every 7th not a
/// marketing contact. Answers their ids with their `i`, in id order (which
/// is not the order of `i`: ids made in the same millisecond are random).
async fn seed_contacts(app: &TestApp, acct: &TestAccount, n: usize) -> Vec<(String, usize)> {
    use smsflow_core::ids::{AccountId, RecordId};
    use smsflow_core::object::{ObjectType, Record};
    let account = AccountId::from_string(acct.id.clone());
    let now = app.now();
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(5000) {
        let records: Vec<Record> = (start..(start + 5000).min(n))
            .map(|i| {
                let phone = if i % 10 == 0 {
                    format!("+1415555{:04}", i % 10_000)
                } else {
                    format!("+49151{:08}", i)
                };
                let props = json!({
                    "lifecyclestage": if i % 20 == 0 { "customer" } else { "lead" },
                    "firstname": format!("Name{i}"),
                    "mobilephone": phone,
                    "marketing_contact": i % 7 != 0,
                });
                Record {
                    id: RecordId::generate(),
                    object_type: ObjectType::Contact,
                    properties: props.as_object().unwrap().clone(),
                    associations: Vec::new(),
                    created_at: now,
                    updated_at: now,
                }
            })
            .collect();
        // The phone index, as the engine writes it with every record.
        let phones: Vec<_> = records
            .iter()
            .map(|r| {
                let raw = r.properties["mobilephone"].as_str().unwrap();
                let phone = smsflow_core::phone::E164::parse(raw, None).unwrap();
                (r.id.clone(), ObjectType::Contact, vec![phone])
            })
            .collect();
        let mut tx = app.engine.store().begin().await.unwrap();
        tx.upsert_records(&account, &records).await.unwrap();
        tx.add_record_phones(&account, &phones).await.unwrap();
        tx.commit().await.unwrap();
        ids.extend(
            records
                .into_iter()
                .enumerate()
                .map(|(k, r)| (r.id.to_string(), start + k)),
        );
    }
    ids.sort();
    ids
}

/// In a deal workflow the message goes to the deal's primary contact: the
/// dry run reads those contacts (and their validated phones) for the deals
/// that enroll, and counts as publishing then does.
async fn r24_a_deal_workflows_dry_run_sends_to_each_deals_primary_contact_as_publishing_does(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap());
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let with_mobile = app
        .contact(
            &acct,
            json!({"firstname": "Mia", "mobilephone": de_phone(1)}),
        )
        .await;
    let unparsable = app
        .contact(&acct, json!({"firstname": "Uwe", "phone": "call me"}))
        .await;
    let without_phone = app.contact(&acct, json!({"firstname": "Nils"})).await;
    let deal = |name: &str, stage: &str, contact: Option<&str>| {
        let mut body = json!({"properties": {"dealname": name, "dealstage": stage}});
        if let Some(c) = contact {
            body["associations"] = json!([{"type": "contact", "id": c}]);
        }
        body
    };
    for body in [
        deal("Roof", "won", Some(&with_mobile)),
        deal("Door", "won", Some(&unparsable)),
        deal("Wall", "won", Some(&without_phone)),
        deal("Loose", "won", None),
        // Does not enroll: its contact would be sendable.
        deal("Gate", "lost", Some(&with_mobile)),
    ] {
        let (status, out) = app.post(&acct, "/objects/deals", body).await;
        assert_eq!(status, StatusCode::CREATED, "create deal: {out}");
    }
    let mut send = send_action(
        "thanks",
        &number,
        &user,
        "Thanks {{ contact.firstname }}, {{ deal.dealname }} is done.",
    );
    send["recipient_property"] = json!("contact.mobilephone");
    send["fallback_property"] = json!("contact.phone");
    let definition = json!({
        "name": "Won deals",
        "object_type": "deal",
        "enrollment": {"filters": [[cond("dealstage", "eq", json!("won"))]], "reenroll_on": []},
        "actions": [send],
    });
    let wf = app.create_workflow(&acct, definition).await;
    let report = dry_run(&app, &acct, &format!("/workflows/{wf}/dry-run"), json!({})).await;
    assert_eq!(report["enrolled"], 4, "{report}");
    assert_eq!(report["messages"], 1, "{report}");
    let want: BTreeMap<String, u64> = [("invalid_phone", 1), ("no_recipient", 2)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(blocked(&report), want, "{report}");
    assert_eq!(
        report["samples"][0]["body"], "Thanks Mia, Roof is done.",
        "{report}"
    );
    assert_eq!(report["samples"][0]["to"], json!(de_phone(1)), "{report}");

    let published = app.publish(&acct, &wf, true).await;
    assert_eq!(published["enrolled"], 4, "{published}");
    app.drain().await;
    let mut did: BTreeMap<String, u64> = BTreeMap::new();
    for l in app.action_logs(&acct, &wf).await {
        if let Some(code) = l["reason_code"].as_str() {
            *did.entry(code.to_string()).or_default() += 1;
        }
    }
    assert_eq!(did, want);
    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0]["body"], "Thanks Mia, Roof is done.");
}

/// The dry run reads an account a page of 5,000 records at a time, several
/// pages at once: across pages every record is still counted exactly once,
/// and the limit is still spent in record order (the samples are the first
/// records, and the last of the allowance goes to a record in the third
/// page).
async fn r24_a_dry_run_over_several_pages_counts_every_record_once_in_order(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap());
    let acct = app.create_account(true).await;
    let n = 12_345;
    app.update_account(&acct, json!({"limits": {"day": 9_000}}))
        .await;
    let (number, user) = app.setup_sender(&acct).await;
    let transactional = subscription_type(&app, &acct, "Orders", "transactional").await;
    let ids = seed_contacts(&app, &acct, n).await;
    let mut definition = lead_workflow(&number, &user, &transactional);
    // Every contact enrolls; none is in quiet hours at 12:00 UTC but the
    // US west-coast ones (05:00 there).
    definition["enrollment"]["filters"] = json!([[cond("firstname", "is_known", json!(null))]]);
    let wf = app.create_workflow(&acct, definition).await;
    let report = dry_run(&app, &acct, &format!("/workflows/{wf}/dry-run"), json!({})).await;
    let quiet = (0..n).filter(|i| i % 10 == 0).count() as u64;
    assert_eq!(report["enrolled"], json!(n), "{report}");
    assert_eq!(report["messages"], json!(9_000), "{report}");
    assert_eq!(
        report["blocked"],
        json!({"quiet_hours": quiet, "limit_exceeded": n as u64 - quiet - 9_000}),
        "{report}"
    );
    // The samples are the first records in id order that are not on a US
    // number (in quiet hours).
    let sampled: Vec<&str> = report["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["record_id"].as_str().unwrap())
        .collect();
    let sendable: Vec<&str> = ids
        .iter()
        .filter(|(_, i)| i % 10 != 0)
        .map(|(id, _)| id.as_str())
        .take(5)
        .collect();
    assert_eq!(sampled, sendable, "the first sendable records, in id order");

    // Runs at once outnumber the reads the store does at once (a dry run
    // reads several pages at a time): each waits its turn and counts the
    // same.
    let path = format!("/workflows/{wf}/dry-run");
    let runs = (0..6).map(|_| dry_run(&app, &acct, &path, json!({})));
    for (k, again) in futures::future::join_all(runs).await.iter().enumerate() {
        assert_eq!(again, &report, "concurrent run {k}");
    }
}

async fn dry_run_benchmark(backend: TestBackend) {
    let n: usize = std::env::var("DRY_RUN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let app = spawn_app(backend).await;
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap());
    let acct = app.create_account(true).await;
    app.update_account(
        &acct,
        json!({"limits": {"day": 600_000, "month": 2_000_000}}),
    )
    .await;
    let (number, user) = app.setup_sender(&acct).await;
    let marketing = subscription_type(&app, &acct, "Offers", "marketing").await;
    let seeded = std::time::Instant::now();
    seed_contacts(&app, &acct, n).await;
    eprintln!("seeded {n} contacts in {:?}", seeded.elapsed());
    let definition = lead_workflow(&number, &user, &marketing);
    let wf = app.create_workflow(&acct, definition).await;
    for round in 0..3 {
        let started = std::time::Instant::now();
        let cpu = process_cpu_seconds();
        let report = dry_run(&app, &acct, &format!("/workflows/{wf}/dry-run"), json!({})).await;
        eprintln!(
            "dry run {round}: {:?} cpu={:.2}s enrolled={} messages={} blocked={}",
            started.elapsed(),
            process_cpu_seconds() - cpu,
            report["enrolled"],
            report["messages"],
            report["blocked"]
        );
    }
}

/// User + system CPU time of this process so far (Linux `/proc/self/stat`,
/// in clock ticks of 1/100 s), 0 where it cannot be read.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the parenthesised command name; utime and stime are
    // the 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
