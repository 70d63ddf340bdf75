//! Reusable SMS messages over HTTP, on SQLite and PostgreSQL (`sqlite::…`,
//! `postgres::…`). It pins: creating answers 201 with the whole resource and
//! the body's encoding and segments (R8); saving reports every bad field at
//! once (R5) and needs the `sms` entitlement (R1); publishing freezes a
//! revision and editing a published message makes a new draft revision
//! (R22); a workflow may only use a published message, and then sends its
//! published revision to the contact's `mobilephone`, else `phone` (R4, R6).

use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{cond, spawn_app, TestAccount, TestApp, SENDER_E164};
use smsflow_testkit::db::TestBackend;
use std::collections::BTreeSet;

smsflow_testkit::on_both_backends!(
    r8_created_sms_message_answers_201_with_encoding_and_segments,
    r5_invalid_sms_message_reports_every_field_and_stores_nothing,
    r1_sms_messages_need_the_sms_entitlement,
    r22_editing_a_published_sms_message_makes_a_new_draft_revision,
    r4_workflow_sends_the_published_message_to_phone_when_mobilephone_is_empty,
);

/// Every key of the SMS message resource.
const KEYS: [&str; 12] = [
    "id",
    "name",
    "body",
    "from_number_id",
    "subscription_type_id",
    "state",
    "revision",
    "published_revision",
    "encoding",
    "segments",
    "created_at",
    "updated_at",
];

