//! Storage of reusable SMS messages, on SQLite and PostgreSQL (R4, R22): a
//! message is a draft until published; publishing freezes its revision;
//! editing a published message makes the next draft revision while the
//! published revision stays what `published_sms_messages` (and so every
//! workflow) sees; a stale publish is refused; lists page by cursor; other
//! accounts' messages are invisible.

use chrono::{DateTime, Duration, TimeZone, Utc};
use smsflow_core::account::AccountSettings;
use smsflow_core::ids::{AccountId, NumberId, SmsMessageId, SubscriptionTypeId};
use smsflow_store::{
    NewAccount, SmsMessageContent, SmsMessageRow, SmsMessageState, Store, StoreError,
};

smsflow_testkit::on_both_stores!(
    r22_sms_message_is_a_draft_until_published_and_publishing_freezes_it,
    r22_editing_a_published_sms_message_makes_a_new_draft_revision,
    r22_publishing_a_stale_sms_message_is_a_conflict,
    sms_messages_are_listed_with_a_cursor_per_account,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

async fn account(store: &Store) -> AccountId {
    let id = AccountId::generate();
    store
        .create_account(NewAccount {
            id: &id,
            name: "Acme",
            settings: &AccountSettings::default(),
            token_hash: &format!("hash-{id}"),
            at: t0(),
        })
        .await
        .expect("create account");
    id
}

fn content(name: &str, body: &str, subscription: Option<&str>) -> SmsMessageContent {
    SmsMessageContent {
        name: name.to_string(),
        body: body.to_string(),
        from_number_id: NumberId::from("num_1"),
        subscription_type_id: subscription.map(SubscriptionTypeId::from),
    }
}

async fn draft(store: &Store, account: &AccountId, c: SmsMessageContent) -> SmsMessageRow {
    let row = SmsMessageRow {
        id: SmsMessageId::generate(),
        content: c,
        state: SmsMessageState::Draft,
        revision: 1,
        published_revision: None,
        created_at: t0(),
        updated_at: t0(),
    };
    store
        .insert_sms_message(account, &row)
        .await
        .expect("insert SMS message");
    row
}

async fn r22_sms_message_is_a_draft_until_published_and_publishing_freezes_it(store: &Store) {
    let acc = account(store).await;
    let m = draft(
        store,
        &acc,
        content("Welcome", "Hi {{ contact.firstname }}", Some("sub_1")),
    )
    .await;

    let got = store.get_sms_message(&acc, &m.id).await.unwrap();
    assert_eq!(got.content, m.content);
    assert_eq!(got.state, SmsMessageState::Draft);
    assert_eq!((got.revision, got.published_revision), (1, None));
    assert!(
        store.published_sms_messages(&acc).await.unwrap().is_empty(),
        "a draft is not published"
    );

    // Editing a never-published draft keeps revision 1.
    let edited = store
        .save_sms_message(
            &acc,
            &m.id,
            &content("Welcome", "Hello {{ contact.firstname }}", None),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!((edited.revision, edited.published_revision), (1, None));
    assert_eq!(edited.state, SmsMessageState::Draft);

    let at = t0() + Duration::minutes(5);
    store.publish_sms_message(&acc, &edited, at).await.unwrap();
    let got = store.get_sms_message(&acc, &m.id).await.unwrap();
    assert_eq!(got.state, SmsMessageState::Published);
    assert_eq!((got.revision, got.published_revision), (1, Some(1)));
    assert_eq!(got.updated_at, at);

    let published = store.published_sms_messages(&acc).await.unwrap();
    assert_eq!(published.len(), 1);
    let (id, rev) = &published[0];
    assert_eq!(id, &m.id);
    assert_eq!(rev.revision, 1);
    assert_eq!(
        rev.content, edited.content,
        "the published revision is the content that was published"
    );
    assert_eq!(rev.content.subscription_type_id, None);
    assert_eq!(rev.published_at, at);

    // Publishing the same revision again changes nothing.
    store
        .publish_sms_message(&acc, &got, at + Duration::minutes(1))
        .await
        .unwrap();
    let again = store.published_sms_messages(&acc).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1.published_at, at);
}

async fn r22_editing_a_published_sms_message_makes_a_new_draft_revision(store: &Store) {
    let acc = account(store).await;
    let m = draft(store, &acc, content("Promo", "Sale today", Some("sub_1"))).await;
    store.publish_sms_message(&acc, &m, t0()).await.unwrap();

    let edit = content("Promo", "Sale tomorrow", Some("sub_2"));
    let edited = store
        .save_sms_message(&acc, &m.id, &edit, t0() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(edited.state, SmsMessageState::Draft);
    assert_eq!((edited.revision, edited.published_revision), (2, Some(1)));
    assert_eq!(edited.content, edit);

    // A second edit of the draft stays on revision 2.
    let edit2 = content("Promo", "Sale this weekend", None);
    let edited2 = store
        .save_sms_message(&acc, &m.id, &edit2, t0() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!((edited2.revision, edited2.published_revision), (2, Some(1)));

    // Workflows still see revision 1, unchanged.
    let published = store.published_sms_messages(&acc).await.unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].1.revision, 1);
    assert_eq!(published[0].1.content, m.content);

    // Publishing the draft moves them to revision 2.
    store
        .publish_sms_message(&acc, &edited2, t0() + Duration::hours(3))
        .await
        .unwrap();
    let got = store.get_sms_message(&acc, &m.id).await.unwrap();
    assert_eq!(got.state, SmsMessageState::Published);
    assert_eq!((got.revision, got.published_revision), (2, Some(2)));
    let published = store.published_sms_messages(&acc).await.unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].1.revision, 2);
    assert_eq!(published[0].1.content, edit2);

    // And the next edit makes revision 3.
    let edited3 = store
        .save_sms_message(&acc, &m.id, &edit, t0() + Duration::hours(4))
        .await
        .unwrap();
    assert_eq!((edited3.revision, edited3.published_revision), (3, Some(2)));
}

