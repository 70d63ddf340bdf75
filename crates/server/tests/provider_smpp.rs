//! Pins the SMPP 3.4 adapter end to end, through the HTTP API on SQLite and
//! PostgreSQL, against the testkit's fake SMSC: a connection created by the
//! API binds; a workflow's 300-character UCS-2 text reaches the SMSC as five
//! numbered UDH segments with data_coding 8 (R8); the SMSC's delivery
//! receipt, arriving over the socket, moves the message to delivered (R13);
//! an inbound STOP over the socket lands in the conversation, opts the
//! phone out and is confirmed through the SMSC (R17).

use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{spawn_app, welcome_workflow_json, TestAccount, TestApp, SENDER_E164};
use smsflow_testkit::db::TestBackend;
use smsflow_testkit::fakes::smpp::FakeSmsc;
use std::time::Duration;

smsflow_testkit::on_both_backends!(
    smpp_r8_long_ucs2_text_goes_as_segments_r13_receipt_delivers_it_r17_stop_opts_out,
);

/// A San Francisco mobile: 11:00 local when the test clock starts.
const PHONE: &str = "+14155550123";

/// Polls `check` until it yields a value; events over the SMPP socket are
/// applied asynchronously. Panics after ten seconds.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn message(app: &TestApp, acct: &TestAccount, id: &str) -> Value {
    let (status, m) = app.get(acct, &format!("/messages/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    m
}

async fn smpp_r8_long_ucs2_text_goes_as_segments_r13_receipt_delivers_it_r17_stop_opts_out(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let smsc = FakeSmsc::start("smsflow", "secret").await;
    let acct = app.create_account(true).await;
    let (status, connection) = app
        .post(
            &acct,
            "/providers",
            json!({"kind": "smpp", "name": "SMSC", "config": {"host": smsc.host(), "port": smsc.port(), "system_id": "smsflow", "password": "secret"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    assert!(
        !connection.to_string().contains("secret"),
        "the password is never returned: {connection}"
    );
    smsc.wait_for_binds(1).await;

    let user = app.user(&acct, "Ada Agent").await;
    let (status, number) = app
        .post(
            &acct,
            "/numbers",
            json!({
                "e164": SENDER_E164, "label": "SMPP line", "provider": connection["id"],
                "capabilities": {"sms": true, "mms": false, "voice": false}, "user_ids": [user],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{number}");
    let number = number["id"].as_str().unwrap().to_string();
    let body: String = "Здравствуйте! Ваш заказ готов к выдаче. "
        .repeat(10)
        .chars()
        .take(300)
        .collect();
    assert_eq!(body.chars().count(), 300);
    app.published_workflow(&acct, welcome_workflow_json(&number, &user, &body))
        .await;
    app.contact(
        &acct,
        json!({"firstname": "Anna", "lifecyclestage": "lead", "mobilephone": PHONE}),
    )
    .await;
    app.drain().await;

    // Five segments of at most 67 UCS-2 units, numbered 1..5 under one ref.
    let parts = smsc.wait_for_submits(5).await;
    assert_eq!(parts.len(), 5, "{parts:?}");
    let reference = parts[0].udh.as_ref().unwrap()[3];
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(
            (part.data_coding, part.esm_class, part.registered_delivery),
            (8, 0x40, 1)
        );
        assert_eq!(
            part.udh.as_deref(),
            Some(&[0x05, 0x00, 0x03, reference, 5, i as u8 + 1][..])
        );
        assert_eq!(part.destination_addr, PHONE.trim_start_matches('+'));
    }
    assert_eq!(
        parts.iter().map(|p| p.ucs2_text()).collect::<String>(),
        body
    );

    let list = app.list(&acct, "/messages").await;
    assert_eq!(list.len(), 1, "{list:?}");
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["provider_message_id"], parts[0].message_id.as_str());
    assert_eq!(list[0]["status"], "sent");
    assert_eq!(list[0]["segments"], 5);

    // The receipt comes over the socket; the message becomes delivered.
    smsc.deliver_receipt(&parts[0].message_id, "DELIVRD", SENDER_E164, PHONE)
        .await;
    eventually("the delivered status", || async {
        (message(&app, &acct, &id).await["status"] == "delivered").then_some(())
    })
    .await;

    // An inbound STOP over the socket: in the conversation, and opted out.
    smsc.deliver_mo(PHONE, SENDER_E164, "STOP").await;
    let conversation = eventually("the STOP in a conversation", || async {
        let conversations = app.list(&acct, "/conversations").await;
        let c = conversations.first()?.clone();
        let (_, thread) = app
            .get(&acct, &format!("/conversations/{}", c["id"].as_str()?))
            .await;
        let messages = thread["messages"]["results"].as_array()?.clone();
        messages
            .iter()
            .any(|m| m["direction"] == "inbound" && m["body"] == "STOP")
            .then_some(c)
    })
    .await;
    assert_eq!(conversation["phone"], PHONE);
    let (status, consent) = app.get(&acct, &format!("/consent/{PHONE}")).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    assert_eq!(consent["ledger"][0]["status"], "unsubscribed", "{consent}");

    // The confirmation goes back through the SMSC.
    app.drain().await;
    let all = smsc.wait_for_submits(6).await;
    assert_eq!(all.len(), 6);
    assert_eq!(all[5].destination_addr, PHONE.trim_start_matches('+'));
    assert!(all[5].udh.is_none());
}
