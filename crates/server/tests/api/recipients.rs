//! What a send does with the record it gets: the recipient and its fallback
//! (R6), tokens and their defaults (R7) — each outcome logged (R15).

use serde_json::{json, Value};
use smsflow_testkit::app::{spawn_app, welcome_workflow_json, TestAccount, TestApp};
use smsflow_testkit::db::TestBackend;

smsflow_testkit::on_both_backends!(
    r7_empty_token_without_default_fails_missing_token_and_sends_nothing,
    r7_default_fills_an_empty_token,
    r6_unparsable_phone_fails_invalid_phone,
    r6_empty_recipient_and_fallback_skip_no_recipient,
    r6_fallback_is_used_when_the_recipient_property_is_empty,
);

/// An account with a published welcome workflow sending `body`, and one
/// lead with `properties`, drained. Returns the single action log entry.
async fn one_send(
    backend: TestBackend,
    body: &str,
    properties: Value,
) -> (TestApp, TestAccount, Value) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let wf = app
        .published_workflow(&acct, welcome_workflow_json(&number, &user, body))
        .await;
    let mut properties = properties;
    properties["lifecyclestage"] = json!("lead");
    let contact = app.contact(&acct, properties).await;
    app.drain().await;
    let logs = app.action_logs(&acct, &wf).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["record_id"], contact.as_str());
    let log = logs[0].clone();
    (app, acct, log)
}

async fn assert_nothing_sent(app: &TestApp, acct: &TestAccount) {
    assert!(app.outbox(acct).await.is_empty());
    assert!(
        app.list(acct, "/messages").await.is_empty(),
        "no message row at all"
    );
}

async fn r7_empty_token_without_default_fails_missing_token_and_sends_nothing(
    backend: TestBackend,
) {
    let (app, acct, log) = one_send(
        backend,
        "Hi {{ contact.firstname }}, welcome",
        json!({"mobilephone": "+14155550123"}),
    )
    .await;
    assert_eq!(log["outcome"], "failed", "{log}");
    assert_eq!(log["reason_code"], "missing_token", "{log}");
    assert!(
        log["reason"].as_str().unwrap().contains("firstname"),
        "{log}"
    );
    assert!(log["message_id"].is_null());
    assert_nothing_sent(&app, &acct).await;
}

async fn r7_default_fills_an_empty_token(backend: TestBackend) {
    let body = "Hi {{ contact.firstname | default(\"there\") }}, welcome";
    let (app, acct, log) = one_send(
        backend,
        body,
        json!({"mobilephone": "+14155550123", "firstname": ""}),
    )
    .await;
    assert_eq!(log["outcome"], "succeeded", "{log}");
    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["body"], "Hi there, welcome");
}

async fn r6_unparsable_phone_fails_invalid_phone(backend: TestBackend) {
    let (app, acct, log) = one_send(
        backend,
        "Hi",
        json!({"mobilephone": "not a phone", "phone": "+14155550123"}),
    )
    .await;
    assert_eq!(log["outcome"], "failed", "{log}");
    assert_eq!(log["reason_code"], "invalid_phone", "{log}");
    assert_nothing_sent(&app, &acct).await;
}

async fn r6_empty_recipient_and_fallback_skip_no_recipient(backend: TestBackend) {
    let (app, acct, log) = one_send(
        backend,
        "Hi",
        json!({"firstname": "Maria", "mobilephone": "", "phone": null}),
    )
    .await;
    assert_eq!(log["outcome"], "skipped", "{log}");
    assert_eq!(log["reason_code"], "no_recipient", "{log}");
    assert_nothing_sent(&app, &acct).await;
}

async fn r6_fallback_is_used_when_the_recipient_property_is_empty(backend: TestBackend) {
    let (app, acct, log) = one_send(
        backend,
        "Hi",
        json!({"mobilephone": "  ", "phone": "(415) 555-0142"}),
    )
    .await;
    assert_eq!(log["outcome"], "succeeded", "{log}");
    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["to"], "+14155550142");
    assert_eq!(log["message_id"], outbox[0]["id"]);
}