async fn r22_publishing_a_stale_sms_message_is_a_conflict(store: &Store) {
    let acc = account(store).await;
    let m = draft(store, &acc, content("Reminder", "See you soon", None)).await;
    // Someone saves new content after `m` was read (and validated).
    store
        .save_sms_message(
            &acc,
            &m.id,
            &content("Reminder", "See you {{ bad }}", None),
            t0(),
        )
        .await
        .unwrap();

    let err = store
        .publish_sms_message(&acc, &m, t0())
        .await
        .expect_err("stale content must not be frozen");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    let got = store.get_sms_message(&acc, &m.id).await.unwrap();
    assert_eq!(
        (got.state, got.published_revision),
        (SmsMessageState::Draft, None)
    );
    assert!(store.published_sms_messages(&acc).await.unwrap().is_empty());
}

async fn sms_messages_are_listed_with_a_cursor_per_account(store: &Store) {
    let acc = account(store).await;
    let other = account(store).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            draft(store, &acc, content(&format!("m{i}"), "Hi", None))
                .await
                .id,
        );
    }
    let theirs = draft(store, &other, content("theirs", "Hi", None)).await;
    store
        .publish_sms_message(&other, &theirs, t0())
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_sms_messages(&acc, after.as_deref(), 2)
            .await
            .unwrap();
        assert!(page.results.len() <= 2);
        seen.extend(page.results.iter().map(|m| m.id.clone()));
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    // Ids sort by creation time to the millisecond; the list is in id order.
    ids.sort();
    assert_eq!(seen, ids, "every message once, in id order");

    // Another account's message is neither found, edited nor published here.
    assert!(matches!(
        store.get_sms_message(&acc, &theirs.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_sms_message(&acc, &theirs.id, &content("x", "y", None), t0())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.publish_sms_message(&acc, &theirs, t0()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.published_sms_messages(&acc).await.unwrap().is_empty());
    assert_eq!(store.published_sms_messages(&other).await.unwrap().len(), 1);
}
