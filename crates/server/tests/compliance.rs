//! Pins the rules that make smsflow safe to point at real people, through
//! the HTTP API on SQLite and PostgreSQL: STOP/START/HELP and opt-outs in
//! other words (R17, R18, R29), marketing contacts (R19), consent changes by
//! workflow with their proof (R20), quiet hours in the recipient's own time
//! zone (R21), and conversations with agent replies (R14, R16).

use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use smsflow_testkit::app::{
    cond, send_action, spawn_app, welcome_workflow_json, TestAccount, TestApp, SENDER_E164,
};
use smsflow_testkit::db::TestBackend;

smsflow_testkit::on_both_backends!(
    r17_stop_in_any_case_opts_the_phone_out_until_start,
    r17_help_is_answered_and_r29_other_words_are_flagged_or_applied,
    r17_inbound_keyword_triggers_a_workflow,
    r19_marketing_sms_goes_only_to_marketing_contacts,
    r20_manage_subscription_writes_provable_consent_only_in_contact_workflows,
    r21_quiet_hours_defer_to_eight_in_the_recipients_own_zone,
    r16_replies_thread_and_agent_replies_count_and_respect_opt_out,
    r16_a_workflow_send_joins_the_thread_an_inbound_message_opened,
);

const PHONE: &str = "+14155550123";

