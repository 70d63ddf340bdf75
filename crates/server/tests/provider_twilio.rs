//! Pins the Twilio adapter end to end, through the HTTP API on SQLite and
//! PostgreSQL, against the testkit's fake Twilio: a connection hides its
//! secrets and shows the webhook URLs; a workflow's message reaches Twilio
//! as exactly the documented request (form fields, Basic auth,
//! StatusCallback); status callbacks move it to delivered and never back
//! (R13); an inbound STOP lands in the conversation, opts the phone out and
//! is confirmed through Twilio (R17); a Twilio error code is kept and fails
//! the message at once (R12); and a webhook whose signature does not match
//! is refused with nothing stored (R27).

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{spawn_app, welcome_workflow_json, TestAccount, TestApp, SENDER_E164};
use smsflow_testkit::db::TestBackend;
use smsflow_testkit::fakes::twilio::FakeTwilio;

smsflow_testkit::on_both_backends!(
    twilio_send_is_the_documented_request_and_r13_status_callbacks_deliver_it,
    twilio_r17_inbound_stop_lands_in_the_conversation_opts_out_and_is_confirmed_through_twilio,
    twilio_r12_error_code_is_kept_and_fails_the_message_at_once,
    twilio_r27_tampered_or_missing_signature_is_refused_and_stores_nothing,
);

/// A San Francisco mobile: 11:00 local when the test clock starts.
const PHONE: &str = "+14155550123";

struct Setup {
    app: TestApp,
    fake: FakeTwilio,
    acct: TestAccount,
    connection: Value,
}

/// An account with a Twilio connection to the fake and [`SENDER_E164`] on
/// it, and a published welcome workflow.
async fn setup(backend: TestBackend) -> Setup {
    let app = spawn_app(backend).await;
    let fake = FakeTwilio::start().await;
    let acct = app.create_account(true).await;
    let (connection, number, user) = app
        .provider_line(
            &acct,
            json!({"kind": "twilio", "name": "Twilio US", "config": fake.connection_config()}),
            SENDER_E164,
        )
        .await;
    app.published_workflow(
        &acct,
        welcome_workflow_json(&number, &user, "Hi {{ contact.firstname }}!"),
    )
    .await;
    Setup {
        app,
        fake,
        acct,
        connection,
    }
}

async fn messages(s: &Setup) -> Vec<Value> {
    s.app.list(&s.acct, "/messages").await
}

async fn twilio_send_is_the_documented_request_and_r13_status_callbacks_deliver_it(
    backend: TestBackend,
) {
    let s = setup(backend).await;
    let id = s.connection["id"].as_str().unwrap();
    assert_eq!(s.connection["kind"], "twilio");
    let shown = s.connection.to_string();
    assert!(
        !shown.contains(&s.fake.auth_token),
        "the auth token is never returned: {shown}"
    );
    let base = format!(
        "{}/webhooks/twilio/{}/{id}",
        s.app.engine.public_url().trim_end_matches('/'),
        s.acct.id
    );
    assert_eq!(
        s.connection["webhook_urls"],
        json!({"inbound": format!("{base}/inbound"), "status": format!("{base}/status")})
    );
    let (_, again) = s.app.get(&s.acct, &format!("/providers/{id}")).await;
    assert!(!again.to_string().contains(&s.fake.auth_token), "{again}");

    s.app
        .contact(
            &s.acct,
            json!({"firstname": "Anna", "lifecyclestage": "lead", "mobilephone": PHONE}),
        )
        .await;
    s.app.drain().await;

    let requests = s.fake.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(
        r.path,
        format!("/2010-04-01/Accounts/{}/Messages.json", s.fake.account_sid)
    );
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", s.fake.account_sid, s.fake.auth_token));
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.field_names(),
        vec!["Body", "From", "StatusCallback", "To"]
    );
    assert_eq!(r.field("To"), Some(PHONE));
    assert_eq!(r.field("From"), Some(SENDER_E164));
    assert_eq!(r.field("Body"), Some("Hi Anna!"));
    assert_eq!(
        r.field("StatusCallback"),
        s.connection["webhook_urls"]["status"].as_str()
    );

    let sent = &s.fake.messages()[0];
    let list = messages(&s).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["provider_message_id"], sent.sid.as_str());
    assert_eq!(list[0]["status"], "sent");

    // Twilio calls back on the StatusCallback it was given.
    for status in ["sent", "delivered"] {
        let hook = s.fake.status_callback(sent, status, None);
        let response = hook.post(&s.app.client, &s.app.local_url(&hook.url)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let message_path = format!("/messages/{}", list[0]["id"].as_str().unwrap());
    assert_eq!(
        s.app.get(&s.acct, &message_path).await.1["status"],
        "delivered"
    );
    // A late `sent` does not move it back (R13).
    let hook = s.fake.status_callback(sent, "sent", None);
    assert_eq!(
        hook.post(&s.app.client, &s.app.local_url(&hook.url))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        s.app.get(&s.acct, &message_path).await.1["status"],
        "delivered"
    );
}

async fn twilio_r17_inbound_stop_lands_in_the_conversation_opts_out_and_is_confirmed_through_twilio(
    backend: TestBackend,
) {
    let s = setup(backend).await;
    let inbound_url = s.connection["webhook_urls"]["inbound"].as_str().unwrap();
    let hook = s.fake.inbound(inbound_url, PHONE, SENDER_E164, "STOP");
    let response = hook
        .post(&s.app.client, &s.app.local_url(inbound_url))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    s.app.drain().await;

    let conversations = s.app.list(&s.acct, "/conversations").await;
    assert_eq!(conversations.len(), 1, "{conversations:?}");
    assert_eq!(conversations[0]["phone"], PHONE);
    let (_, thread) = s
        .app
        .get(
            &s.acct,
            &format!(
                "/conversations/{}",
                conversations[0]["id"].as_str().unwrap()
            ),
        )
        .await;
    let thread = thread["messages"]["results"].as_array().unwrap().clone();
    let inbound = thread
        .iter()
        .find(|m| m["direction"] == "inbound")
        .expect("the STOP is in the conversation");
    assert_eq!(inbound["body"], "STOP");
    let sid = hook
        .params
        .iter()
        .find(|(k, _)| k == "MessageSid")
        .map(|(_, v)| v.as_str());
    assert_eq!(inbound["provider_message_id"].as_str(), sid);

    let (status, consent) = s.app.get(&s.acct, &format!("/consent/{PHONE}")).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    assert_eq!(consent["ledger"][0]["status"], "unsubscribed", "{consent}");
    assert_eq!(consent["ledger"][0]["source"], "keyword");

    // The confirmation went back through Twilio.
    let requests = s.fake.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].field("To"), Some(PHONE));
    assert_eq!(requests[0].field("From"), Some(SENDER_E164));
    assert!(
        requests[0].field("Body").unwrap().contains("unsubscribed"),
        "{:?}",
        requests[0]
    );

    // And the opted-out phone gets nothing from the workflow.
    s.app
        .contact(
            &s.acct,
            json!({"firstname": "Anna", "lifecyclestage": "lead", "mobilephone": PHONE}),
        )
        .await;
    s.app.drain().await;
    assert_eq!(s.fake.requests().len(), 1);
}

