//! Saving validates everything and reports every problem at once (R2, R5);
//! invalid definitions are never stored.

use crate::helpers::validation_fields;
use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{send_action, spawn_app, welcome_workflow_json};
use smsflow_testkit::db::TestBackend;
use std::collections::BTreeSet;

smsflow_testkit::on_both_backends!(
    r5_saving_an_invalid_send_action_reports_every_bad_field_at_once,
    r2_without_an_sms_capable_number_a_send_action_cannot_be_saved,
);

async fn r5_saving_an_invalid_send_action_reports_every_bad_field_at_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let voice_only = app.number(&acct, "+14155550111", false, &[&user]).await;
    let unlinked = app.user(&acct, "Bob Unlinked").await;

    let mut missing_number = send_action("a0", &number, &user, "Hi");
    missing_number
        .as_object_mut()
        .unwrap()
        .remove("from_number_id");
    let mut email_recipient = send_action("a3", &number, &user, "Hi");
    email_recipient["recipient_property"] = json!("email");
    email_recipient
        .as_object_mut()
        .unwrap()
        .remove("fallback_property");
    let actions = vec![
        missing_number,
        send_action("a1", &voice_only, &user, "Hi"),
        send_action("a2", &number, &unlinked, "Hi"),
        email_recipient,
        send_action("a4", &number, &user, ""),
        send_action("a5", &number, &user, &"x".repeat(1601)),
        send_action("a6", &number, &user, "Hi {{ contact.shoe_size }}"),
    ];
    let mut invalid = welcome_workflow_json(&number, &user, "unused");
    invalid["actions"] = Value::Array(actions);
    let expected: BTreeSet<String> = [
        "actions[0].from_number_id",
        "actions[1].from_number_id",
        "actions[2].sender_user_id",
        "actions[3].recipient_property",
        "actions[4].body",
        "actions[5].body",
        "actions[6].body",
    ]
    .into_iter()
    .map(String::from)
    .collect();

    // POST: every field at once, nothing stored.
    let (status, body) = app.post(&acct, "/workflows", invalid.clone()).await;
    assert_eq!(validation_fields(status, &body), expected, "body: {body}");
    let fields = &body["error"]["fields"];
    assert!(
        fields["actions[5].body"].as_str().unwrap().contains("1600"),
        "{body}"
    );
    assert!(
        fields["actions[6].body"]
            .as_str()
            .unwrap()
            .contains("contact.shoe_size"),
        "{body}"
    );
    assert!(
        app.list(&acct, "/workflows").await.is_empty(),
        "an invalid workflow was stored"
    );

    // PUT over a valid saved workflow: the same errors, the saved one kept.
    let valid = welcome_workflow_json(
        &number,
        &user,
        "Hello {{ contact.firstname | default(\"there\") }}",
    );
    let wf = app.create_workflow(&acct, valid).await;
    let (_, before) = app.get(&acct, &format!("/workflows/{wf}")).await;
    let (status, body) = app.put(&acct, &format!("/workflows/{wf}"), invalid).await;
    assert_eq!(validation_fields(status, &body), expected, "body: {body}");
    let (status, after) = app.get(&acct, &format!("/workflows/{wf}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after, before, "a refused PUT changed the workflow");
    assert_eq!(after["actions"].as_array().unwrap().len(), 1);

    // …and it still publishes as it was.
    let published = app.publish(&acct, &wf, false).await;
    assert_eq!(published["state"], "published");
}

async fn r2_without_an_sms_capable_number_a_send_action_cannot_be_saved(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let user = app.user(&acct, "Ada Agent").await;
    let voice_only = app.number(&acct, "+14155550111", false, &[&user]).await;

    let (status, options) = app.get(&acct, "/options/numbers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(options, json!({"results": [], "next_cursor": null}));

    let (status, body) = app
        .post(
            &acct,
            "/workflows",
            welcome_workflow_json(&voice_only, &user, "Hi"),
        )
        .await;
    let fields = validation_fields(status, &body);
    assert!(fields.contains("actions[0].from_number_id"), "body: {body}");
    assert!(app.list(&acct, "/workflows").await.is_empty());
}
