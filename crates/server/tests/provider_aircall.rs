//! Pins the Aircall adapter end to end, through the HTTP API on SQLite and
//! PostgreSQL, against the testkit's fake Aircall: creating a connection
//! hides its secrets, shows the webhook URLs and syncs Aircall's numbers,
//! users and their links so they are in the form options at once (R2, R3),
//! page after page; a re-sync creates no duplicates and follows Aircall
//! (links, numbers gone); a workflow's message reaches Aircall as a native
//! send from the synced number's Aircall id (Basic auth, `{to, body}`) and
//! `message.*` webhooks move it to delivered, never back (R13); inbound
//! messages land in the conversation and on the contact's timeline, once,
//! and a STOP opts out and is confirmed through Aircall (R17); a 429 waits
//! as told and sends once, an Aircall refusal fails the message with
//! Aircall's code (R12); a burst never passes 60 requests in a rolling
//! minute at Aircall (R11); and a webhook with a wrong or missing token is
//! refused with nothing stored (R27).

use base64::Engine as _;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{spawn_app, welcome_workflow_json, TestAccount, TestApp, SENDER_E164};
use smsflow_testkit::db::TestBackend;
use smsflow_testkit::fakes::aircall::{FakeAircall, API_ID, API_TOKEN, WEBHOOK_TOKEN};
use std::sync::Arc;

smsflow_testkit::on_both_backends!(
    aircall_connection_hides_its_secrets_and_r3_brings_numbers_users_and_links_at_once,
    r3_aircall_sync_reads_every_page_creates_no_duplicates_and_follows_aircall,
    aircall_credentials_aircall_refuses_refuse_the_connection_and_store_nothing,
    aircall_workflow_sends_natively_from_the_synced_number_and_r13_webhooks_deliver_it,
    aircall_inbound_message_lands_in_the_conversation_and_on_the_contact_once,
    aircall_r17_inbound_stop_opts_out_and_is_confirmed_through_aircall,
    r27_aircall_wrong_token_is_refused_and_nothing_stored,
    r27_aircall_webhooks_wait_for_the_token_set_after_the_webhook_is_registered,
    r27_aircall_connection_registers_its_webhook_and_keeps_the_token_secret,
    r12_aircall_429_with_retry_after_is_retried_without_failure_or_duplicate,
    r12_aircall_invalid_number_fails_the_message_with_aircalls_code_in_the_action_log,
    r11_aircall_burst_of_150_never_passes_60_requests_in_a_rolling_minute,
);

/// A San Francisco mobile: 11:00 local when the test clock starts.
const PHONE: &str = "+14155550123";
/// Aircall's ids of the fake company's numbers and users.
const MAIN: u64 = 101;
const SUPPORT: u64 = 102;
const ADA: u64 = 1;
const BOB: u64 = 2;

struct Setup {
    app: TestApp,
    fake: FakeAircall,
    acct: TestAccount,
    connection: Value,
    /// smsflow's ids of the synced [`SENDER_E164`] (Aircall's `MAIN`) and
    /// of Ada, linked to it at Aircall.
    number: String,
    user: String,
    workflow: String,
}

/// A fake Aircall company: Ada works [`SENDER_E164`], Bob the support line.
async fn fake_company(app: &TestApp) -> FakeAircall {
    let fake = FakeAircall::start().await;
    fake.set_clock(Arc::new(app.clock.clone()));
    fake.add_user(ADA, "Ada Agent", "ada@example.com");
    fake.add_user(BOB, "Bob Support", "bob@example.com");
    fake.add_number(MAIN, "+1 415-555-0100", "Main line", &[ADA]);
    fake.add_number(SUPPORT, "+1 415-555-0102", "Support line", &[BOB]);
    fake
}

async fn connect(app: &TestApp, acct: &TestAccount, config: Value) -> (StatusCode, Value) {
    app.post(
        acct,
        "/providers",
        json!({"kind": "aircall", "name": "Aircall", "config": config}),
    )
    .await
}

/// The synced number with this E.164, from `GET /numbers`.
async fn number_by_e164(app: &TestApp, acct: &TestAccount, e164: &str) -> Value {
    app.list(acct, "/numbers")
        .await
        .into_iter()
        .find(|n| n["e164"] == e164)
        .unwrap_or_else(|| panic!("{e164} is among the numbers"))
}