async fn twilio_r12_error_code_is_kept_and_fails_the_message_at_once(backend: TestBackend) {
    let s = setup(backend).await;
    s.fake.fail_next(400, 21610, None);
    s.app
        .contact(
            &s.acct,
            json!({"firstname": "Anna", "lifecyclestage": "lead", "mobilephone": PHONE}),
        )
        .await;
    s.app.drain().await;
    assert_eq!(
        s.fake.requests().len(),
        1,
        "a permanent error is not retried"
    );
    let list = messages(&s).await;
    assert_eq!(list[0]["status"], "failed", "{}", list[0]);
    assert_eq!(list[0]["error_code"], "twilio:21610");
}

async fn twilio_r27_tampered_or_missing_signature_is_refused_and_stores_nothing(
    backend: TestBackend,
) {
    let s = setup(backend).await;
    s.app
        .contact(
            &s.acct,
            json!({"firstname": "Anna", "lifecyclestage": "lead", "mobilephone": PHONE}),
        )
        .await;
    s.app.drain().await;
    let before = messages(&s).await;
    assert_eq!(before.len(), 1);
    let conversations_before = s.app.list(&s.acct, "/conversations").await;
    let sent = &s.fake.messages()[0];
    let inbound_url = s.connection["webhook_urls"]["inbound"].as_str().unwrap();

    // Signed "Hello", delivered as "STOP".
    let tampered = s
        .fake
        .inbound(inbound_url, PHONE, SENDER_E164, "Hello")
        .tampered("Body", "STOP");
    let response = tampered
        .post(&s.app.client, &s.app.local_url(inbound_url))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Signed for another URL (another connection's).
    let elsewhere = inbound_url.replace("/inbound", "x/inbound");
    let foreign = s.fake.inbound(&elsewhere, PHONE, SENDER_E164, "STOP");
    assert_eq!(
        foreign
            .post(&s.app.client, &s.app.local_url(inbound_url))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // No signature at all.
    let mut unsigned = s.fake.inbound(inbound_url, PHONE, SENDER_E164, "STOP");
    unsigned.signature = String::new();
    assert_eq!(
        unsigned
            .post(&s.app.client, &s.app.local_url(inbound_url))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // A status callback changed after signing.
    let status = s
        .fake
        .status_callback(sent, "undelivered", Some("30003"))
        .tampered("MessageStatus", "delivered");
    assert_eq!(
        status
            .post(&s.app.client, &s.app.local_url(&status.url))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    s.app.drain().await;
    assert_eq!(
        messages(&s).await,
        before,
        "nothing stored, nothing changed"
    );
    assert_eq!(
        s.app.list(&s.acct, "/conversations").await,
        conversations_before
    );
    let (_, consent) = s.app.get(&s.acct, &format!("/consent/{PHONE}")).await;
    assert!(
        consent["ledger"].as_array().is_none_or(|l| l.is_empty()),
        "no opt-out recorded: {consent}"
    );
    assert_eq!(s.fake.requests().len(), 1, "no confirmation sent");
}
