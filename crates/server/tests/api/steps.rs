//! Steps after the first send: a delay waits on the clock, a branch picks
//! its side from the record as it is then, a set-property step writes the
//! record (R15 logs each).

use crate::helpers::{us_phone, with_outcome};
use chrono::Duration;
use serde_json::json;
use smsflow_testkit::app::{cond, send_action, spawn_app, welcome_workflow_json};
use smsflow_testkit::db::TestBackend;
use std::collections::BTreeMap;

smsflow_testkit::on_both_backends!(
    r25_an_enrollment_whose_last_action_ran_is_completed_and_handed_off_in_that_round,
    r22_delay_then_branch_sends_the_message_of_the_branch_taken,
    set_property_action_updates_the_record_and_is_logged,
);

/// A workflow's last action finishes its enrollment in the round that runs
/// it (whether the program ends there or jumps to the end past an `else`),
/// and a message to a provider that deduplicates is handed off in that
/// round too: one round does all the work, the next finds none.
async fn r25_an_enrollment_whose_last_action_ran_is_completed_and_handed_off_in_that_round(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let mut def = welcome_workflow_json(&number, &user, "A");
    def["actions"] = json!([{
        "id": "check",
        "type": "branch",
        "if": [[cond("firstname", "eq", json!("Ann"))]],
        "then": [send_action("b", &number, &user, "B")],
        "else": [send_action("c", &number, &user, "C")],
    }]);
    let wf = app.published_workflow(&acct, def).await;
    for (i, name) in ["Ann", "Bo"].iter().enumerate() {
        app.contact(
            &acct,
            json!({"firstname": name, "mobilephone": us_phone(i), "lifecyclestage": "lead"}),
        )
        .await;
    }

    let round = app.engine.run_once().await.expect("a round runs");
    assert_eq!((round.steps, round.dispatched), (2, 2), "{round:?}");
    let enrollments = app
        .list(&acct, &format!("/workflows/{wf}/enrollments"))
        .await;
    assert_eq!(enrollments.len(), 2);
    assert!(
        enrollments.iter().all(|e| e["state"] == "completed"),
        "{enrollments:?}"
    );
    let outbox = app.outbox(&acct).await;
    let mut bodies: Vec<_> = outbox
        .iter()
        .map(|m| (m["body"].as_str().unwrap(), m["status"].as_str().unwrap()))
        .collect();
    bodies.sort();
    assert_eq!(bodies, vec![("B", "sent"), ("C", "sent")]);
    assert!(app.engine.run_once().await.unwrap().is_idle());
    assert_eq!(app.action_logs(&acct, &wf).await.len(), 4);
}

async fn r22_delay_then_branch_sends_the_message_of_the_branch_taken(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let mut def = welcome_workflow_json(&number, &user, "A");
    def["actions"] = json!([
        send_action("a", &number, &user, "A"),
        {"id": "wait", "type": "delay", "duration": "2d"},
        {
            "id": "check",
            "type": "branch",
            "if": [[cond("lifecyclestage", "eq", json!("customer"))]],
            "then": [send_action("b", &number, &user, "B")],
            "else": [send_action("c", &number, &user, "C")],
        },
    ]);
    let wf = app.published_workflow(&acct, def).await;
    let buyer = us_phone(1);
    let browser = us_phone(2);
    let c1 = app
        .contact(
            &acct,
            json!({"mobilephone": buyer, "lifecyclestage": "lead"}),
        )
        .await;
    app.contact(
        &acct,
        json!({"mobilephone": browser, "lifecyclestage": "lead"}),
    )
    .await;
    app.drain().await;
    let bodies = |outbox: &[serde_json::Value]| -> BTreeMap<(String, String), usize> {
        let mut m = BTreeMap::new();
        for msg in outbox {
            *m.entry((
                msg["to"].as_str().unwrap().to_string(),
                msg["body"].as_str().unwrap().to_string(),
            ))
            .or_insert(0) += 1;
        }
        m
    };
    let outbox = app.outbox(&acct).await;
    assert_eq!(
        bodies(&outbox),
        BTreeMap::from([
            ((buyer.clone(), "A".into()), 1),
            ((browser.clone(), "A".into()), 1)
        ])
    );

    app.update_contact(&acct, &c1, json!({"lifecyclestage": "customer"}))
        .await;
    app.advance(Duration::days(1));
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 2, "the delay is not over");

    app.advance(Duration::days(1) + Duration::seconds(1));
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert_eq!(
        bodies(&outbox),
        BTreeMap::from([
            ((buyer.clone(), "A".into()), 1),
            ((browser.clone(), "A".into()), 1),
            ((buyer, "B".into()), 1),
            ((browser, "C".into()), 1),
        ])
    );
    let logs = app.action_logs(&acct, &wf).await;
    let check: Vec<_> = logs.iter().filter(|l| l["action_id"] == "check").collect();
    assert_eq!(check.len(), 2, "{logs:?}");
    assert!(
        check.iter().any(
            |l| l["record_id"] == c1.as_str() && l["reason"].as_str().unwrap().contains("then")
        ),
        "{logs:?}"
    );
    assert_eq!(
        with_outcome(&logs, "succeeded", None).len(),
        logs.len(),
        "{logs:?}"
    );
    let enrollments = app
        .list(&acct, &format!("/workflows/{wf}/enrollments"))
        .await;
    assert!(
        enrollments.iter().all(|e| e["state"] == "completed"),
        "{enrollments:?}"
    );

    app.advance(Duration::days(5));
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 4);
}

async fn set_property_action_updates_the_record_and_is_logged(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let def = json!({
        "name": "Promote leads",
        "object_type": "contact",
        "enrollment": {"filters": [[cond("lifecyclestage", "eq", json!("lead"))]]},
        "actions": [{"id": "promote", "type": "set_property", "property": "lastname", "value": "Promoted"}],
    });
    let wf = app.published_workflow(&acct, def).await;
    let c = app
        .contact(&acct, json!({"firstname": "Ann", "lifecyclestage": "lead"}))
        .await;
    let other = app
        .contact(
            &acct,
            json!({"firstname": "Bo", "lifecyclestage": "customer"}),
        )
        .await;
    app.drain().await;

    let (_, record) = app.get(&acct, &format!("/objects/contacts/{c}")).await;
    assert_eq!(record["properties"]["lastname"], "Promoted", "{record}");
    assert_eq!(record["properties"]["firstname"], "Ann");
    let (_, untouched) = app.get(&acct, &format!("/objects/contacts/{other}")).await;
    assert!(
        untouched["properties"].get("lastname").is_none(),
        "{untouched}"
    );
    let logs = app.action_logs(&acct, &wf).await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["action_id"], "promote");
    assert_eq!(logs[0]["outcome"], "succeeded");
    assert_eq!(logs[0]["record_id"], c.as_str());
}
