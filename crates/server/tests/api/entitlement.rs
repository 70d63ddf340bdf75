//! Without the `sms` entitlement every SMS surface answers one clear
//! message (R1).

use crate::helpers::assert_error;
use reqwest::StatusCode;
use serde_json::json;
use smsflow_testkit::app::{cond, spawn_app, welcome_workflow_json};
use smsflow_testkit::db::TestBackend;

const BETA: &str = "SMS workflows are in private beta and are not enabled for this account";

smsflow_testkit::on_both_backends!(
    r1_without_the_sms_entitlement_sms_features_are_refused_with_one_message
);

async fn r1_without_the_sms_entitlement_sms_features_are_refused_with_one_message(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let off = app.create_account(false).await;
    let (status, account) = app
        .request(
            reqwest::Method::GET,
            &format!("/accounts/{}", off.id),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account["entitlements"], json!({"sms": false}));
    let (number, user) = app.setup_sender(&off).await;

    let refused = |status: StatusCode, body: &serde_json::Value| {
        let error = assert_error(status, body, StatusCode::FORBIDDEN, "sms_not_enabled");
        assert_eq!(error["message"], BETA, "{body}");
    };
    let (status, body) = app.get(&off, "/options/numbers").await;
    refused(status, &body);
    let (status, body) = app
        .get(&off, &format!("/options/users?number_id={number}"))
        .await;
    refused(status, &body);
    let (status, body) = app
        .post(
            &off,
            "/workflows",
            welcome_workflow_json(&number, &user, "Hi"),
        )
        .await;
    refused(status, &body);
    assert!(app.list(&off, "/workflows").await.is_empty());

    // A workflow without SMS is still fine.
    let no_sms = json!({
        "name": "Tag leads",
        "object_type": "contact",
        "enrollment": {"filters": [[cond("lifecyclestage", "eq", json!("lead"))]]},
        "actions": [{"id": "tag", "type": "set_property", "property": "lastname", "value": "Lead"}],
    });
    let (status, body) = app.post(&off, "/workflows", no_sms).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Saved while entitled, then the entitlement is withdrawn: neither
    // updating nor publishing goes through, and nothing is sent.
    let on = app.create_account(true).await;
    let (number, user) = app.setup_sender(&on).await;
    let wf = app
        .create_workflow(&on, welcome_workflow_json(&number, &user, "Hi"))
        .await;
    app.update_account(&on, json!({"entitlements": {"sms": false}}))
        .await;
    let (status, body) = app
        .post(
            &on,
            &format!("/workflows/{wf}/publish"),
            json!({"enroll_existing": true}),
        )
        .await;
    refused(status, &body);
    let (status, body) = app
        .put(
            &on,
            &format!("/workflows/{wf}"),
            welcome_workflow_json(&number, &user, "Hello"),
        )
        .await;
    refused(status, &body);
    let (_, shown) = app.get(&on, &format!("/workflows/{wf}")).await;
    assert_eq!(shown["state"], "draft", "{shown}");
    assert!(shown["published_revision"].is_null(), "{shown}");
    app.contact(
        &on,
        json!({"mobilephone": "+14155550123", "lifecyclestage": "lead"}),
    )
    .await;
    app.drain().await;
    assert!(app.outbox(&on).await.is_empty());
}
