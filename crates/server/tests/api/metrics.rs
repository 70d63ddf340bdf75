//! `GET /metrics`: what the node did, for Prometheus, without a token and
//! without naming any account.

use reqwest::StatusCode;
use serde_json::json;
use smsflow_testkit::app::{spawn_app, welcome_workflow_json};
use smsflow_testkit::db::TestBackend;

smsflow_testkit::on_both_backends!(metrics_count_enrollments_actions_and_hand_offs);

/// The value of the sample `name` (with its labels, as printed).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_count_enrollments_actions_and_hand_offs(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    app.published_workflow(&acct, welcome_workflow_json(&number, &user, "Hi"))
        .await;
    for phone in ["(415) 555-0123", "(415) 555-0124"] {
        app.contact(
            &acct,
            json!({"firstname": "Ann", "mobilephone": phone, "lifecyclestage": "lead"}),
        )
        .await;
    }
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 2);

    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("the test server answers");
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response.headers()[reqwest::header::CONTENT_TYPE].clone();
    assert!(
        kind.to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{kind:?}"
    );
    let text = response.text().await.unwrap();
    assert_eq!(
        sample(&text, "smsflow_enrollments_created_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "smsflow_workflow_actions_total{outcome=\"succeeded\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "smsflow_messages_handed_off_total{provider=\"sandbox\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "smsflow_provider_call_seconds_count{provider=\"sandbox\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        sample(&text, "smsflow_worker_rounds_total").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "smsflow_worker_round_errors_total"),
        Some(0.0),
        "{text}"
    );
    assert!(
        !text.contains(acct.id.as_str()),
        "an account id in metrics: {text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}
