//! Day limits per number and user (R9): over the limit a send fails
//! `limit_exceeded` and is never retried, or under `defer` waits for the
//! next day in the account's time zone (R10).

use crate::helpers::{us_phone, usage_of, with_outcome};
use chrono::{Duration, TimeZone};
use serde_json::json;
use smsflow_testkit::app::{spawn_app, welcome_workflow_json};
use smsflow_testkit::db::TestBackend;

smsflow_testkit::on_both_backends!(
    r10_sends_over_the_day_limit_fail_limit_exceeded_and_are_never_retried,
    r10_under_defer_sends_over_the_day_limit_go_out_after_local_midnight,
);

async fn r10_sends_over_the_day_limit_fail_limit_exceeded_and_are_never_retried(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let shown = app
        .update_account(&acct, json!({"limits": {"day": 3}}))
        .await;
    assert_eq!(
        shown["limits"],
        json!({"day": 3, "month": 10000, "on_limit": "fail"})
    );
    let (number, user) = app.setup_sender(&acct).await;
    let wf = app
        .published_workflow(&acct, welcome_workflow_json(&number, &user, "Hi"))
        .await;
    for i in 0..5 {
        app.contact(
            &acct,
            json!({"mobilephone": us_phone(i), "lifecyclestage": "lead"}),
        )
        .await;
    }
    app.drain().await;

    assert_eq!(app.outbox(&acct).await.len(), 3);
    let logs = app.action_logs(&acct, &wf).await;
    assert_eq!(logs.len(), 5, "{logs:?}");
    assert_eq!(with_outcome(&logs, "succeeded", None).len(), 3, "{logs:?}");
    let failed = with_outcome(&logs, "failed", Some("limit_exceeded"));
    assert_eq!(failed.len(), 2, "{logs:?}");
    for f in &failed {
        assert!(f["message_id"].is_null());
        assert!(
            f["reason"].as_str().unwrap().contains('3'),
            "the reason names the limit: {f}"
        );
    }
    // R15: the log filters by outcome.
    assert_eq!(
        app.list(
            &acct,
            &format!("/workflows/{wf}/action-logs?outcome=failed")
        )
        .await
        .len(),
        2
    );
    let usage = app.usage(&acct).await;
    assert_eq!(usage_of(&usage, "numbers", &number)["day"], 3, "{usage}");
    assert_eq!(usage_of(&usage, "users", &user)["day"], 3, "{usage}");
    assert_eq!(
        usage_of(&usage, "numbers", &number)["day_limit"],
        3,
        "{usage}"
    );

    // Days later the failed ones are still not retried.
    app.advance(Duration::days(2));
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 3);
    assert_eq!(app.action_logs(&acct, &wf).await.len(), 5);
    let enrollments = app
        .list(&acct, &format!("/workflows/{wf}/enrollments"))
        .await;
    assert_eq!(enrollments.len(), 5);
    assert!(
        enrollments.iter().all(|e| e["state"] == "completed"),
        "{enrollments:?}"
    );
    assert_eq!(
        usage_of(&app.usage(&acct).await, "numbers", &number)["day"],
        0
    );
}

async fn r10_under_defer_sends_over_the_day_limit_go_out_after_local_midnight(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let shown = app
        .update_account(
            &acct,
            json!({"time_zone": "Europe/Helsinki", "limits": {"day": 3, "on_limit": "defer"}}),
        )
        .await;
    assert_eq!(shown["limits"]["on_limit"], "defer");
    assert_eq!(shown["time_zone"], "Europe/Helsinki");
    let (number, user) = app.setup_sender(&acct).await;
    let wf = app
        .published_workflow(&acct, welcome_workflow_json(&number, &user, "Hi"))
        .await;
    for i in 0..5 {
        app.contact(
            &acct,
            json!({"mobilephone": us_phone(i), "lifecyclestage": "lead"}),
        )
        .await;
    }
    app.drain().await;

    assert_eq!(app.outbox(&acct).await.len(), 3);
    let logs = app.action_logs(&acct, &wf).await;
    assert_eq!(with_outcome(&logs, "succeeded", None).len(), 3, "{logs:?}");
    assert_eq!(
        with_outcome(&logs, "deferred", Some("limit_exceeded")).len(),
        2,
        "{logs:?}"
    );
    assert_eq!(logs.len(), 5, "{logs:?}");
    let usage = app.usage(&acct).await;
    assert_eq!(usage_of(&usage, "numbers", &number)["day"], 3, "{usage}");
    assert_eq!(usage_of(&usage, "users", &user)["day"], 3, "{usage}");

    // The next day in Helsinki starts before the next UTC day does.
    let helsinki = chrono_tz::Europe::Helsinki;
    let local_today = app.now().with_timezone(&helsinki).date_naive();
    let midnight = helsinki
        .from_local_datetime(
            &local_today
                .succ_opt()
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        )
        .single()
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert!(
        midnight.date_naive() == app.now().date_naive(),
        "local midnight falls on the same UTC day"
    );

    // A second before it, nothing more goes.
    app.clock.set(midnight - Duration::seconds(1));
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 3);
    assert_eq!(
        usage_of(&app.usage(&acct).await, "numbers", &number)["day"],
        3
    );

    // Just after it, the other two go out and count against the new day.
    app.clock.set(midnight + Duration::seconds(1));
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert_eq!(outbox.len(), 5, "{outbox:?}");
    let recipients: std::collections::BTreeSet<_> = outbox
        .iter()
        .map(|m| m["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recipients, (0..5).map(us_phone).collect());
    let logs = app.action_logs(&acct, &wf).await;
    assert_eq!(with_outcome(&logs, "succeeded", None).len(), 5, "{logs:?}");
    assert_eq!(logs.len(), 7, "{logs:?}");
    let usage = app.usage(&acct).await;
    for (kind, id) in [("numbers", &number), ("users", &user)] {
        assert_eq!(usage_of(&usage, kind, id)["day"], 2, "{usage}");
        assert_eq!(usage_of(&usage, kind, id)["month"], 5, "{usage}");
    }
    app.advance(Duration::days(3));
    app.drain().await;
    assert_eq!(app.outbox(&acct).await.len(), 5);
}
