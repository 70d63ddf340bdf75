//! Pins R22 and R25 through the API on SQLite and PostgreSQL: editing a
//! published workflow makes a new draft revision, the published one keeps
//! running, and enrollments finish on the revision they started on; pausing
//! holds enrollments where they are until the workflow is published again.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{cond, send_action, spawn_app};
use smsflow_testkit::db::TestBackend;

smsflow_testkit::on_both_backends!(
    r22_running_enrollments_finish_on_their_revision,
    r22_paused_workflow_holds_enrollments_until_published_again,
);

fn two_step(number: &str, user: &str, second_body: &str) -> Value {
    json!({
        "name": "Nurture",
        "object_type": "contact",
        "enrollment": {"filters": [[cond("lifecyclestage", "eq", json!("lead"))]]},
        "actions": [
            send_action("hello", number, user, "Hello"),
            {"id": "wait", "type": "delay", "duration": "1d"},
            send_action("follow_up", number, user, second_body),
        ],
    })
}

fn bodies(outbox: &[Value], phone: &str) -> Vec<String> {
    outbox
        .iter()
        .filter(|m| m["to"] == phone)
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect()
}

async fn r22_running_enrollments_finish_on_their_revision(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let wf = app
        .published_workflow(&acct, two_step(&number, &user, "Version one"))
        .await;
    app.contact(
        &acct,
        json!({"lifecyclestage": "lead", "mobilephone": "+14155550101"}),
    )
    .await;
    app.drain().await;

    let (status, edited) = app
        .put(
            &acct,
            &format!("/workflows/{wf}"),
            two_step(&number, &user, "Version two"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        (
            edited["revision"].as_i64(),
            edited["published_revision"].as_i64(),
            edited["state"].as_str()
        ),
        (Some(2), Some(1), Some("published"))
    );
    // Until revision 2 is published, new enrollments still run revision 1.
    app.contact(
        &acct,
        json!({"lifecyclestage": "lead", "mobilephone": "+14155550102"}),
    )
    .await;
    app.drain().await;
    app.publish(&acct, &wf, false).await;
    app.contact(
        &acct,
        json!({"lifecyclestage": "lead", "mobilephone": "+14155550103"}),
    )
    .await;
    app.drain().await;

    app.advance(Duration::days(1));
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert_eq!(
        bodies(&outbox, "+14155550101"),
        vec!["Hello", "Version one"]
    );
    assert_eq!(
        bodies(&outbox, "+14155550102"),
        vec!["Hello", "Version one"]
    );
    assert_eq!(
        bodies(&outbox, "+14155550103"),
        vec!["Hello", "Version two"]
    );
}

async fn r22_paused_workflow_holds_enrollments_until_published_again(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let wf = app
        .published_workflow(&acct, two_step(&number, &user, "Later"))
        .await;
    app.contact(
        &acct,
        json!({"lifecyclestage": "lead", "mobilephone": "+14155550101"}),
    )
    .await;
    app.drain().await;
    let (status, paused) = app
        .post(&acct, &format!("/workflows/{wf}/pause"), json!({}))
        .await;
    assert_eq!(
        (status, paused["state"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    // Paused workflows enroll nobody and send nothing.
    app.contact(
        &acct,
        json!({"lifecyclestage": "lead", "mobilephone": "+14155550102"}),
    )
    .await;
    app.advance(Duration::days(2));
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 1);

    app.publish(&acct, &wf, false).await;
    app.advance(Duration::minutes(1));
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert_eq!(bodies(&outbox, "+14155550101"), vec!["Hello", "Later"]);
    assert!(
        bodies(&outbox, "+14155550102").is_empty(),
        "not enrolled while paused"
    );
}