/// An SMS-enabled account without quiet hours (so sends happen whatever
/// the recipient's local time, R21), its sender `(number, user)` and a
/// transactional subscription type.
async fn setup(app: &TestApp) -> (TestAccount, String, String, String) {
    let acct = app.create_account(true).await;
    // An empty window (start = end) is never quiet. (`"quiet_hours": null`
    // would say it better, but PATCH currently reads a JSON null as "not
    // given" and keeps the default.)
    let none = json!({"start": "00:00", "end": "00:00"});
    let out = app
        .update_account(&acct, json!({"quiet_hours": none}))
        .await;
    assert_eq!(out["quiet_hours"], none, "quiet hours are off: {out}");
    let (number, user) = app.setup_sender(&acct).await;
    let (status, sub) = app
        .post(
            &acct,
            "/subscription-types",
            json!({"name": "SMS transactional", "purpose": "transactional"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "create subscription type: {sub}"
    );
    let sub = sub["id"]
        .as_str()
        .expect("subscription type id")
        .to_string();
    (acct, number, user, sub)
}

/// Creates a message; asserts 201 and returns the resource.
async fn create_message(app: &TestApp, acct: &TestAccount, body: Value) -> Value {
    let (status, out) = app.post(acct, "/sms-messages", body).await;
    assert_eq!(status, StatusCode::CREATED, "create SMS message: {out}");
    out
}

/// Publishes a message; asserts 200 and returns the resource.
async fn publish_message(app: &TestApp, acct: &TestAccount, id: &str) -> Value {
    let (status, out) = app
        .post(acct, &format!("/sms-messages/{id}/publish"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "publish SMS message: {out}");
    out
}

fn field_names(status: StatusCode, body: &Value) -> BTreeSet<String> {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "body: {body}");
    assert_eq!(body["error"]["code"], "validation_failed", "body: {body}");
    let fields = body["error"]["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("422 without fields: {body}"));
    for (k, why) in fields {
        assert!(
            why.as_str().is_some_and(|w| !w.is_empty()),
            "field {k} has no reason: {body}"
        );
    }
    fields.keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn r8_created_sms_message_answers_201_with_encoding_and_segments(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (acct, number, _user, sub) = setup(&app).await;

    let body =
        "Hi {{ Contact.FirstName | default('there') }}, your code is ready. {{ unsubscribe_url }}";
    let m = create_message(
        &app,
        &acct,
        json!({"name": "Code ready", "body": body, "from_number_id": number, "subscription_type_id": sub}),
    )
    .await;
    let keys: BTreeSet<&str> = m
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, KEYS.into_iter().collect(), "resource: {m}");
    assert!(
        m["id"].as_str().is_some_and(|id| id.starts_with("smsm_")),
        "{m}"
    );
    assert_eq!(m["name"], "Code ready");
    assert_eq!(m["body"], body);
    assert_eq!(m["from_number_id"], number.as_str());
    assert_eq!(m["subscription_type_id"], sub.as_str());
    assert_eq!(m["state"], "draft");
    assert_eq!(m["revision"], 1);
    assert_eq!(m["published_revision"], Value::Null);
    assert_eq!(m["encoding"], "gsm7");
    assert_eq!(m["segments"], 1);

    // UCS-2 and several segments; no subscription type is fine.
    let long = format!("Grüße 🎉 {}", "a".repeat(70));
    let u = create_message(
        &app,
        &acct,
        json!({"name": "Party", "body": long, "from_number_id": number}),
    )
    .await;
    assert_eq!(u["encoding"], "ucs2");
    assert_eq!(
        u["segments"],
        2,
        "{} UTF-16 units over 67 per segment",
        long.encode_utf16().count()
    );
    assert_eq!(u["subscription_type_id"], Value::Null);

    let id = m["id"].as_str().unwrap();
    let (status, shown) = app.get(&acct, &format!("/sms-messages/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, m, "GET shows what POST answered");

    let (status, page) = app.get(&acct, "/sms-messages?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["results"][0], m);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_string();
    let (_, rest) = app
        .get(&acct, &format!("/sms-messages?limit=1&after={cursor}"))
        .await;
    assert_eq!(rest["results"][0]["id"], u["id"]);
    assert_eq!(rest["next_cursor"], Value::Null);

    // Another account sees none of it (R26).
    let other = app.create_account(true).await;
    assert_eq!(
        app.get(&other, &format!("/sms-messages/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert!(app.list(&other, "/sms-messages").await.is_empty());
}

async fn r5_invalid_sms_message_reports_every_field_and_stores_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (acct, number, user, _sub) = setup(&app).await;
    let landline = app.number(&acct, "+14155550199", false, &[&user]).await;

    // Everything wrong at once.
    let (status, out) = app
        .post(
            &acct,
            "/sms-messages",
            json!({
                "name": "",
                "body": "Hi {{ contact.shoe_size }} {{ deal.amount }}",
                "from_number_id": landline,
                "subscription_type_id": "sub_nope",
            }),
        )
        .await;
    assert_eq!(
        field_names(status, &out),
        set(&["name", "body", "from_number_id", "subscription_type_id"]),
        "{out}"
    );
    let fields = &out["error"]["fields"];
    let why = fields["body"].as_str().unwrap();
    assert!(
        why.contains("contact.shoe_size") && why.contains("deal.amount"),
        "names the unknown tokens: {why}"
    );
    assert!(
        fields["from_number_id"]
            .as_str()
            .unwrap()
            .contains("cannot send SMS"),
        "{out}"
    );

    // Empty body; unknown number; missing name.
    let (status, out) = app
        .post(
            &acct,
            "/sms-messages",
            json!({"body": "  ", "from_number_id": "num_nope"}),
        )
        .await;
    assert_eq!(
        field_names(status, &out),
        set(&["name", "body", "from_number_id"]),
        "{out}"
    );

    // Too long; template syntax; wrong types.
    let (status, out) = app
        .post(
            &acct,
            "/sms-messages",
            json!({"name": "x", "body": "a".repeat(1601), "from_number_id": number}),
        )
        .await;
    assert_eq!(field_names(status, &out), set(&["body"]), "{out}");
    let (status, out) = app
        .post(
            &acct,
            "/sms-messages",
            json!({"name": 5, "body": "Hi {{ contact.firstname", "from_number_id": [number]}),
        )
        .await;
    assert_eq!(
        field_names(status, &out),
        set(&["name", "body", "from_number_id"]),
        "{out}"
    );

    // An unknown field is named.
    let (status, out) = app
        .post(
            &acct,
            "/sms-messages",
            json!({"name": "x", "body": "Hi", "from_number_id": number, "colour": "red"}),
        )
        .await;
    assert_eq!(field_names(status, &out), set(&["colour"]), "{out}");

    assert!(
        app.list(&acct, "/sms-messages").await.is_empty(),
        "nothing invalid was stored"
    );

    // Saving an edit is validated the same way and leaves the message as it was.
    let m = create_message(
        &app,
        &acct,
        json!({"name": "ok", "body": "Hi", "from_number_id": number}),
    )
    .await;
    let id = m["id"].as_str().unwrap();
    let (status, out) = app
        .put(
            &acct,
            &format!("/sms-messages/{id}"),
            json!({"name": "ok", "body": "", "from_number_id": landline}),
        )
        .await;
    assert_eq!(
        field_names(status, &out),
        set(&["body", "from_number_id"]),
        "{out}"
    );
    assert_eq!(app.get(&acct, &format!("/sms-messages/{id}")).await.1, m);

    assert_eq!(
        app.put(&acct, "/sms-messages/smsm_nope", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&acct, "/sms-messages/smsm_nope/publish", json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

async fn r1_sms_messages_need_the_sms_entitlement(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(false).await;
    let (number, _user) = app.setup_sender(&acct).await;
    let (status, out) = app
        .post(
            &acct,
            "/sms-messages",
            json!({"name": "Hi", "body": "Hello", "from_number_id": number}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{out}");
    assert_eq!(out["error"]["code"], "sms_not_enabled");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not enabled for this account"),
        "{out}"
    );
    assert!(app.list(&acct, "/sms-messages").await.is_empty());
}

async fn r22_editing_a_published_sms_message_makes_a_new_draft_revision(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (acct, number, _user, sub) = setup(&app).await;
    let m = create_message(
        &app,
        &acct,
        json!({"name": "Promo", "body": "Sale today", "from_number_id": number, "subscription_type_id": sub}),
    )
    .await;
    let id = m["id"].as_str().unwrap();

    let p = publish_message(&app, &acct, id).await;
    assert_eq!(
        (
            p["state"].clone(),
            p["revision"].clone(),
            p["published_revision"].clone()
        ),
        (json!("published"), json!(1), json!(1))
    );

    let edit =
        json!({"name": "Promo", "body": "Sale tomorrow — 50% off", "from_number_id": number});
    let (status, e) = app
        .put(&acct, &format!("/sms-messages/{id}"), edit.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert_eq!(e["state"], "draft");
    assert_eq!(e["revision"], 2);
    assert_eq!(e["published_revision"], 1);
    assert_eq!(e["body"], "Sale tomorrow — 50% off");
    assert_eq!(e["subscription_type_id"], Value::Null);
    assert_eq!(
        e["encoding"], "ucs2",
        "the em dash is not GSM-7 without smart encoding"
    );

    // Editing the draft again stays on revision 2.
    let (_, e2) = app.put(&acct, &format!("/sms-messages/{id}"), edit).await;
    assert_eq!(
        (e2["revision"].clone(), e2["published_revision"].clone()),
        (json!(2), json!(1))
    );

    let p2 = publish_message(&app, &acct, id).await;
    assert_eq!(
        (
            p2["state"].clone(),
            p2["revision"].clone(),
            p2["published_revision"].clone()
        ),
        (json!("published"), json!(2), json!(2))
    );

    // Publishing validates again: a message whose number lost SMS is refused.
    let (status, out) = app
        .patch(
            &acct,
            &format!("/numbers/{number}"),
            json!({"capabilities": {"sms": false, "mms": false, "voice": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let (status, out) = app
        .post(&acct, &format!("/sms-messages/{id}/publish"), json!({}))
        .await;
    assert!(
        field_names(status, &out).contains("from_number_id"),
        "{out}"
    );
}

async fn r4_workflow_sends_the_published_message_to_phone_when_mobilephone_is_empty(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let (acct, number, _user, sub) = setup(&app).await;
    let published_body =
        "Hi {{ contact.firstname | default('there') }}, welcome! Texts from {{ number.e164 }}.";
    let m = create_message(
        &app,
        &acct,
        json!({"name": "Welcome", "body": published_body, "from_number_id": number, "subscription_type_id": sub}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    let workflow = json!({
        "name": "Welcome leads",
        "object_type": "contact",
        "enrollment": {"filters": [[cond("lifecyclestage", "eq", json!("lead"))]], "reenroll_on": []},
        "actions": [{"id": "welcome", "type": "send_sms", "sms_message_id": id}],
    });

    // A draft message cannot be chosen.
    let (status, out) = app.post(&acct, "/workflows", workflow.clone()).await;
    assert_eq!(
        field_names(status, &out),
        set(&["actions[0].sms_message_id"]),
        "{out}"
    );

    publish_message(&app, &acct, &id).await;
    let wf = app.create_workflow(&acct, workflow).await;
    app.publish(&acct, &wf, false).await;

    // A later draft edit does not change what the workflow sends.
    let (status, out) = app
        .put(
            &acct,
            &format!("/sms-messages/{id}"),
            json!({"name": "Welcome", "body": "DRAFT ONLY", "from_number_id": number}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");

    let contact = app
        .contact(
            &acct,
            json!({"firstname": "Maria", "phone": "(415) 555-0123", "lifecyclestage": "lead"}),
        )
        .await;
    app.drain().await;

    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 1, "outbox: {outbox:?}");
    let sent = &outbox[0];
    assert_eq!(
        sent["to"], "+14155550123",
        "no mobilephone: the phone property is used (R6)"
    );
    assert_eq!(sent["from"], SENDER_E164);
    assert_eq!(sent["number_id"], number.as_str());
    assert_eq!(
        sent["body"],
        format!("Hi Maria, welcome! Texts from {SENDER_E164}.")
    );
    assert_eq!(sent["record_id"], contact.as_str());
    assert_eq!(sent["workflow_id"], wf.as_str());
    assert_eq!(sent["encoding"], "gsm7");
    assert_eq!(sent["segments"], 1);

    let logs = app.action_logs(&acct, &wf).await;
    assert_eq!(logs.len(), 1, "logs: {logs:?}");
    assert_eq!(logs[0]["outcome"], "succeeded", "{logs:?}");
}