/// Names of the users the options offer for a number (R3).
async fn user_options(app: &TestApp, acct: &TestAccount, number: &str) -> Vec<String> {
    let mut names: Vec<String> = app
        .list(acct, &format!("/options/users?number_id={number}"))
        .await
        .iter()
        .map(|u| u["label"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// An account connected to the fake company, and a published welcome
/// workflow sending from the synced main line as Ada; the clock is moved
/// past the time the sync's requests hold the request budget.
async fn setup(backend: TestBackend) -> Setup {
    let s = setup_at_once(backend).await;
    // The sync's requests hold the connection's request budget (R11) for
    // as many seconds; sends queue behind them.
    let sync_requests = s.fake.requests().len();
    s.app
        .advance(Duration::seconds(i64::try_from(sync_requests).unwrap()));
    s
}

/// [`setup`] without moving the clock.
async fn setup_at_once(backend: TestBackend) -> Setup {
    let app = spawn_app(backend).await;
    let fake = fake_company(&app).await;
    let acct = app.create_account(true).await;
    let (status, connection) = connect(&app, &acct, fake.connection_config()).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    let number = number_by_e164(&app, &acct, SENDER_E164).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let users = app
        .list(&acct, &format!("/options/users?number_id={number}"))
        .await;
    assert_eq!(users.len(), 1, "{users:?}");
    let user = users[0]["value"].as_str().unwrap().to_string();
    let workflow = app
        .published_workflow(
            &acct,
            welcome_workflow_json(&number, &user, "Hi {{ contact.firstname }}!"),
        )
        .await;
    Setup {
        app,
        fake,
        acct,
        connection,
        number,
        user,
        workflow,
    }
}

fn url(s: &Setup, which: &str) -> String {
    s.app
        .local_url(s.connection["webhook_urls"][which].as_str().unwrap())
}

async fn messages(s: &Setup) -> Vec<Value> {
    s.app.list(&s.acct, "/messages").await
}

async fn lead(s: &Setup, phone: &str) -> String {
    s.app
        .contact(
            &s.acct,
            json!({"firstname": "Anna", "lifecyclestage": "lead", "mobilephone": phone}),
        )
        .await
}

async fn aircall_connection_hides_its_secrets_and_r3_brings_numbers_users_and_links_at_once(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let fake = fake_company(&app).await;
    let acct = app.create_account(true).await;
    // Nothing before the connection.
    assert!(app.list(&acct, "/options/numbers").await.is_empty());

    let (status, connection) = connect(&app, &acct, fake.connection_config()).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    let id = connection["id"].as_str().unwrap();
    assert_eq!(connection["kind"], "aircall");
    let base = format!(
        "{}/webhooks/aircall/{}/{id}",
        app.engine.public_url().trim_end_matches('/'),
        acct.id
    );
    assert_eq!(
        connection["webhook_urls"],
        json!({"inbound": format!("{base}/inbound"), "status": format!("{base}/status")})
    );
    assert_eq!(
        connection["sync"],
        json!({
            "numbers": {"created": 2, "updated": 0, "unchanged": 0, "gone": 0},
            "users": {"created": 2, "updated": 0, "unchanged": 0, "gone": 0},
            "skipped": [],
        })
    );
    let (_, shown) = app.get(&acct, &format!("/providers/{id}")).await;
    let (_, listed) = app.get(&acct, "/providers").await;
    for view in [&connection, &shown, &listed] {
        let text = view.to_string();
        for secret in [API_TOKEN, WEBHOOK_TOKEN] {
            assert!(!text.contains(secret), "no secret is returned: {text}");
        }
    }
    assert_eq!(shown["config"]["api_id"], API_ID);

    // The sync read Aircall with the connection's credentials.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{API_ID}:{API_TOKEN}"));
    let requests = fake.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect::<Vec<_>>(),
        vec![("GET", "/v1/numbers"), ("GET", "/v1/users")]
    );
    assert!(requests
        .iter()
        .all(|r| r.authorization.as_deref() == Some(format!("Basic {basic}").as_str())));

    // At once (R3): the numbers, as SMS-capable options (R2)…
    let main = number_by_e164(&app, &acct, SENDER_E164).await;
    assert_eq!(main["provider"], id);
    assert_eq!(main["external_id"], "101");
    assert_eq!(main["label"], "Main line");
    assert_eq!(
        main["capabilities"],
        json!({"sms": true, "mms": false, "voice": true})
    );
    let support = number_by_e164(&app, &acct, "+14155550102").await;
    let mut options: Vec<String> = app
        .list(&acct, "/options/numbers")
        .await
        .iter()
        .map(|n| n["e164"].as_str().unwrap().to_string())
        .collect();
    options.sort();
    assert_eq!(options, vec![SENDER_E164, "+14155550102"]);
    // …the users, each offered only for the numbers it is linked to.
    let users = app.list(&acct, "/users").await;
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| u["provider"] == id));
    let ada = users.iter().find(|u| u["external_id"] == "1").unwrap();
    assert_eq!(
        (ada["name"].as_str(), ada["email"].as_str()),
        (Some("Ada Agent"), Some("ada@example.com"))
    );
    assert_eq!(
        user_options(&app, &acct, main["id"].as_str().unwrap()).await,
        vec!["Ada Agent"]
    );
    assert_eq!(
        user_options(&app, &acct, support["id"].as_str().unwrap()).await,
        vec!["Bob Support"]
    );
}

