//! Pins smsflow as HubSpot's "Send SMS" custom workflow action, end to end
//! against a fake HubSpot that signs its calls as HubSpot does and records
//! what smsflow writes back, on SQLite and PostgreSQL: a signed execution
//! sends through the workflow pipeline, answers SUCCESS and logs a
//! communication on the record (R14); the same callbackId sends nothing new;
//! unsigned, mis-signed or stale calls get 401 and store nothing (R27); the
//! dropdowns list SMS-capable numbers and the chosen number's users (R1–R3);
//! a send in the recipient's quiet hours answers BLOCK and is completed
//! through the callback API once the window opens (R21).

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{spawn_app, TestAccount, TestApp};
use smsflow_testkit::db::TestBackend;
use smsflow_testkit::fakes::hubspot::{FakeHubspot, Signing, ACCESS_TOKEN};

smsflow_testkit::on_both_backends!(
    r14_signed_execution_sends_answers_success_and_logs_a_communication,
    r12_the_same_callback_id_sends_nothing_new,
    r27_unsigned_wrong_or_stale_calls_get_401_and_store_nothing,
    r2_r3_options_list_sms_numbers_and_the_chosen_numbers_users,
    r1_without_the_entitlement_the_options_carry_the_beta_message,
    r21_a_send_at_night_blocks_and_completes_through_the_callback_api,
    r14_a_reply_is_logged_on_the_record_too,
    r14_a_quote_is_associated_by_default_once_even_when_hubspot_fails_first,
    connecting_hubspot_needs_an_api_base_url_with_a_host,
);

const EXEC: &str = "/integrations/hubspot/actions/send-sms";
const PHONE: &str = "+14155550123";

struct Setup {
    app: TestApp,
    acct: TestAccount,
    hubspot: FakeHubspot,
    number: String,
    user: String,
}

async fn setup(backend: TestBackend, sms: bool) -> Setup {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let user = app.user(&acct, "Ada Agent").await;
    let number = app.number(&acct, "+14155550100", true, &[&user]).await;
    let hubspot = FakeHubspot::start().await;
    let (status, out) = app
        .put(&acct, "/integrations/hubspot", hubspot.connect_body())
        .await;
    assert_eq!(status, StatusCode::OK, "connect HubSpot: {out}");
    assert!(
        out.get("client_secret").is_none() && out.get("access_token").is_none(),
        "secrets are never shown: {out}"
    );
    assert!(
        out["action_url"]
            .as_str()
            .unwrap_or_default()
            .ends_with(EXEC),
        "{out}"
    );
    if !sms {
        app.update_account(&acct, json!({"entitlements": {"sms": false}}))
            .await;
    }
    Setup {
        app,
        acct,
        hubspot,
        number,
        user,
    }
}

/// Calls the execution endpoint as HubSpot does, signed with v3 now.
async fn execute(s: &Setup, body: &Value) -> (StatusCode, Value) {
    FakeHubspot::call(
        &s.app,
        EXEC,
        body,
        Signing::V3 {
            timestamp_ms: now_ms(&s.app),
        },
    )
    .await
}

fn now_ms(app: &TestApp) -> i64 {
    app.now().timestamp_millis()
}

fn contact_execution(s: &Setup, callback_id: &str, message: &str) -> Value {
    FakeHubspot::execution(
        callback_id,
        "CONTACT",
        614,
        json!({"firstname": "Grace", "mobilephone": PHONE}),
        json!({"from_number": s.number, "sender_user": s.user, "recipient_phone": PHONE, "message": message}),
    )
}

async fn r14_signed_execution_sends_answers_success_and_logs_a_communication(backend: TestBackend) {
    let s = setup(backend, true).await;
    let body = contact_execution(
        &s,
        "ap-1-2-3-0",
        "Hi {{ contact.firstname }}, your order shipped.",
    );
    let (status, out) = execute(&s, &body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out["outputFields"]["hs_execution_state"], "SUCCESS",
        "{out}"
    );
    assert!(out["outputFields"]["message_id"].is_string(), "{out}");
    s.app.drain().await;
    let outbox = s.app.outbox(&s.acct).await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0]["to"], PHONE);
    assert_eq!(outbox[0]["body"], "Hi Grace, your order shipped.");
    let comms = s.hubspot.communications();
    assert_eq!(comms.len(), 1, "one communication on the contact");
    let c = &comms[0];
    assert_eq!(
        c.authorization.as_deref(),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(c.body["properties"]["hs_communication_channel_type"], "SMS");
    assert_eq!(c.body["properties"]["hs_communication_logged_from"], "CRM");
    assert!(c.body["properties"]["hs_communication_body"]
        .as_str()
        .unwrap_or_default()
        .contains("Hi Grace, your order shipped."));
    assert_eq!(c.body["associations"][0]["to"]["id"], "614");
    assert_eq!(
        c.body["associations"][0]["types"][0]["associationTypeId"],
        81
    );
    // v2 signatures are accepted too.
    let body = contact_execution(&s, "ap-1-2-3-1", "Second");
    let (status, out) = FakeHubspot::call(&s.app, EXEC, &body, Signing::V2).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out["outputFields"]["hs_execution_state"], "SUCCESS",
        "{out}"
    );
}

