//! Tenants are isolated (R26): another account's token finds nothing of
//! this account (404, never a change), and calls without a valid token are
//! refused (401).

use crate::helpers::assert_error;
use reqwest::{Method, StatusCode};
use serde_json::json;
use smsflow_testkit::app::{spawn_app, welcome_workflow_json};
use smsflow_testkit::db::TestBackend;

smsflow_testkit::on_both_backends!(
    r26_another_accounts_token_gets_404_on_every_resource,
    r26_calls_without_or_with_a_bad_token_get_401,
);

async fn r26_another_accounts_token_gets_404_on_every_resource(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let a = app.create_account(true).await;
    let (number, user) = app.setup_sender(&a).await;
    let wf = app
        .published_workflow(&a, welcome_workflow_json(&number, &user, "Hi"))
        .await;
    let contact = app
        .contact(
            &a,
            json!({"mobilephone": "+14155550123", "lifecyclestage": "lead"}),
        )
        .await;
    app.drain().await;
    let outbox = app.outbox(&a).await;
    assert_eq!(outbox.len(), 1);
    let message = outbox[0]["id"].as_str().unwrap().to_string();
    let (_, contact_before) = app.get(&a, &format!("/objects/contacts/{contact}")).await;
    let (_, wf_before) = app.get(&a, &format!("/workflows/{wf}")).await;
    let (_, number_before) = app.get(&a, &format!("/numbers/{number}")).await;

    let b = app.create_account(true).await;
    let (b_number, b_user) = app.setup_sender(&b).await;
    let definition = welcome_workflow_json(&b_number, &b_user, "Hi");
    let calls: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/objects/contacts/{contact}"), None),
        (
            Method::PATCH,
            format!("/objects/contacts/{contact}"),
            Some(json!({"properties": {"firstname": "Eve"}})),
        ),
        (Method::DELETE, format!("/objects/contacts/{contact}"), None),
        (
            Method::GET,
            format!("/objects/contacts/{contact}/timeline"),
            None,
        ),
        (Method::GET, format!("/workflows/{wf}"), None),
        (Method::PUT, format!("/workflows/{wf}"), Some(definition)),
        (
            Method::POST,
            format!("/workflows/{wf}/validate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/workflows/{wf}/publish"),
            Some(json!({"enroll_existing": true})),
        ),
        (
            Method::POST,
            format!("/workflows/{wf}/pause"),
            Some(json!({})),
        ),
        (Method::GET, format!("/workflows/{wf}/enrollments"), None),
        (Method::GET, format!("/workflows/{wf}/action-logs"), None),
        (Method::GET, format!("/numbers/{number}"), None),
        (
            Method::PATCH,
            format!("/numbers/{number}"),
            Some(json!({"label": "Mine now"})),
        ),
        (
            Method::PUT,
            format!("/numbers/{number}/users"),
            Some(json!({"user_ids": [b_user]})),
        ),
        (Method::GET, format!("/messages/{message}"), None),
    ];
    for (method, path, body) in calls {
        let (status, answer) = app
            .request(method.clone(), &path, Some(&b.token), body.as_ref())
            .await;
        assert_error(status, &answer, StatusCode::NOT_FOUND, "not_found");
        let _ = (method, path);
    }

    // B's lists hold none of A's resources.
    for path in [
        "/objects/contacts",
        "/workflows",
        "/messages",
        "/sandbox/outbox",
        "/users",
    ] {
        let listed = app.list(&b, path).await;
        let own_only = match path {
            "/users" => listed.len() == 1 && listed[0]["id"] == b_user.as_str(),
            _ => listed.is_empty(),
        };
        assert!(own_only, "{path} shows another account's data: {listed:?}");
    }
    let numbers = app.list(&b, "/numbers").await;
    assert_eq!(numbers.len(), 1);
    assert_eq!(numbers[0]["id"], b_number.as_str());

    // And nothing of A changed.
    assert_eq!(
        app.get(&a, &format!("/objects/contacts/{contact}")).await.1,
        contact_before
    );
    assert_eq!(app.get(&a, &format!("/workflows/{wf}")).await.1, wf_before);
    assert_eq!(
        app.get(&a, &format!("/numbers/{number}")).await.1,
        number_before
    );
    assert_eq!(app.outbox(&a).await.len(), 1);
}

async fn r26_calls_without_or_with_a_bad_token_get_401(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let a = app.create_account(true).await;
    for token in [None, Some("sfk_not_a_token"), Some("")] {
        for (method, path) in [
            (Method::GET, "/objects/contacts"),
            (Method::GET, "/workflows"),
            (Method::GET, "/usage"),
        ] {
            let (status, body) = app.request(method, path, token, None).await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        }
        let (status, body) = app
            .request(
                Method::POST,
                "/accounts",
                token,
                Some(&json!({"name": "x"})),
            )
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // An account token is not the admin token.
    let (status, body) = app
        .request(
            Method::GET,
            &format!("/accounts/{}", a.id),
            Some(&a.token),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // Nothing was written by the refused calls.
    assert!(app.list(&a, "/objects/contacts").await.is_empty());
}
