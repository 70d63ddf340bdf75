//! Pins the Vonage Messages API adapter end to end, through the HTTP API on
//! SQLite and PostgreSQL, against the testkit's fake Vonage: a connection
//! hides its secrets and shows the webhook URLs; a workflow's message
//! reaches Vonage as exactly the documented JSON request (Basic auth,
//! digits-only numbers, `client_ref` = idempotency key); status webhooks
//! move it to delivered and never back (R13); an inbound STOP lands in the
//! conversation, opts the phone out and is confirmed through Vonage (R17);
//! a Vonage error code is kept (R12); and a webhook whose JWT does not
//! match its body, is signed with another secret or is stale is refused
//! with nothing stored (R27).

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{spawn_app, welcome_workflow_json, TestAccount, TestApp, SENDER_E164};
use smsflow_testkit::db::TestBackend;
use smsflow_testkit::fakes::vonage::{FakeVonage, API_KEY, API_SECRET, SIGNATURE_SECRET};

smsflow_testkit::on_both_backends!(
    vonage_send_is_the_documented_request_and_r13_status_webhooks_deliver_it,
    vonage_r17_inbound_stop_lands_in_the_conversation_opts_out_and_is_confirmed_through_vonage,
    vonage_r12_error_code_is_kept_and_fails_the_message_at_once,
    vonage_r27_tampered_foreign_or_stale_signature_is_refused_and_stores_nothing,
);

/// A San Francisco mobile: 11:00 local when the test clock starts.
const PHONE: &str = "+14155550123";

struct Setup {
    app: TestApp,
    fake: FakeVonage,
    acct: TestAccount,
    connection: Value,
}

async fn setup(backend: TestBackend) -> Setup {
    let app = spawn_app(backend).await;
    let fake = FakeVonage::start().await;
    let acct = app.create_account(true).await;
    let (connection, number, user) = app
        .provider_line(
            &acct,
            json!({"kind": "vonage", "name": "Vonage", "config": fake.connection_config()}),
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

fn url(s: &Setup, which: &str) -> String {
    s.app
        .local_url(s.connection["webhook_urls"][which].as_str().unwrap())
}

async fn messages(s: &Setup) -> Vec<Value> {
    s.app.list(&s.acct, "/messages").await
}

async fn vonage_send_is_the_documented_request_and_r13_status_webhooks_deliver_it(
    backend: TestBackend,
) {
    let s = setup(backend).await;
    let id = s.connection["id"].as_str().unwrap();
    assert_eq!(s.connection["kind"], "vonage");
    let shown = s.connection.to_string();
    for secret in [API_KEY, API_SECRET, SIGNATURE_SECRET] {
        assert!(!shown.contains(secret), "no secret is returned: {shown}");
    }
    let base = format!(
        "{}/webhooks/vonage/{}/{id}",
        s.app.engine.public_url().trim_end_matches('/'),
        s.acct.id
    );
    assert_eq!(
        s.connection["webhook_urls"],
        json!({"inbound": format!("{base}/inbound"), "status": format!("{base}/status")})
    );

    s.app
        .contact(
            &s.acct,
            json!({"firstname": "Anna", "lifecyclestage": "lead", "mobilephone": PHONE}),
        )
        .await;
    s.app.drain().await;

    let list = messages(&s).await;
    assert_eq!(list.len(), 1);
    let key = list[0]["idempotency_key"]
        .as_str()
        .or(list[0]["id"].as_str())
        .unwrap();
    let requests = s.fake.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(r.path, "/v1/messages");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{API_KEY}:{API_SECRET}"));
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        r.json,
        json!({
            "message_type": "text", "channel": "sms", "to": "14155550123", "from": "14155550100",
            "text": "Hi Anna!", "client_ref": key,
        })
    );
    let sent = &s.fake.messages()[0];
    assert_eq!(list[0]["provider_message_id"], sent.message_uuid.as_str());
    assert_eq!(list[0]["status"], "sent");

    for status in ["submitted", "delivered"] {
        let response = s
            .fake
            .status(sent, status)
            .post(&s.app.client, &url(&s, "status"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let message_path = format!("/messages/{}", list[0]["id"].as_str().unwrap());
    assert_eq!(
        s.app.get(&s.acct, &message_path).await.1["status"],
        "delivered"
    );
    // A late `submitted` does not move it back (R13).
    let response = s
        .fake
        .status(sent, "submitted")
        .post(&s.app.client, &url(&s, "status"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        s.app.get(&s.acct, &message_path).await.1["status"],
        "delivered"
    );
}

async fn vonage_r17_inbound_stop_lands_in_the_conversation_opts_out_and_is_confirmed_through_vonage(
    backend: TestBackend,
) {
    let s = setup(backend).await;
    let hook = s.fake.inbound(PHONE, SENDER_E164, "STOP");
    let response = hook.post(&s.app.client, &url(&s, "inbound")).await;
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
    let sent: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(inbound["provider_message_id"], sent["message_uuid"]);

    let (status, consent) = s.app.get(&s.acct, &format!("/consent/{PHONE}")).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    assert_eq!(consent["ledger"][0]["status"], "unsubscribed", "{consent}");
    assert_eq!(consent["ledger"][0]["source"], "keyword");

    let requests = s.fake.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].json["to"], "14155550123");
    assert_eq!(requests[0].json["from"], "14155550100");
    assert!(
        requests[0].json["text"]
            .as_str()
            .unwrap()
            .contains("unsubscribed"),
        "{:?}",
        requests[0]
    );

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
        "the opted-out phone gets nothing"
    );
}

async fn vonage_r12_error_code_is_kept_and_fails_the_message_at_once(backend: TestBackend) {
    let s = setup(backend).await;
    s.fake.fail_next(422, 1150, None);
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
    assert_eq!(list[0]["error_code"], "vonage:1150");
}

async fn vonage_r27_tampered_foreign_or_stale_signature_is_refused_and_stores_nothing(
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

    // Signed "Hello", delivered as "STOP".
    let tampered = s
        .fake
        .inbound(PHONE, SENDER_E164, "Hello")
        .tampered("text", "STOP");
    assert_eq!(
        tampered
            .post(&s.app.client, &url(&s, "inbound"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Signed with another secret.
    let mut foreign = s.fake.inbound(PHONE, SENDER_E164, "STOP");
    foreign.token = s.fake.jwt(
        &foreign.body,
        chrono::Utc::now().timestamp(),
        "another secret",
    );
    assert_eq!(
        foreign
            .post(&s.app.client, &url(&s, "inbound"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Stale: issued ten minutes ago.
    let stale = s
        .fake
        .inbound(PHONE, SENDER_E164, "STOP")
        .issued_ago(&s.fake, 600);
    assert_eq!(
        stale
            .post(&s.app.client, &url(&s, "inbound"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // A status changed after signing.
    let status = s
        .fake
        .status(sent, "rejected")
        .tampered("status", "delivered");
    assert_eq!(
        status
            .post(&s.app.client, &url(&s, "status"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // No token at all.
    let response = s
        .app
        .client
        .post(url(&s, "inbound"))
        .header("content-type", "application/json")
        .body(s.fake.inbound(PHONE, SENDER_E164, "STOP").body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

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

    // The same webhook, properly signed and fresh, is accepted.
    let fresh = s.fake.inbound(PHONE, SENDER_E164, "Hello");
    assert_eq!(
        fresh
            .post(&s.app.client, &url(&s, "inbound"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(messages(&s).await.len(), 2);
}