async fn r3_aircall_sync_reads_every_page_creates_no_duplicates_and_follows_aircall(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let fake = fake_company(&app).await;
    fake.set_page_size(2);
    fake.add_user(3, "Cy Sales", "cy@example.com");
    fake.add_number(103, "+1 415-555-0103", "Sales line", &[3]);
    let acct = app.create_account(true).await;
    let (status, connection) = connect(&app, &acct, fake.connection_config()).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    let id = connection["id"].as_str().unwrap().to_string();
    let pages: Vec<(String, String)> = fake
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.query["page"].clone()))
        .collect();
    assert_eq!(
        pages,
        vec![
            ("/v1/numbers".to_string(), "1".to_string()),
            ("/v1/numbers".to_string(), "2".to_string()),
            ("/v1/users".to_string(), "1".to_string()),
            ("/v1/users".to_string(), "2".to_string()),
        ]
    );
    assert_eq!(app.list(&acct, "/options/numbers").await.len(), 3);
    assert_eq!(app.list(&acct, "/users").await.len(), 3);

    // Again, unchanged at Aircall: nothing new.
    let (status, report) = app
        .post(&acct, &format!("/providers/{id}/sync"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["numbers"]["unchanged"], 3, "{report}");
    assert_eq!(report["users"]["unchanged"], 3, "{report}");
    let numbers = app.list(&acct, "/numbers").await;
    assert_eq!(numbers.len(), 3);
    assert_eq!(app.list(&acct, "/users").await.len(), 3);

    // At Aircall: Bob moves to the main line, Cy leaves, the sales line is
    // released.
    fake.set_number_users(MAIN, &[ADA, BOB]);
    fake.set_number_users(SUPPORT, &[]);
    fake.remove_user(3);
    fake.remove_number(103);
    let (status, report) = app
        .post(&acct, &format!("/providers/{id}/sync"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report,
        json!({
            "id": id,
            "numbers": {"created": 0, "updated": 2, "unchanged": 0, "gone": 1},
            "users": {"created": 0, "updated": 0, "unchanged": 2, "gone": 1},
            "skipped": [],
        })
    );
    let main = number_by_e164(&app, &acct, SENDER_E164).await;
    let support = number_by_e164(&app, &acct, "+14155550102").await;
    assert_eq!(
        user_options(&app, &acct, main["id"].as_str().unwrap()).await,
        vec!["Ada Agent", "Bob Support"]
    );
    assert!(user_options(&app, &acct, support["id"].as_str().unwrap())
        .await
        .is_empty());
    // The released number stays (messages may name it) but is no option.
    let sales = number_by_e164(&app, &acct, "+14155550103").await;
    assert_eq!(sales["capabilities"]["sms"], false);
    assert!(sales["user_ids"].as_array().unwrap().is_empty());
    assert_eq!(app.list(&acct, "/options/numbers").await.len(), 2);
    assert_eq!(app.list(&acct, "/numbers").await.len(), 3);

    // Another account cannot sync this connection (R26).
    let other = app.create_account(true).await;
    let (status, _) = app
        .post(&other, &format!("/providers/{id}/sync"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn aircall_credentials_aircall_refuses_refuse_the_connection_and_store_nothing(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let fake = fake_company(&app).await;
    let acct = app.create_account(true).await;
    let mut config = fake.connection_config();
    config["api_token"] = json!("not-the-token");
    let (status, body) = connect(&app, &acct, config).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let why = body["error"]["fields"]["config"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("aircall:http_401"), "{body}");
    assert!(!body.to_string().contains("not-the-token"), "{body}");
    let (status, body) = connect(&app, &acct, json!({"api_id": API_ID})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["fields"]["config.api_token"], "is required");
    assert!(app.list(&acct, "/providers").await.is_empty());
    assert!(app.list(&acct, "/numbers").await.is_empty());
    assert!(app.list(&acct, "/users").await.is_empty());

    // Aircall down: refused with its error, nothing stored either.
    fake.fail_next(503, None);
    let (status, body) = connect(&app, &acct, fake.connection_config()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "provider_error");
    assert!(app.list(&acct, "/providers").await.is_empty());
}

async fn aircall_workflow_sends_natively_from_the_synced_number_and_r13_webhooks_deliver_it(
    backend: TestBackend,
) {
    let s = setup(backend).await;
    let before = s.fake.requests().len();
    lead(&s, PHONE).await;
    s.app.drain().await;

    let sends = s.fake.send_requests();
    assert_eq!(sends.len(), 1, "{sends:?}");
    assert_eq!(s.fake.requests().len(), before + 1);
    let r = &sends[0];
    assert_eq!(r.path, "/v1/numbers/101/messages/native/send");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{API_ID}:{API_TOKEN}"));
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(r.json, json!({"to": PHONE, "body": "Hi Anna!"}));

    let sent = &s.fake.messages()[0];
    let list = messages(&s).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["provider_message_id"], sent.id.as_str());
    assert_eq!(list[0]["status"], "sent");
    assert_eq!(list[0]["number_id"], s.number.as_str());
    assert_eq!(list[0]["user_id"], s.user.as_str());
    let message_path = format!("/messages/{}", list[0]["id"].as_str().unwrap());

    // Aircall posts every event to the one URL it was given: both of the
    // connection's URLs take any `message.*` event.
    let response = s
        .fake
        .sent(sent)
        .post(&s.app.client, &url(&s, "inbound"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = s
        .fake
        .status_updated(sent, "delivered")
        .post(&s.app.client, &url(&s, "inbound"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        s.app.get(&s.acct, &message_path).await.1["status"],
        "delivered"
    );
    // A late `sent` (Aircall does not keep order) does not move it back.
    for hook in [s.fake.sent(sent), s.fake.status_updated(sent, "pending")] {
        let response = hook.post(&s.app.client, &url(&s, "status")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        s.app.get(&s.acct, &message_path).await.1["status"],
        "delivered"
    );
    let logs = s.app.action_logs(&s.acct, &s.workflow).await;
    assert_eq!(logs[0]["outcome"], "succeeded", "{logs:?}");
}

async fn aircall_inbound_message_lands_in_the_conversation_and_on_the_contact_once(
    backend: TestBackend,
) {
    let s = setup(backend).await;
    let contact = s
        .app
        .contact(&s.acct, json!({"firstname": "Anna", "mobilephone": PHONE}))
        .await;
    let hook = s.fake.received(PHONE, MAIN, "What are your opening hours?");
    for _ in 0..2 {
        // Aircall delivers at least once: the second is the same event.
        let response = hook.post(&s.app.client, &url(&s, "inbound")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // A WhatsApp message on the same number is none of smsflow's business.
    let response = s
        .fake
        .whatsapp_received(PHONE, MAIN, "Hello on WhatsApp")
        .post(&s.app.client, &url(&s, "inbound"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    s.app.drain().await;

    let inbound: Vec<Value> = messages(&s)
        .await
        .into_iter()
        .filter(|m| m["direction"] == "inbound")
        .collect();
    assert_eq!(inbound.len(), 1, "stored once: {inbound:?}");
    assert_eq!(inbound[0]["body"], "What are your opening hours?");
    assert_eq!(
        inbound[0]["provider_message_id"],
        hook.message_id().as_str()
    );
    assert_eq!(inbound[0]["number_id"], s.number.as_str());

    let conversations = s.app.list(&s.acct, "/conversations").await;
    assert_eq!(conversations.len(), 1, "{conversations:?}");
    assert_eq!(conversations[0]["phone"], PHONE);
    let timeline = s
        .app
        .list(&s.acct, &format!("/objects/contacts/{contact}/timeline"))
        .await;
    let received: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["type"] == "sms_received")
        .collect();
    assert_eq!(received.len(), 1, "{timeline:?}");
    assert_eq!(received[0]["body"], "What are your opening hours?");
}

async fn aircall_r17_inbound_stop_opts_out_and_is_confirmed_through_aircall(backend: TestBackend) {
    let s = setup(backend).await;
    let response = s
        .fake
        .received(PHONE, MAIN, "STOP")
        .post(&s.app.client, &url(&s, "inbound"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    s.app.drain().await;

    let (status, consent) = s.app.get(&s.acct, &format!("/consent/{PHONE}")).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    assert_eq!(consent["ledger"][0]["status"], "unsubscribed", "{consent}");
    assert_eq!(consent["ledger"][0]["source"], "keyword");
    let sends = s.fake.send_requests();
    assert_eq!(sends.len(), 1, "{sends:?}");
    assert_eq!(sends[0].path, "/v1/numbers/101/messages/native/send");
    assert_eq!(sends[0].json["to"], PHONE);
    assert!(
        sends[0].json["body"]
            .as_str()
            .unwrap()
            .contains("unsubscribed"),
        "{:?}",
        sends[0]
    );

    s.app.advance(Duration::seconds(5));
    lead(&s, PHONE).await;
    s.app.drain().await;
    assert_eq!(
        s.fake.send_requests().len(),
        1,
        "the opted-out phone gets nothing"
    );
}

async fn r27_aircall_wrong_token_is_refused_and_nothing_stored(backend: TestBackend) {
    let s = setup(backend).await;
    lead(&s, PHONE).await;
    s.app.drain().await;
    let before = messages(&s).await;
    assert_eq!(before.len(), 1);
    let sent = s.fake.messages()[0].clone();
    let conversations_before = s.app.list(&s.acct, "/conversations").await;

    let stop = s.fake.received(PHONE, MAIN, "STOP");
    let refused = [
        stop.clone().with_token("a-guess"),
        stop.clone()
            .with_token(&WEBHOOK_TOKEN[..WEBHOOK_TOKEN.len() - 1]),
        stop.clone().with_token(API_TOKEN),
        stop.clone().without_token(),
        s.fake.status_updated(&sent, "failed").with_token("a-guess"),
    ];
    for hook in &refused {
        for which in ["inbound", "status"] {
            let response = hook.post(&s.app.client, &url(&s, which)).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{which}: {}",
                hook.body
            );
        }
    }
    // Not even JSON.
    let response = s
        .app
        .client
        .post(url(&s, "inbound"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={WEBHOOK_TOKEN}&event=message.received"))
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
    assert_eq!(s.fake.send_requests().len(), 1, "no confirmation sent");

    // The same event with the right token is taken.
    let response = stop.post(&s.app.client, &url(&s, "inbound")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, consent) = s.app.get(&s.acct, &format!("/consent/{PHONE}")).await;
    assert_eq!(consent["ledger"][0]["status"], "unsubscribed", "{consent}");
}

async fn r27_aircall_webhooks_wait_for_the_token_set_after_the_webhook_is_registered(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let fake = fake_company(&app).await;
    let acct = app.create_account(true).await;
    // An admin who registers the webhook at Aircall themselves: no token
    // yet, and smsflow told not to register one.
    let mut config = fake.connection_config();
    config["webhook_token"] = Value::Null;
    config["register_webhook"] = json!(false);
    let (status, connection) = connect(&app, &acct, config).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    assert!(fake.webhooks().is_empty(), "nothing registered at Aircall");
    let id = connection["id"].as_str().unwrap();
    let inbound = app.local_url(connection["webhook_urls"]["inbound"].as_str().unwrap());
    let hook = fake.received(PHONE, MAIN, "Hello");
    assert_eq!(
        hook.post(&app.client, &inbound).await.status(),
        StatusCode::UNAUTHORIZED,
        "no token configured: refused"
    );
    assert!(app.list(&acct, "/messages").await.is_empty());

    let (status, patched) = app
        .patch(
            &acct,
            &format!("/providers/{id}"),
            json!({"config": {"webhook_token": WEBHOOK_TOKEN}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert!(!patched.to_string().contains(WEBHOOK_TOKEN), "{patched}");
    assert_eq!(patched["config"]["api_id"], API_ID, "other keys are kept");
    assert_eq!(
        hook.post(&app.client, &inbound).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.list(&acct, "/messages").await.len(), 1);

    // A bad change is refused field by field and changes nothing.
    let (status, body) = app
        .patch(
            &acct,
            &format!("/providers/{id}"),
            json!({"kind": "twilio", "config": {"requests_per_minute": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["kind"].is_string(), "{body}");
    let (status, body) = app
        .patch(
            &acct,
            &format!("/providers/{id}"),
            json!({"config": {"requests_per_minute": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["fields"]["config.requests_per_minute"].is_string(),
        "{body}"
    );
    let other = fake.received(PHONE, MAIN, "Still there?");
    assert_eq!(
        other.post(&app.client, &inbound).await.status(),
        StatusCode::OK
    );
}

async fn r12_aircall_429_with_retry_after_is_retried_without_failure_or_duplicate(
    backend: TestBackend,
) {
    let s = setup(backend).await;
    s.fake.fail_next(429, Some(20));
    lead(&s, PHONE).await;
    s.app.drain().await;
    assert_eq!(s.fake.send_requests().len(), 1);
    assert_eq!(s.fake.rate_limited(), 1);
    let list = messages(&s).await;
    assert_eq!(list[0]["status"], "queued", "{}", list[0]);

    // Nothing before Aircall said.
    s.app.advance(Duration::seconds(19));
    s.app.drain().await;
    assert_eq!(s.fake.send_requests().len(), 1, "Retry-After is honoured");
    // Retry-After plus at most a fifth of it as jitter.
    s.app.advance(Duration::seconds(6));
    s.app.drain().await;
    assert_eq!(s.fake.send_requests().len(), 2);
    assert_eq!(s.fake.messages().len(), 1, "sent once");
    let list = messages(&s).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "sent", "{}", list[0]);
    assert_eq!(
        list[0]["provider_message_id"],
        s.fake.messages()[0].id.as_str()
    );

    // A 5xx is retried with backoff, also without a duplicate.
    s.fake.fail_next(500, None);
    lead(&s, "+14155550124").await;
    s.app.drain().await;
    assert_eq!(s.fake.messages().len(), 1);
    for _ in 0..10 {
        s.app.advance(Duration::seconds(2));
        s.app.drain().await;
    }
    assert_eq!(s.fake.messages().len(), 2);
    assert!(messages(&s).await.iter().all(|m| m["status"] == "sent"));
    let logs = s.app.action_logs(&s.acct, &s.workflow).await;
    assert!(logs.iter().all(|l| l["outcome"] == "succeeded"), "{logs:?}");
}

async fn r12_aircall_invalid_number_fails_the_message_with_aircalls_code_in_the_action_log(
    backend: TestBackend,
) {
    let s = setup(backend).await;
    s.fake.refuse_recipient(PHONE);
    lead(&s, PHONE).await;
    s.app.drain().await;
    s.app.advance(Duration::seconds(120));
    s.app.drain().await;
    assert_eq!(
        s.fake.send_requests().len(),
        1,
        "a permanent error is not retried"
    );
    let list = messages(&s).await;
    assert_eq!(list[0]["status"], "failed", "{}", list[0]);
    assert_eq!(list[0]["error_code"], "aircall:http_422");
    let logs = s.app.action_logs(&s.acct, &s.workflow).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["outcome"], "failed");
    assert_eq!(logs[0]["reason_code"], "provider_error");
    let reason = logs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("aircall:http_422") && reason.contains("Invalid phone number"),
        "{reason}"
    );
    // The refused message does not use up the sender's allowance (R9).
    let usage = s.app.usage(&s.acct).await;
    let number = usage["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == s.number.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    assert!(number.is_null() || number["day"] == 0, "{usage}");
}

async fn r11_aircall_burst_of_150_never_passes_60_requests_in_a_rolling_minute(
    backend: TestBackend,
) {
    // The burst starts the moment the connection's sync is done: its
    // requests count against the same minute.
    let s = setup_at_once(backend).await;
    // Aircall answers 429 past 60 requests a minute: pacing must never
    // draw one.
    s.fake.enforce_limit(60);
    let inputs: Vec<Value> = (0..150)
        .map(|k| {
            json!({"properties": {
                "firstname": format!("Lead{k}"), "lifecyclestage": "lead",
                "mobilephone": format!("+1415555{:04}", 1000 + k),
            }})
        })
        .collect();
    let (status, body) = s
        .app
        .post(
            &s.acct,
            "/objects/contacts/batch",
            json!({"inputs": inputs}),
        )
        .await;
    assert!(status.is_success(), "{body}");

    // Half-second steps: a pacing that let a request through early would
    // show here as a 61st request in some minute.
    let mut steps = 0;
    while s.fake.messages().len() < 150 {
        s.app.drain().await;
        s.app.advance(Duration::milliseconds(500));
        steps += 1;
        assert!(
            steps < 400,
            "the burst stalled at {}",
            s.fake.messages().len()
        );
    }
    assert_eq!(s.fake.rate_limited(), 0, "no 429 was drawn");
    assert!(
        s.fake.max_requests_per_rolling_minute() <= 60,
        "{} requests in one minute",
        s.fake.max_requests_per_rolling_minute()
    );
    // It queued instead of failing, and sent each message once.
    let mut recipients: Vec<String> = s.fake.messages().iter().map(|m| m.to.clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 150);
    assert_eq!(s.fake.send_requests().len(), 150);
    let all = s.app.list(&s.acct, "/messages?limit=1000").await;
    assert_eq!(all.len(), 150);
    assert!(all.iter().all(|m| m["status"] == "sent"));
    // Paced, not bunched: 150 requests at one a second take 149 s or more.
    let sends = s.fake.send_requests();
    let span = sends[149].at - sends[0].at;
    assert!(span >= Duration::seconds(149), "{span}");
}

async fn r27_aircall_connection_registers_its_webhook_and_keeps_the_token_secret(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let fake = fake_company(&app).await;
    let acct = app.create_account(true).await;
    // No token given: creating the connection registers its webhook URL at
    // Aircall and keeps the token Aircall answered.
    let mut config = fake.connection_config();
    config["webhook_token"] = Value::Null;
    let (status, connection) = connect(&app, &acct, config).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    assert!(
        !connection.to_string().contains(WEBHOOK_TOKEN),
        "the token is a secret: {connection}"
    );
    let inbound_url = connection["webhook_urls"]["inbound"].as_str().unwrap();
    let registered = fake.webhooks();
    assert_eq!(registered.len(), 1, "{registered:?}");
    assert_eq!(registered[0]["url"], inbound_url);
    let events: Vec<&str> = registered[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for event in ["message.sent", "message.received", "message.status_updated"] {
        assert!(events.contains(&event), "{events:?}");
    }
    let registration = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/webhooks")
        .expect("the registration request");
    assert!(
        registration
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "Basic auth with the API id and token"
    );

    // Aircall's events, carrying that token, are taken at once; another
    // token is still refused.
    let inbound = app.local_url(inbound_url);
    let hook = fake.received(PHONE, MAIN, "Hello");
    assert_eq!(
        hook.post(&app.client, &inbound).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.list(&acct, "/messages").await.len(), 1);
    let forged = fake.received(PHONE, MAIN, "Forged").with_token("guess");
    assert_eq!(
        forged.post(&app.client, &inbound).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.list(&acct, "/messages").await.len(), 1);
}
