//! Who enrolls (R23): once unless re-enrollment allows it, never when
//! suppressed, existing records only when publishing asks for it.

use crate::helpers::us_phone;
use serde_json::json;
use smsflow_testkit::app::{spawn_app, welcome_workflow_json};
use smsflow_testkit::db::TestBackend;

smsflow_testkit::on_both_backends!(
    r23_a_contact_that_matches_again_is_not_enrolled_again_without_reenrollment,
    r23_reenroll_on_lifecyclestage_enrolls_a_contact_that_matches_again,
    r23_suppressed_contacts_are_never_enrolled,
    r23_publishing_with_enroll_existing_enrolls_matching_records_only_when_asked,
);

async fn r23_a_contact_that_matches_again_is_not_enrolled_again_without_reenrollment(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let wf = app
        .published_workflow(&acct, welcome_workflow_json(&number, &user, "Hi"))
        .await;
    let c = app
        .contact(
            &acct,
            json!({"mobilephone": us_phone(1), "lifecyclestage": "lead"}),
        )
        .await;
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 1);

    app.update_contact(&acct, &c, json!({"lifecyclestage": "customer"}))
        .await;
    app.drain().await;
    app.update_contact(&acct, &c, json!({"lifecyclestage": "lead"}))
        .await;
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 1);
    assert_eq!(
        app.list(&acct, &format!("/workflows/{wf}/enrollments"))
            .await
            .len(),
        1
    );
}

async fn r23_reenroll_on_lifecyclestage_enrolls_a_contact_that_matches_again(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let mut def = welcome_workflow_json(&number, &user, "Hi");
    def["enrollment"]["reenroll_on"] = json!(["lifecyclestage"]);
    let wf = app.published_workflow(&acct, def).await;
    let c = app
        .contact(
            &acct,
            json!({"mobilephone": us_phone(1), "lifecyclestage": "lead"}),
        )
        .await;
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 1);

    // A change of another property does not re-enroll.
    app.update_contact(&acct, &c, json!({"firstname": "Maria"}))
        .await;
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 1);

    app.update_contact(&acct, &c, json!({"lifecyclestage": "customer"}))
        .await;
    app.drain().await;
    assert_eq!(
        app.outbox(&acct).await.len(),
        1,
        "no longer matching: not enrolled"
    );
    app.update_contact(&acct, &c, json!({"lifecyclestage": "lead"}))
        .await;
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 2);
    assert_eq!(
        app.list(&acct, &format!("/workflows/{wf}/enrollments"))
            .await
            .len(),
        2
    );
}

async fn r23_suppressed_contacts_are_never_enrolled(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let early = app
        .contact(
            &acct,
            json!({"mobilephone": us_phone(0), "lifecyclestage": "lead", "sms_opted_out": true}),
        )
        .await;
    let wf = app
        .create_workflow(&acct, welcome_workflow_json(&number, &user, "Hi"))
        .await;
    let published = app.publish(&acct, &wf, true).await;
    assert_eq!(published["enrolled"], 0);

    let c = app.contact(&acct, json!({"mobilephone": us_phone(1), "lifecyclestage": "subscriber", "sms_opted_out": true})).await;
    app.update_contact(&acct, &c, json!({"lifecyclestage": "lead"}))
        .await;
    app.update_contact(&acct, &early, json!({"firstname": "Maria"}))
        .await;
    app.drain().await;
    assert!(app.outbox(&acct).await.is_empty());
    assert!(app
        .list(&acct, &format!("/workflows/{wf}/enrollments"))
        .await
        .is_empty());
    assert!(app.action_logs(&acct, &wf).await.is_empty());
}

async fn r23_publishing_with_enroll_existing_enrolls_matching_records_only_when_asked(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    for enroll_existing in [false, true] {
        let acct = app.create_account(true).await;
        let (number, user) = app.setup_sender(&acct).await;
        app.contact(
            &acct,
            json!({"mobilephone": us_phone(0), "lifecyclestage": "lead"}),
        )
        .await;
        app.contact(
            &acct,
            json!({"mobilephone": us_phone(1), "lifecyclestage": "lead"}),
        )
        .await;
        app.contact(
            &acct,
            json!({"mobilephone": us_phone(2), "lifecyclestage": "customer"}),
        )
        .await;
        let wf = app
            .create_workflow(&acct, welcome_workflow_json(&number, &user, "Hi"))
            .await;
        let published = app.publish(&acct, &wf, enroll_existing).await;
        let expected = if enroll_existing { 2 } else { 0 };
        assert_eq!(published["enrolled"], expected, "{published}");
        app.drain().await;
        let outbox = app.outbox(&acct).await;
        assert_eq!(
            outbox.len(),
            expected,
            "enroll_existing {enroll_existing}: {outbox:?}"
        );
        assert_eq!(
            app.list(&acct, &format!("/workflows/{wf}/enrollments"))
                .await
                .len(),
            expected
        );
    }
}
