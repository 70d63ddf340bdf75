//! The action form's options: SMS-capable numbers only (R2), users linked to
//! the chosen number only, new ones at once (R3).

use crate::helpers::set_of;
use reqwest::StatusCode;
use serde_json::json;
use smsflow_testkit::app::spawn_app;
use smsflow_testkit::db::TestBackend;
use std::collections::BTreeSet;

smsflow_testkit::on_both_backends!(
    r2_number_options_list_only_sms_capable_numbers,
    r3_user_options_list_only_linked_users_and_new_links_appear_at_once,
);

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn r2_number_options_list_only_sms_capable_numbers(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let user = app.user(&acct, "Ada Agent").await;
    let a = app.number(&acct, "+14155550100", true, &[&user]).await;
    let _voice = app.number(&acct, "+14155550111", false, &[&user]).await;
    let options = app.list(&acct, "/options/numbers").await;
    assert_eq!(set_of(&options, "value"), set(&[&a]));
    assert_eq!(options[0]["e164"], "+14155550100");

    // A number connected now shows up in the next call.
    let c = app.number(&acct, "+14155550122", true, &[]).await;
    let options = app.list(&acct, "/options/numbers").await;
    assert_eq!(set_of(&options, "value"), set(&[&a, &c]));

    // Another account's numbers never show.
    let other = app.create_account(true).await;
    app.number(&other, "+14155550133", true, &[]).await;
    assert_eq!(
        set_of(&app.list(&acct, "/options/numbers").await, "value"),
        set(&[&a, &c])
    );
}

async fn r3_user_options_list_only_linked_users_and_new_links_appear_at_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let u1 = app.user(&acct, "Ada Agent").await;
    let u2 = app.user(&acct, "Bob Agent").await;
    let _u3 = app.user(&acct, "Cy Agent").await;
    let number = app.number(&acct, "+14155550100", true, &[&u1]).await;
    let path = format!("/options/users?number_id={number}");
    assert_eq!(set_of(&app.list(&acct, &path).await, "value"), set(&[&u1]));

    let (status, shown) = app
        .put(
            &acct,
            &format!("/numbers/{number}/users"),
            json!({"user_ids": [u1, u2]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(
        set_of(
            &shown["user_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| json!({"id": v}))
                .collect::<Vec<_>>(),
            "id"
        ),
        set(&[&u1, &u2])
    );
    let options = app.list(&acct, &path).await;
    assert_eq!(set_of(&options, "value"), set(&[&u1, &u2]));
    assert!(
        options.iter().any(|o| o["label"] == "Bob Agent"),
        "{options:?}"
    );

    // A user created and linked now appears at once; unlinking removes.
    let u4 = app.user(&acct, "Di Agent").await;
    let (status, _) = app
        .put(
            &acct,
            &format!("/numbers/{number}/users"),
            json!({"user_ids": [u4]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(set_of(&app.list(&acct, &path).await, "value"), set(&[&u4]));
}
