//! The limit check and reservation are one atomic step (R9): records
//! written concurrently over HTTP while two workers drain never push a
//! counter past its limit.

use crate::helpers::{us_phone, usage_of, with_outcome};
use serde_json::json;
use smsflow_engine::{Engine, EngineConfig};
use smsflow_testkit::app::{spawn_app, welcome_workflow_json};
use smsflow_testkit::db::TestBackend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

smsflow_testkit::on_both_backends!(r9_concurrent_writes_and_two_workers_never_pass_the_day_limit);

const CONTACTS: usize = 20;

async fn r9_concurrent_writes_and_two_workers_never_pass_the_day_limit(backend: TestBackend) {
    let app = Arc::new(spawn_app(backend).await);
    let acct = app.create_account(true).await;
    app.update_account(&acct, json!({"limits": {"day": 5}}))
        .await;
    let (number, user) = app.setup_sender(&acct).await;
    let wf = app
        .published_workflow(&acct, welcome_workflow_json(&number, &user, "Hi"))
        .await;

    // Two workers: the app's engine and a second node on the same database.
    let second = Engine::new(
        app.engine.store().clone(),
        app.engine.clock().clone(),
        EngineConfig::default(),
    );
    let writing = Arc::new(AtomicBool::new(true));
    let workers: Vec<_> = [app.engine.clone(), second]
        .into_iter()
        .map(|engine| {
            let writing = writing.clone();
            tokio::spawn(async move {
                loop {
                    let done = !writing.load(Ordering::SeqCst);
                    engine.drain().await.expect("a concurrent drain succeeds");
                    if done {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..CONTACTS)
        .map(|i| {
            let (app, acct) = (app.clone(), acct.clone());
            tokio::spawn(async move {
                app.contact(
                    &acct,
                    json!({"mobilephone": us_phone(i), "lifecyclestage": "lead"}),
                )
                .await
            })
        })
        .collect();
    for w in writers {
        w.await.expect("a writer task");
    }
    writing.store(false, Ordering::SeqCst);
    for w in workers {
        w.await.expect("a worker task");
    }
    app.drain().await;

    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 5, "{outbox:?}");
    let usage = app.usage(&acct).await;
    assert_eq!(usage_of(&usage, "numbers", &number)["day"], 5, "{usage}");
    assert_eq!(usage_of(&usage, "users", &user)["day"], 5, "{usage}");
    let logs = app
        .list(&acct, &format!("/workflows/{wf}/action-logs?limit=1000"))
        .await;
    assert_eq!(with_outcome(&logs, "succeeded", None).len(), 5, "{logs:?}");
    assert_eq!(
        with_outcome(&logs, "failed", Some("limit_exceeded")).len(),
        CONTACTS - 5,
        "{logs:?}"
    );
    assert_eq!(
        logs.len(),
        CONTACTS,
        "one log entry per enrollment: {logs:?}"
    );
}