async fn r12_the_same_callback_id_sends_nothing_new(backend: TestBackend) {
    let s = setup(backend, true).await;
    let body = contact_execution(&s, "ap-9-9-9-0", "Once only");
    let (_, first) = execute(&s, &body).await;
    s.app.drain().await;
    let (status, again) = execute(&s, &body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first, "the stored answer comes back");
    s.app.drain().await;
    assert_eq!(s.app.outbox(&s.acct).await.len(), 1);
    assert_eq!(s.hubspot.communications().len(), 1);
}

async fn r27_unsigned_wrong_or_stale_calls_get_401_and_store_nothing(backend: TestBackend) {
    let s = setup(backend, true).await;
    let body = contact_execution(&s, "ap-4-0-1-0", "Should not go");
    let six_minutes_ago = now_ms(&s.app) - 6 * 60 * 1000;
    for signing in [
        Signing::Unsigned,
        Signing::WrongSecret {
            timestamp_ms: now_ms(&s.app),
        },
        Signing::V3 {
            timestamp_ms: six_minutes_ago,
        },
    ] {
        let (status, out) = FakeHubspot::call(&s.app, EXEC, &body, signing).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{signing:?}: {out}");
    }
    let (status, _) = FakeHubspot::call(
        &s.app,
        "/integrations/hubspot/options/from_number",
        &FakeHubspot::options_fetch("from_number", json!({}), None, None),
        Signing::Unsigned,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    s.app.drain().await;
    assert!(s.app.outbox(&s.acct).await.is_empty());
    assert!(s.app.list(&s.acct, "/messages").await.is_empty());
    // Nothing was stored under the callbackId: a good call now sends.
    let (status, out) = execute(&s, &body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out["outputFields"]["hs_execution_state"], "SUCCESS",
        "{out}"
    );
}

async fn r2_r3_options_list_sms_numbers_and_the_chosen_numbers_users(backend: TestBackend) {
    let s = setup(backend, true).await;
    let bob = s.app.user(&s.acct, "Bob Builder").await;
    let second = s.app.number(&s.acct, "+14155550111", true, &[&bob]).await;
    let _landline = s.app.number(&s.acct, "+14155550122", false, &[&bob]).await;
    let ts = Signing::V3 {
        timestamp_ms: now_ms(&s.app),
    };
    let path = "/integrations/hubspot/options/from_number";
    let (status, out) = FakeHubspot::call(
        &s.app,
        path,
        &FakeHubspot::options_fetch("from_number", json!({}), None, None),
        ts,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let mut values: Vec<&str> = out["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["value"].as_str())
        .collect();
    values.sort_unstable();
    let mut expected = vec![s.number.as_str(), second.as_str()];
    expected.sort_unstable();
    assert_eq!(values, expected, "SMS-capable numbers only: {out}");
    assert_eq!(out["searchable"], true);
    // Search text narrows the list.
    let (_, out) = FakeHubspot::call(
        &s.app,
        path,
        &FakeHubspot::options_fetch("from_number", json!({}), Some("0111"), None),
        ts,
    )
    .await;
    assert_eq!(out["options"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(out["options"][0]["value"], second.as_str());

    let users = "/integrations/hubspot/options/sender_user";
    let pick = |n: &str| json!({"from_number": {"type": "STATIC_VALUE", "value": n}});
    let (_, out) = FakeHubspot::call(
        &s.app,
        users,
        &FakeHubspot::options_fetch("sender_user", pick(&s.number), None, None),
        ts,
    )
    .await;
    let ids: Vec<&str> = out["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["value"].as_str())
        .collect();
    assert_eq!(ids, vec![s.user.as_str()], "{out}");
    let (_, out) = FakeHubspot::call(
        &s.app,
        users,
        &FakeHubspot::options_fetch("sender_user", pick(&second), None, None),
        ts,
    )
    .await;
    let ids: Vec<&str> = out["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["value"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![bob.as_str()],
        "the users follow the chosen number: {out}"
    );
}

async fn r1_without_the_entitlement_the_options_carry_the_beta_message(backend: TestBackend) {
    let s = setup(backend, false).await;
    let path = "/integrations/hubspot/options/from_number";
    let (status, out) = FakeHubspot::call(
        &s.app,
        path,
        &FakeHubspot::options_fetch("from_number", json!({}), None, None),
        Signing::V3 {
            timestamp_ms: now_ms(&s.app),
        },
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let beta = "SMS workflows are in private beta and are not enabled for this account";
    assert_eq!(out["options"][0]["label"], beta, "{out}");
    assert_eq!(out["errors"][0], beta, "{out}");
    // An execution fails with the code the definition's rules translate.
    let body = contact_execution(&s, "ap-5-5-5-0", "Hello");
    let (_, out) = execute(&s, &body).await;
    assert_eq!(
        out["outputFields"]["hs_execution_state"], "FAIL_CONTINUE",
        "{out}"
    );
    assert_eq!(out["outputFields"]["errorCode"], "sms_not_enabled", "{out}");
}

async fn r21_a_send_at_night_blocks_and_completes_through_the_callback_api(backend: TestBackend) {
    let s = setup(backend, true).await;
    // 18:00 UTC + 12 h = 23:00 in San Francisco: quiet hours.
    s.app.advance(Duration::hours(12));
    let body = contact_execution(&s, "ap-7-7-7-0", "Good morning");
    let (status, out) = execute(&s, &body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["outputFields"]["hs_execution_state"], "BLOCK", "{out}");
    assert!(
        out["outputFields"]["hs_expiration_duration"]
            .as_str()
            .unwrap_or_default()
            .starts_with('P'),
        "{out}"
    );
    s.app.drain().await;
    assert!(s.app.outbox(&s.acct).await.is_empty(), "nothing at night");
    assert!(s.hubspot.completions().is_empty());
    // 08:00 in San Francisco.
    s.app.advance(Duration::hours(9));
    s.app.drain().await;
    let outbox = s.app.outbox(&s.acct).await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let done = s.hubspot.completions();
    assert_eq!(done.len(), 1, "one callback completion");
    assert_eq!(
        done[0].path,
        "/automation/v4/actions/callbacks/ap-7-7-7-0/complete"
    );
    assert_eq!(
        done[0].body["outputFields"]["hs_execution_state"], "SUCCESS",
        "{:?}",
        done[0].body
    );
    assert_eq!(s.hubspot.communications().len(), 1);
    // A retry of the blocked call now answers the outcome, and sends nothing.
    let (_, again) = execute(&s, &body).await;
    assert_eq!(
        again["outputFields"]["hs_execution_state"], "SUCCESS",
        "{again}"
    );
    s.app.drain().await;
    assert_eq!(s.app.outbox(&s.acct).await.len(), 1);
}

async fn r14_a_reply_is_logged_on_the_record_too(backend: TestBackend) {
    let s = setup(backend, true).await;
    let body = contact_execution(&s, "ap-8-8-8-0", "Can we call you?");
    execute(&s, &body).await;
    s.app.drain().await;
    let (status, out) = s
        .app
        .post(
            &s.acct,
            "/sandbox/inbound",
            json!({"from": PHONE, "to": "+14155550100", "body": "Yes, after 5"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    s.app.drain().await;
    let comms = s.hubspot.communications();
    assert_eq!(comms.len(), 2, "{comms:?}");
    assert!(comms[1].body["properties"]["hs_communication_body"]
        .as_str()
        .unwrap_or_default()
        .contains("Yes, after 5"));
    assert_eq!(comms[1].body["associations"][0]["to"]["id"], "614");
}

async fn r14_a_quote_is_associated_by_default_once_even_when_hubspot_fails_first(
    backend: TestBackend,
) {
    let s = setup(backend, true).await;
    // HubSpot publishes no communication→quote association type id: the
    // communication is created bare, then associated with the v4 default.
    s.hubspot.fail_associations(1);
    let body = FakeHubspot::execution(
        "ap-5-5-5-0",
        "0-14",
        7_001,
        json!({"hs_title": "Renewal 2027"}),
        json!({"from_number": s.number, "sender_user": s.user, "recipient_phone": PHONE, "message": "Your quote is ready."}),
    );
    let (status, out) = execute(&s, &body).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out["outputFields"]["hs_execution_state"], "SUCCESS",
        "{out}"
    );
    s.app.drain().await;
    assert_eq!(s.app.outbox(&s.acct).await.len(), 1);
    let comms = s.hubspot.communications();
    assert_eq!(comms.len(), 1, "{comms:?}");
    assert!(
        comms[0].body.get("associations").is_none(),
        "no inline association type for quotes: {:?}",
        comms[0].body
    );
    assert!(s.hubspot.associations().is_empty(), "the first try failed");

    // The retry associates the communication it already made.
    s.app.advance(chrono::Duration::minutes(5));
    s.app.drain().await;
    assert_eq!(s.hubspot.communications().len(), 1, "never created twice");
    let assoc = s.hubspot.associations();
    assert_eq!(assoc.len(), 1, "{assoc:?}");
    let id = 9_000_001;
    assert_eq!(
        assoc[0].path,
        format!("/crm/v4/objects/communications/{id}/associations/default/0-14/7001")
    );
    assert!(assoc[0]
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer ")));
}

async fn connecting_hubspot_needs_an_api_base_url_with_a_host(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let hubspot = FakeHubspot::start().await;
    for bad in ["http://", "ftp://api.hubapi.example", "api.hubapi.example"] {
        let mut body = hubspot.connect_body();
        body["api_base_url"] = json!(bad);
        let (status, out) = app.put(&acct, "/integrations/hubspot", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {out}");
        assert!(
            out["error"]["fields"].get("api_base_url").is_some(),
            "{bad}: {out}"
        );
    }
    let (status, out) = app.get(&acct, "/integrations/hubspot").await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out["results"],
        json!([]),
        "a refused connection was stored: {out}"
    );
}
