//! The main path: a published workflow sends one personalised SMS to a
//! contact that comes to match it, and logs it everywhere (R4, R6, R7, R9,
//! R14, R15, R23).

use crate::helpers::usage_of;
use reqwest::StatusCode;
use serde_json::json;
use smsflow_testkit::app::{spawn_app, welcome_workflow_json, SENDER_E164};
use smsflow_testkit::db::TestBackend;

smsflow_testkit::on_both_backends!(r4_published_workflow_sends_one_personalised_sms);

async fn r4_published_workflow_sends_one_personalised_sms(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let body = "Hi {{ contact.firstname }}! {{Contact.FirstName}}, your number is {{ number.e164 }}. {{ sender.name }}";
    let wf = app
        .published_workflow(&acct, welcome_workflow_json(&number, &user, body))
        .await;

    // Not matching yet: nothing is enrolled or sent.
    let contact = app
        .contact(&acct, json!({"firstname": "Maria", "mobilephone": "(415) 555-0123", "lifecyclestage": "subscriber"}))
        .await;
    app.drain().await;
    assert!(app.outbox(&acct).await.is_empty());
    assert!(app
        .list(&acct, &format!("/workflows/{wf}/enrollments"))
        .await
        .is_empty());

    // Comes to match: exactly one message.
    app.update_contact(&acct, &contact, json!({"lifecyclestage": "lead"}))
        .await;
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 1, "outbox: {outbox:?}");
    let m = &outbox[0];
    let message_id = m["id"]
        .as_str()
        .expect("message id is a string")
        .to_string();
    assert_eq!(m["direction"], "outbound");
    assert_eq!(
        m["to"], "+14155550123",
        "national number parsed with the account's default country (US)"
    );
    assert_eq!(m["from"], SENDER_E164);
    assert_eq!(
        m["body"],
        format!("Hi Maria! Maria, your number is {SENDER_E164}. Ada Agent")
    );
    assert_eq!(m["number_id"], number.as_str());
    assert_eq!(m["user_id"], user.as_str());
    assert_eq!(m["record_id"], contact.as_str());
    assert_eq!(m["workflow_id"], wf.as_str());
    assert_eq!(m["status"], "sent");
    assert_eq!(m["encoding"], "gsm7");
    assert_eq!(m["segments"], 1);
    assert!(
        m["conversation_id"].is_string(),
        "message has a conversation: {m}"
    );

    let (status, shown) = app.get(&acct, &format!("/messages/{message_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&shown, m, "GET /messages/{{id}} shows the outbox message");

    // R15: one succeeded log entry naming the message.
    let logs = app.action_logs(&acct, &wf).await;
    assert_eq!(logs.len(), 1, "action logs: {logs:?}");
    assert_eq!(logs[0]["outcome"], "succeeded");
    assert_eq!(logs[0]["action_id"], "welcome");
    assert_eq!(logs[0]["record_id"], contact.as_str());
    assert_eq!(logs[0]["workflow_id"], wf.as_str());
    assert_eq!(logs[0]["message_id"], message_id.as_str());
    assert!(logs[0]["id"].is_string());

    // R14: an engagement on the contact's timeline.
    let timeline = app
        .list(&acct, &format!("/objects/contacts/{contact}/timeline"))
        .await;
    assert_eq!(timeline.len(), 1, "timeline: {timeline:?}");
    assert_eq!(timeline[0]["type"], "sms_sent");
    assert_eq!(timeline[0]["message_id"], message_id.as_str());
    assert_eq!(timeline[0]["body"], m["body"]);

    // R9: counted once against the number and once against the user.
    let usage = app.usage(&acct).await;
    for (kind, id) in [("numbers", &number), ("users", &user)] {
        let u = usage_of(&usage, kind, id);
        assert_eq!(u["day"], 1, "{kind} usage: {usage}");
        assert_eq!(u["month"], 1, "{kind} usage: {usage}");
        assert_eq!(u["day_limit"], 5000);
        assert_eq!(u["month_limit"], 10000);
    }

    // The enrollment is done; draining again sends nothing more.
    let enrollments = app
        .list(&acct, &format!("/workflows/{wf}/enrollments"))
        .await;
    assert_eq!(enrollments.len(), 1);
    assert_eq!(enrollments[0]["state"], "completed");
    assert_eq!(enrollments[0]["record_id"], contact.as_str());
    let again = app.drain().await;
    assert!(again.is_idle(), "nothing left to do: {again:?}");
    app.update_contact(&acct, &contact, json!({"firstname": "Mary"}))
        .await;
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 1);
    assert_eq!(app.action_logs(&acct, &wf).await.len(), 1);
    assert_eq!(
        usage_of(&app.usage(&acct).await, "numbers", &number)["day"],
        1
    );
}