async fn inbound(app: &TestApp, acct: &TestAccount, from: &str, body: &str) -> Value {
    let (status, out) = app
        .post(
            acct,
            "/sandbox/inbound",
            json!({"from": from, "to": SENDER_E164, "body": body}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "inbound: {out}");
    out
}

async fn record(app: &TestApp, acct: &TestAccount, id: &str) -> Value {
    let (status, out) = app.get(acct, &format!("/objects/contacts/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    out
}

fn to_phone<'a>(outbox: &'a [Value], phone: &str) -> Vec<&'a Value> {
    outbox.iter().filter(|m| m["to"] == phone).collect()
}

fn reasons(logs: &[Value]) -> Vec<(String, String)> {
    logs.iter()
        .map(|l| {
            (
                l["outcome"].as_str().unwrap_or_default().to_string(),
                l["reason_code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn r17_stop_in_any_case_opts_the_phone_out_until_start(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    // Two contacts share the phone: one as mobile, one as landline, written
    // differently.
    let anna = app
        .contact(&acct, json!({"firstname": "Anna", "mobilephone": PHONE}))
        .await;
    let bert = app
        .contact(
            &acct,
            json!({"firstname": "Bert", "phone": "(415) 555-0123"}),
        )
        .await;
    // A workflow without a suppression filter: only the consent rule stops it.
    let mut wf = welcome_workflow_json(&number, &user, "Hi {{ contact.firstname }}!");
    wf["suppression"] = json!([]);
    let wf_id = app.published_workflow(&acct, wf).await;

    inbound(&app, &acct, PHONE, "  sToP  ").await;
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert_eq!(
        to_phone(&outbox, PHONE).len(),
        1,
        "exactly one confirmation: {outbox:?}"
    );
    assert!(
        outbox[0]["body"].as_str().unwrap().contains("unsubscribed"),
        "{}",
        outbox[0]
    );
    for id in [&anna, &bert] {
        assert_eq!(
            record(&app, &acct, id).await["properties"]["sms_opted_out"],
            json!(true)
        );
    }

    // Nothing from any workflow…
    app.contact(
        &acct,
        json!({"firstname": "Cleo", "lifecyclestage": "lead", "mobilephone": PHONE}),
    )
    .await;
    app.drain().await;
    assert_eq!(to_phone(&app.outbox(&acct).await, PHONE).len(), 1);
    assert_eq!(
        reasons(&app.action_logs(&acct, &wf_id).await),
        vec![("skipped".to_string(), "opted_out".to_string())]
    );
    // …or agent.
    let conversations = app.list(&acct, "/conversations").await;
    assert_eq!(conversations.len(), 1);
    let conv = conversations[0]["id"].as_str().unwrap().to_string();
    let (status, out) = app
        .post(
            &acct,
            &format!("/conversations/{conv}/messages"),
            json!({"user_id": user, "body": "Are you sure?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{out}");
    assert_eq!(out["error"]["code"], "opted_out");
    // A second STOP sends no second confirmation.
    inbound(&app, &acct, PHONE, "STOP").await;
    app.drain().await;
    assert_eq!(to_phone(&app.outbox(&acct).await, PHONE).len(), 1);

    inbound(&app, &acct, PHONE, "start").await;
    app.drain().await;
    assert_eq!(
        to_phone(&app.outbox(&acct).await, PHONE).len(),
        2,
        "START is confirmed"
    );
    for id in [&anna, &bert] {
        assert_eq!(
            record(&app, &acct, id).await["properties"]["sms_opted_out"],
            json!(false)
        );
    }
    let (status, _) = app
        .post(
            &acct,
            &format!("/conversations/{conv}/messages"),
            json!({"user_id": user, "body": "Welcome back"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.drain().await;
    assert_eq!(to_phone(&app.outbox(&acct).await, PHONE).len(), 3);

    let (status, consent) = app.get(&acct, &format!("/consent/{PHONE}")).await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    let phone_wide: Vec<(&str, &str)> = consent["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["subscription_type_id"] == "*")
        .map(|c| (c["status"].as_str().unwrap(), c["source"].as_str().unwrap()))
        .collect();
    assert_eq!(
        phone_wide,
        vec![
            ("unsubscribed", "keyword"),
            ("unsubscribed", "keyword"),
            ("subscribed", "keyword")
        ]
    );
}

async fn r17_help_is_answered_and_r29_other_words_are_flagged_or_applied(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    app.setup_sender(&acct).await;
    inbound(&app, &acct, PHONE, "help").await;
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 1);
    assert!(
        outbox[0]["body"].as_str().unwrap().contains("Reply STOP"),
        "{}",
        outbox[0]
    );

    // By default a stop in other words is flagged for an agent, not applied.
    inbound(&app, &acct, PHONE, "please stop texting me").await;
    app.drain().await;
    let flagged = app.list(&acct, "/conversations?needs_attention=true").await;
    assert_eq!(flagged.len(), 1);
    assert!(flagged[0]["needs_attention"]
        .as_str()
        .unwrap()
        .contains("possible opt-out"));
    assert_eq!(app.outbox(&acct).await.len(), 1, "flagging sends nothing");

    // Per account setting it is applied as a STOP.
    app.update_account(
        &acct,
        json!({"keywords": {"natural_language_opt_out": "apply"}}),
    )
    .await;
    let other = "+4915112345678";
    inbound(&app, &acct, other, "Bitte keine SMS mehr").await;
    app.drain().await;
    assert_eq!(
        to_phone(&app.outbox(&acct).await, other).len(),
        1,
        "one confirmation"
    );
    let (_, consent) = app.get(&acct, &format!("/consent/{other}")).await;
    let first = &consent["ledger"][0];
    assert_eq!(
        (first["status"].as_str(), first["source"].as_str()),
        (Some("unsubscribed"), Some("natural_language"))
    );
    assert_eq!(first["wording"], "Bitte keine SMS mehr");
}

async fn r17_inbound_keyword_triggers_a_workflow(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let wf = json!({
        "name": "Demo requests",
        "object_type": "contact",
        "enrollment": {"inbound_sms": {"keyword": "DEMO"}},
        "actions": [send_action("link", &number, &user, "Here is your demo, {{ contact.firstname | default('friend') }}")],
    });
    app.published_workflow(&acct, wf).await;
    app.contact(&acct, json!({"firstname": "Dana", "mobilephone": PHONE}))
        .await;
    inbound(&app, &acct, PHONE, "hello").await;
    app.drain().await;
    assert!(
        app.outbox(&acct).await.is_empty(),
        "other words do not trigger it"
    );
    inbound(&app, &acct, PHONE, " demo ").await;
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["body"], "Here is your demo, Dana");

    let mut deal_wf = json!({"name": "x", "object_type": "deal", "enrollment": {"inbound_sms": {}}, "actions": []});
    let (status, out) = app.post(&acct, "/workflows", deal_wf.take()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        out["error"]["fields"]["enrollment.inbound_sms"].is_string(),
        "{out}"
    );
}

async fn r19_marketing_sms_goes_only_to_marketing_contacts(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let (s, marketing) = app
        .post(
            &acct,
            "/subscription-types",
            json!({"name": "SMS marketing", "purpose": "marketing"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, transactional) = app
        .post(
            &acct,
            "/subscription-types",
            json!({"name": "SMS service", "purpose": "transactional"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let mut ids = Vec::new();
    for (name, t) in [("Promo", &marketing), ("Receipt", &transactional)] {
        let mut action = send_action("send", &number, &user, &format!("{name} for you"));
        action["subscription_type_id"] = t["id"].clone();
        let wf = json!({
            "name": name, "object_type": "contact",
            "enrollment": {"filters": [[cond("lifecyclestage", "eq", json!("customer"))]]},
            "actions": [action],
        });
        ids.push(app.published_workflow(&acct, wf).await);
    }
    app.contact(
        &acct,
        json!({"lifecyclestage": "customer", "mobilephone": PHONE, "marketing_contact": false}),
    )
    .await;
    app.contact(&acct, json!({"lifecyclestage": "customer", "mobilephone": "+14155550124", "marketing_contact": true})).await;
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    let bodies = |phone: &str| {
        let mut b: Vec<String> = to_phone(&outbox, phone)
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_string())
            .collect();
        b.sort();
        b
    };
    assert_eq!(bodies(PHONE), vec!["Receipt for you"]);
    assert_eq!(
        bodies("+14155550124"),
        vec!["Promo for you", "Receipt for you"]
    );
    let promo_logs = reasons(&app.action_logs(&acct, &ids[0]).await);
    assert!(
        promo_logs.contains(&("skipped".to_string(), "not_marketing_contact".to_string())),
        "{promo_logs:?}"
    );
}

async fn r20_manage_subscription_writes_provable_consent_only_in_contact_workflows(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (_, t) = app
        .post(
            &acct,
            "/subscription-types",
            json!({"name": "SMS service", "purpose": "transactional"}),
        )
        .await;
    let action = json!({
        "id": "optin", "type": "manage_subscription", "channel": "sms", "status": "subscribed",
        "subscription_type_id": t["id"], "legal_basis": "consent_with_notice",
        "explanation": "Ticked the SMS box at the Helsinki fair",
    });
    let deal = json!({"name": "Deals", "object_type": "deal", "actions": [action.clone()]});
    let (status, out) = app.post(&acct, "/workflows", deal).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{out}");
    assert!(
        out["error"]["fields"]["actions[0].type"]
            .as_str()
            .unwrap()
            .contains("contact workflows"),
        "{out}"
    );

    let wf = json!({
        "name": "Fair sign-ups", "object_type": "contact",
        "enrollment": {"filters": [[cond("lifecyclestage", "eq", json!("lead"))]]},
        "actions": [action],
    });
    let wf_id = app.published_workflow(&acct, wf).await;
    let contact = app
        .contact(
            &acct,
            json!({"lifecyclestage": "lead", "mobilephone": "040 1234567"}),
        )
        .await;
    // The account parses national numbers as US by default; make it Finnish.
    app.drain().await;
    let logs = app.action_logs(&acct, &wf_id).await;
    assert_eq!(
        logs[0]["outcome"], "failed",
        "a Finnish national number is not a US number: {logs:?}"
    );

    app.update_account(&acct, json!({"default_country": "FI"}))
        .await;
    app.update_contact(&acct, &contact, json!({"mobilephone": "+358 40 1234567"}))
        .await;
    let contact2 = app
        .contact(
            &acct,
            json!({"lifecyclestage": "lead", "mobilephone": "040 7654321"}),
        )
        .await;
    app.drain().await;
    let (_, consent) = app.get(&acct, "/consent/+358407654321").await;
    let entry = &consent["ledger"][0];
    assert_eq!(entry["status"], "subscribed");
    assert_eq!(entry["source"], "workflow");
    assert_eq!(entry["legal_basis"], "consent_with_notice");
    assert_eq!(
        entry["explanation"],
        "Ticked the SMS box at the Helsinki fair"
    );
    assert_eq!(entry["subscription_type_id"], t["id"]);
    assert_eq!(consent["subscriptions"][0]["status"], "subscribed");
    let timeline = app
        .list(&acct, &format!("/objects/contacts/{contact2}/timeline"))
        .await;
    assert!(
        timeline.iter().any(|e| e["type"] == "subscription_changed"),
        "{timeline:?}"
    );
}

async fn r21_quiet_hours_defer_to_eight_in_the_recipients_own_zone(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let wf_id = app
        .published_workflow(&acct, welcome_workflow_json(&number, &user, "Hello"))
        .await;
    // 22:00 UTC on 10 March: 23:00 in Berlin, 00:00 in Helsinki, 15:00 in
    // San Francisco (daylight time began on 8 March).
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 10, 22, 0, 0).unwrap());
    let (de, fi, us) = ("+4930901820", "+358401234567", PHONE);
    for phone in [de, fi, us] {
        app.contact(
            &acct,
            json!({"lifecyclestage": "lead", "mobilephone": phone}),
        )
        .await;
    }
    app.drain().await;
    let sent = |outbox: &[Value], phone: &str| !to_phone(outbox, phone).is_empty();
    let outbox = app.outbox(&acct).await;
    assert!(
        sent(&outbox, us) && !sent(&outbox, de) && !sent(&outbox, fi),
        "{outbox:?}"
    );
    let deferred = reasons(&app.action_logs(&acct, &wf_id).await)
        .into_iter()
        .filter(|r| r.1 == "quiet_hours")
        .count();
    assert_eq!(deferred, 2);

    // 08:00 in Helsinki is 06:00 UTC; in Berlin 07:00 UTC.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 11, 5, 59, 0).unwrap());
    app.drain().await;
    assert!(!sent(&app.outbox(&acct).await, fi));
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 11, 6, 0, 0).unwrap());
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert!(sent(&outbox, fi) && !sent(&outbox, de));
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 11, 7, 0, 0).unwrap());
    app.drain().await;
    assert!(sent(&app.outbox(&acct).await, de));

    // 23:00 in San Francisco (06:00 UTC) waits until 08:00 there, 15:00 UTC.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 12, 6, 0, 0).unwrap());
    let west = "+14155550199";
    app.contact(
        &acct,
        json!({"lifecyclestage": "lead", "mobilephone": west}),
    )
    .await;
    app.drain().await;
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 12, 14, 59, 0).unwrap());
    app.drain().await;
    assert!(!sent(&app.outbox(&acct).await, west));
    app.advance(Duration::minutes(1));
    app.drain().await;
    assert!(
        sent(&app.outbox(&acct).await, west),
        "deferred, never dropped"
    );
}

async fn r16_a_workflow_send_joins_the_thread_an_inbound_message_opened(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    // The phone writes first: the thread is opened by the inbound message.
    inbound(&app, &acct, PHONE, "Hello, is this the shop?").await;
    inbound(&app, &acct, "+14155550199", "Wrong number?").await;
    let opened = app.list(&acct, "/conversations").await;
    assert_eq!(opened.len(), 2, "{opened:?}");
    let conv = opened
        .iter()
        .find(|c| c["phone"] == PHONE)
        .and_then(|c| c["id"].as_str())
        .unwrap()
        .to_string();

    app.published_workflow(
        &acct,
        welcome_workflow_json(&number, &user, "Hi {{ contact.firstname }}"),
    )
    .await;
    app.contact(
        &acct,
        json!({"firstname": "Eva", "lifecyclestage": "lead", "mobilephone": "(415) 555-0123"}),
    )
    .await;
    app.drain().await;

    assert_eq!(app.list(&acct, "/conversations").await.len(), 2);
    let (_, thread) = app.get(&acct, &format!("/conversations/{conv}")).await;
    let messages: Vec<(&str, &str)> = thread["messages"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["conversation_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        vec![("inbound", conv.as_str()), ("outbound", conv.as_str())]
    );
}

async fn r16_replies_thread_and_agent_replies_count_and_respect_opt_out(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    app.update_account(&acct, json!({"limits": {"day": 2}}))
        .await;
    let (number, user) = app.setup_sender(&acct).await;
    app.published_workflow(
        &acct,
        welcome_workflow_json(&number, &user, "Hi {{ contact.firstname }}"),
    )
    .await;
    let contact = app
        .contact(
            &acct,
            json!({"firstname": "Eva", "lifecyclestage": "lead", "mobilephone": PHONE}),
        )
        .await;
    app.drain().await;
    inbound(&app, &acct, PHONE, "Thanks! When can we talk?").await;
    app.drain().await;

    let conversations = app.list(&acct, "/conversations").await;
    assert_eq!(conversations.len(), 1);
    let conv = conversations[0]["id"].as_str().unwrap().to_string();
    let (_, thread) = app.get(&acct, &format!("/conversations/{conv}")).await;
    let directions: Vec<&str> = thread["messages"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["direction"].as_str().unwrap())
        .collect();
    assert_eq!(directions, vec!["outbound", "inbound"]);
    let timeline = app
        .list(&acct, &format!("/objects/contacts/{contact}/timeline"))
        .await;
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["sms_sent", "sms_received"]);

    let other_user = app.user(&acct, "Not Linked").await;
    let path = format!("/conversations/{conv}/messages");
    let (status, out) = app
        .post(
            &acct,
            &path,
            json!({"user_id": other_user, "body": "Hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(out["error"]["fields"]["user_id"].is_string());

    let (status, reply) = app
        .post(
            &acct,
            &path,
            json!({"user_id": user, "body": "Tomorrow at 10?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    app.drain().await;
    assert_eq!(to_phone(&app.outbox(&acct).await, PHONE).len(), 2);
    let usage = app.usage(&acct).await;
    assert_eq!(usage["numbers"][0]["day"], 2);
    assert_eq!(usage["users"][0]["day"], 2);
    let timeline = app
        .list(&acct, &format!("/objects/contacts/{contact}/timeline"))
        .await;
    assert_eq!(
        timeline.iter().filter(|e| e["type"] == "sms_sent").count(),
        2
    );

    // The day limit of 2 holds for agents too (R10).
    let (status, out) = app
        .post(&acct, &path, json!({"user_id": user, "body": "One more"}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{out}");
    assert_eq!(out["error"]["code"], "limit_exceeded");
}
