//! The storage conformance suite: every behaviour of [`Store`] and
//! [`StoreTx`] the engine and the API rely on, run unchanged on SQLite and on
//! PostgreSQL, each test on a fresh database. It pins account and token
//! lookup, the directory (unique numbers per account, user links), records
//! and their cursor paging, workflow revisions (R22), enrollment and outbox
//! leases, atomic send-limit reservations under concurrency (R9), forward-only
//! message statuses (R13), action logs, the timeline and usage, provider
//! connections and the sync of a provider's directory (R3), and the pacing
//! buckets (R11).
//!
//! Each behaviour is an `async fn x(store: &Store)`; the testkit's
//! `on_both_stores!` turns it into `sqlite::x` and `postgres::x`. The PostgreSQL half panics when no
//! server answers (see `smsflow_testkit::db`), so CI cannot pass without it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use smsflow_core::account::AccountSettings;
use smsflow_core::encoding::Encoding;
use smsflow_core::ids::{
    AccountId, ActionLogId, EngagementId, EnrollmentId, MessageId, NumberId, RecordId, UserId,
    WorkflowId,
};
use smsflow_core::limits::{CounterKey, CounterSubject, Window};
use smsflow_core::message::{Direction, MessageStatus, Outcome, ReasonCode};
use smsflow_core::object::{ObjectType, PropertyDef, PropertyName, PropertyType, Record};
use smsflow_core::phone::E164;
use smsflow_core::workflow::WorkflowDefinition;
use smsflow_store::{
    ActionLogFilter, ActionLogRow, ConnectionRow, DirectorySync, EngagementRow, EnrollmentState,
    EnrollmentUpdate, MessageRow, NewAccount, NewEnrollment, NewMessage, NumberRow, PaceBucket,
    PaceDemand, Store, StoreError, SyncCounts, SyncedNumber, SyncedUser, UserRow, WorkflowRow,
    WorkflowState,
};

smsflow_testkit::on_both_stores!(
    accounts_are_found_by_id_and_by_token_hash,
    users_are_listed_with_a_cursor,
    numbers_keep_their_user_links_and_are_unique_per_account,
    custom_properties_are_stored_per_object_type_and_unique,
    records_upsert_list_find_and_delete,
    deleting_a_record_unenrolls_its_running_enrollments,
    r22_workflow_revision_bumps_only_after_publish,
    enrollments_are_leased_when_due_and_released_when_the_lease_expires,
    updating_an_enrollment_needs_the_lease,
    a_batch_update_with_one_lost_lease_conflicts_and_the_rest_is_rolled_back,
    r24_the_phone_index_keeps_each_numbers_line_for_the_dry_run,
    the_phone_index_of_new_records_is_added_beside_the_entries_already_there,
    r24_a_dry_run_page_carries_each_records_validated_phones_and_enrollments,
    r24_the_dry_runs_consent_lookup_answers_every_row_of_the_phones_asked_and_no_other,
    r12_a_hand_off_committed_after_the_reaper_requeued_its_message_takes_it_out_of_the_outbox,
    a_page_of_records_returns_every_value_exactly_as_stored,
    a_claimed_batch_comes_back_exactly_as_stored_with_its_claim_applied,
    r9_reservation_grants_what_fits_and_names_the_exhausted_counter,
    r9_concurrent_reservations_never_pass_the_limit,
    outbox_claims_hand_off_retry_and_failure,
    r13_message_status_only_moves_forward,
    action_logs_are_filtered_and_paged,
    timeline_lists_a_records_engagements_in_order,
    connections_are_created_in_a_transaction_and_updated_in_place,
    r3_a_directory_sync_creates_numbers_users_and_links_once,
    r3_a_resync_follows_the_provider_and_keeps_what_messages_reference,
    r11_a_provider_bucket_grants_a_request_only_once_its_slot_has_come,
    r12_a_message_inserted_leased_stays_its_owners_until_the_reaper_puts_it_back,
    r16_a_conversation_is_opened_once_per_thread_and_moves_its_last_message,
    r25_a_transaction_dropped_before_commit_leaves_nothing_and_frees_the_writer,
    r25_a_transaction_cancelled_while_it_writes_leaves_nothing_and_frees_the_writer,
    a_unique_violation_inside_a_transaction_is_reported_as_one,
);

// ---------------------------------------------------------------- helpers

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
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

fn record(object_type: ObjectType, props: serde_json::Value) -> Record {
    Record {
        id: RecordId::generate(),
        object_type,
        properties: props.as_object().expect("properties are an object").clone(),
        associations: Vec::new(),
        created_at: t0(),
        updated_at: t0(),
    }
}

async fn upsert(store: &Store, account: &AccountId, records: &[Record]) {
    let mut tx = store.begin().await.unwrap();
    tx.upsert_records(account, records).await.unwrap();
    tx.commit().await.unwrap();
}

fn workflow(name: &str) -> WorkflowRow {
    WorkflowRow {
        id: WorkflowId::generate(),
        name: name.to_string(),
        object_type: ObjectType::Contact,
        state: WorkflowState::Draft,
        revision: 1,
        published_revision: None,
        definition: definition(name),
        created_at: t0(),
        updated_at: t0(),
    }
}

fn definition(name: &str) -> WorkflowDefinition {
    WorkflowDefinition {
        name: Some(name.to_string()),
        ..Default::default()
    }
}

fn user(name: &str) -> UserRow {
    UserRow {
        id: UserId::generate(),
        name: name.to_string(),
        email: format!("{name}@example.com"),
        provider: None,
        external_id: None,
        created_at: t0(),
    }
}

fn number(e164: &str, user_ids: Vec<UserId>) -> NumberRow {
    NumberRow {
        id: NumberId::generate(),
        e164: E164::from_trusted(e164.to_string()),
        label: "Main".to_string(),
        provider: "twilio".to_string(),
        sms: true,
        mms: false,
        voice: true,
        throughput: 1,
        user_ids,
        external_id: None,
        created_at: t0(),
    }
}

/// A published workflow with `n` records enrolled in it, all due at `at`.
async fn enroll(
    store: &Store,
    account: &AccountId,
    n: usize,
    at: DateTime<Utc>,
) -> (WorkflowId, Vec<RecordId>, Vec<EnrollmentId>) {
    let w = workflow("enroll");
    store.insert_workflow(account, &w).await.unwrap();
    store.publish_workflow(account, &w, t0()).await.unwrap();
    let records: Vec<Record> = (0..n)
        .map(|i| record(ObjectType::Contact, json!({ "n": i })))
        .collect();
    upsert(store, account, &records).await;
    let list: Vec<NewEnrollment> = records
        .iter()
        .map(|r| NewEnrollment {
            id: EnrollmentId::generate(),
            account_id: account.clone(),
            workflow_id: w.id.clone(),
            revision: 1,
            record_id: r.id.clone(),
            at,
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_enrollments(&list).await.unwrap();
    tx.commit().await.unwrap();
    (
        w.id,
        records.into_iter().map(|r| r.id).collect(),
        list.into_iter().map(|e| e.id).collect(),
    )
}

fn counter(subject: CounterSubject, window: Window, period: &str) -> CounterKey {
    CounterKey {
        subject,
        window,
        period: period.to_string(),
    }
}

/// [`outbound`] as a node inserts a send it hands off itself: already
/// `sending`, on its first attempt (see `insert_messages_leased`).
fn sending(account: &AccountId) -> NewMessage {
    let mut m = outbound(account, Some(t0()));
    m.row.status = MessageStatus::Sending;
    m.row.attempts = 1;
    m
}

fn outbound(account: &AccountId, due_at: Option<DateTime<Utc>>) -> NewMessage {
    let id = MessageId::generate();
    NewMessage {
        row: MessageRow {
            idempotency_key: Some(format!("idem-{id}")),
            id,
            direction: Direction::Outbound,
            from: E164::from_trusted("+14155550100".to_string()),
            to: E164::from_trusted("+14155550199".to_string()),
            body: "Hello".to_string(),
            encoding: Encoding::Gsm7,
            segments: 1,
            status: MessageStatus::Queued,
            provider: "twilio".to_string(),
            provider_message_id: None,
            error_code: None,
            error: None,
            number_id: Some(NumberId::generate()),
            user_id: Some(UserId::generate()),
            conversation_id: None,
            record_id: Some(RecordId::generate()),
            workflow_id: Some(WorkflowId::generate()),
            enrollment_id: Some(EnrollmentId::generate()),
            action_id: Some("a1".to_string()),
            attempts: 0,
            created_at: t0(),
            updated_at: t0(),
            handed_off_at: None,
        },
        account_id: account.clone(),
        due_at,
        counted_periods: vec!["d2026-11-22".to_string(), "m2026-11".to_string()],
    }
}

async fn insert_messages(store: &Store, list: &[NewMessage]) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_messages(list).await.unwrap();
    tx.commit().await.unwrap();
}

fn log(
    account: &AccountId,
    workflow: &WorkflowId,
    action_id: &str,
    record_id: &RecordId,
    outcome: Outcome,
    message_id: Option<MessageId>,
) -> ActionLogRow {
    ActionLogRow {
        id: ActionLogId::generate(),
        account_id: account.clone(),
        workflow_id: workflow.clone(),
        action_id: action_id.to_string(),
        record_id: record_id.clone(),
        enrollment_id: EnrollmentId::generate(),
        outcome,
        reason_code: None,
        reason: None,
        message_id,
        at: t0(),
    }
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

// ------------------------------------------------------------- behaviours

async fn accounts_are_found_by_id_and_by_token_hash(store: &Store) {
    let id = account(store).await;
    let other = account(store).await;
    let row = store.get_account(&id).await.unwrap();
    assert_eq!(row.id, id);
    assert_eq!(row.name, "Acme");
    assert_eq!(row.settings, AccountSettings::default());
    assert_eq!(row.created_at, t0());

    assert_eq!(
        store
            .account_for_token(&format!("hash-{id}"))
            .await
            .unwrap(),
        Some(id.clone())
    );
    assert_eq!(
        store
            .account_for_token(&format!("hash-{other}"))
            .await
            .unwrap(),
        Some(other)
    );
    assert_eq!(store.account_for_token("no-such-hash").await.unwrap(), None);
    assert!(matches!(
        store.get_account(&AccountId::generate()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.count_accounts().await.unwrap(), 2);

    store
        .update_account(&id, "Renamed", &AccountSettings::default())
        .await
        .unwrap();
    assert_eq!(store.get_account(&id).await.unwrap().name, "Renamed");
    assert!(matches!(
        store
            .update_account(&AccountId::generate(), "x", &AccountSettings::default())
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn users_are_listed_with_a_cursor(store: &Store) {
    let acc = account(store).await;
    let other = account(store).await;
    let users: Vec<UserRow> = (0..5).map(|i| user(&format!("u{i}"))).collect();
    for u in &users {
        store.create_user(&acc, u).await.unwrap();
    }
    store.create_user(&other, &user("stranger")).await.unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_users(&acc, after.as_deref(), 2).await.unwrap();
        assert!(page.results.len() <= 2);
        seen.extend(page.results.iter().map(|u| u.id.clone()));
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let expected: Vec<UserId> = sorted(&users.iter().map(|u| u.id.clone()).collect::<Vec<_>>());
    assert_eq!(
        seen, expected,
        "every user once, in id order, none of another account"
    );

    assert_eq!(store.get_user(&acc, &users[0].id).await.unwrap(), users[0]);
    assert!(matches!(
        store.get_user(&other, &users[0].id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(sorted(&store.user_ids(&acc).await.unwrap()), expected);
}

async fn numbers_keep_their_user_links_and_are_unique_per_account(store: &Store) {
    let acc = account(store).await;
    let other = account(store).await;
    let (a, b, c) = (user("a"), user("b"), user("c"));
    for u in [&a, &b, &c] {
        store.create_user(&acc, u).await.unwrap();
    }
    let n1 = number("+14155550100", sorted(&[a.id.clone(), b.id.clone()]));
    let n2 = number("+14155550101", Vec::new());
    store.create_number(&acc, &n1).await.unwrap();
    store.create_number(&acc, &n2).await.unwrap();
    assert_eq!(store.get_number(&acc, &n1.id).await.unwrap(), n1);

    store
        .set_number_users(&acc, &n1.id, std::slice::from_ref(&c.id))
        .await
        .unwrap();
    store
        .set_number_users(&acc, &n2.id, &sorted(&[a.id.clone(), c.id.clone()]))
        .await
        .unwrap();
    assert_eq!(
        store.get_number(&acc, &n1.id).await.unwrap().user_ids,
        vec![c.id.clone()]
    );
    assert!(matches!(
        store.set_number_users(&other, &n1.id, &[]).await,
        Err(StoreError::NotFound)
    ));

    let listed = store.list_numbers(&acc).await.unwrap();
    let mut expected = vec![
        NumberRow {
            user_ids: vec![c.id.clone()],
            ..n1.clone()
        },
        NumberRow {
            user_ids: sorted(&[a.id.clone(), c.id.clone()]),
            ..n2.clone()
        },
    ];
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(listed, expected);

    let dup = number("+14155550100", Vec::new());
    match store.create_number(&acc, &dup).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a second number with the same e164 must conflict, got {other:?}"),
    }
    assert!(matches!(
        store.get_number(&acc, &dup.id).await,
        Err(StoreError::NotFound)
    ));
    // Another account may use the same number.
    store
        .create_number(&other, &number("+14155550100", Vec::new()))
        .await
        .unwrap();
    assert!(store.list_numbers(&other).await.unwrap()[0]
        .user_ids
        .is_empty());

    let mut changed = n2.clone();
    changed.label = "Support".to_string();
    changed.throughput = 10;
    store.update_number(&acc, &changed).await.unwrap();
    let got = store.get_number(&acc, &n2.id).await.unwrap();
    assert_eq!((got.label.as_str(), got.throughput), ("Support", 10));
    assert!(matches!(
        store.update_number(&other, &changed).await,
        Err(StoreError::NotFound)
    ));
}

async fn custom_properties_are_stored_per_object_type_and_unique(store: &Store) {
    let acc = account(store).await;
    let def = |name: &str, kind| PropertyDef {
        name: PropertyName::parse(name).unwrap(),
        label: name.to_uppercase(),
        kind,
    };
    let tier = def("tier", PropertyType::Enumeration);
    let score = def("score", PropertyType::Number);
    store
        .create_property(&acc, ObjectType::Contact, &tier)
        .await
        .unwrap();
    store
        .create_property(&acc, ObjectType::Contact, &score)
        .await
        .unwrap();
    store
        .create_property(&acc, ObjectType::Deal, &tier)
        .await
        .unwrap();

    assert_eq!(
        store
            .custom_properties(&acc, ObjectType::Contact)
            .await
            .unwrap(),
        vec![score, tier.clone()]
    );
    assert_eq!(
        store
            .custom_properties(&acc, ObjectType::Deal)
            .await
            .unwrap(),
        vec![tier.clone()]
    );
    assert!(store
        .custom_properties(&acc, ObjectType::Ticket)
        .await
        .unwrap()
        .is_empty());
    match store
        .create_property(&acc, ObjectType::Contact, &tier)
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a duplicate property must conflict, got {other:?}"),
    }
}

async fn records_upsert_list_find_and_delete(store: &Store) {
    let acc = account(store).await;
    let other = account(store).await;
    let ann = record(
        ObjectType::Contact,
        json!({ "email": "ann@example.com", "age": 41, "vip": true }),
    );
    let bob = record(
        ObjectType::Contact,
        json!({ "email": "bob@example.com", "age": 7 }),
    );
    let more: Vec<Record> = (0..3)
        .map(|i| record(ObjectType::Contact, json!({ "i": i })))
        .collect();
    let deal = record(ObjectType::Deal, json!({ "amount": 10 }));
    upsert(store, &acc, &[ann.clone(), bob.clone()]).await;
    upsert(store, &acc, &more).await;
    upsert(store, &acc, std::slice::from_ref(&deal)).await;
    upsert(
        store,
        &other,
        &[record(
            ObjectType::Contact,
            json!({ "email": "ann@example.com" }),
        )],
    )
    .await;

    assert_eq!(
        store
            .get_record(&acc, ObjectType::Contact, &ann.id)
            .await
            .unwrap(),
        ann
    );
    assert!(matches!(
        store.get_record(&acc, ObjectType::Deal, &ann.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_record(&other, ObjectType::Contact, &ann.id).await,
        Err(StoreError::NotFound)
    ));

    // Upserting an existing id updates properties and updated_at, not created_at.
    let mut ann2 = ann.clone();
    ann2.properties
        .insert("email".into(), json!("ann@new.example.com"));
    ann2.updated_at = t0() + Duration::minutes(5);
    ann2.created_at = t0() + Duration::minutes(5);
    upsert(store, &acc, std::slice::from_ref(&ann2)).await;
    let got = store
        .get_record(&acc, ObjectType::Contact, &ann.id)
        .await
        .unwrap();
    assert_eq!(got.properties, ann2.properties);
    assert_eq!(got.updated_at, ann2.updated_at);
    assert_eq!(got.created_at, t0());

    let mut all_contacts: Vec<RecordId> = vec![ann.id.clone(), bob.id.clone()];
    all_contacts.extend(more.iter().map(|r| r.id.clone()));
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_records(&acc, ObjectType::Contact, after.as_deref(), 2)
            .await
            .unwrap();
        seen.extend(page.results.iter().map(|r| r.id.clone()));
        match page.next_cursor {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, sorted(&all_contacts));

    let mut by_id = store
        .get_records(
            &acc,
            &[bob.id.clone(), deal.id.clone(), RecordId::generate()],
        )
        .await
        .unwrap();
    by_id.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![bob.clone(), deal.clone()];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(by_id, expected);

    let find = |prop: &'static str, value: &'static str| {
        let acc = acc.clone();
        async move {
            store
                .find_records_by_property(&acc, ObjectType::Contact, prop, value)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("email", "bob@example.com").await, vec![bob.id.clone()]);
    assert_eq!(
        find("email", "ann@new.example.com").await,
        vec![ann.id.clone()]
    );
    assert!(
        find("email", "ann@example.com").await.is_empty(),
        "another account's record is not found"
    );
    assert_eq!(
        find("age", "41").await,
        vec![ann.id.clone()],
        "numbers compare as their text"
    );
    assert_eq!(
        find("vip", "true").await,
        vec![ann.id.clone()],
        "booleans compare as true/false"
    );
    assert!(find("missing", "x").await.is_empty());

    let mut tx = store.begin().await.unwrap();
    tx.delete_record(&acc, &bob).await.unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(
        store.get_record(&acc, ObjectType::Contact, &bob.id).await,
        Err(StoreError::NotFound)
    ));
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.delete_record(&acc, &bob).await,
        Err(StoreError::NotFound)
    ));
    tx.rollback().await.unwrap();
}

async fn deleting_a_record_unenrolls_its_running_enrollments(store: &Store) {
    let acc = account(store).await;
    let (_, records, enrollments) = enroll(store, &acc, 2, t0()).await;
    // The second enrollment has completed; deleting does not rewrite history.
    let claimed = store
        .claim_due_enrollments("node-a", t0(), t0() + Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let mut tx = store.begin().await.unwrap();
    tx.update_enrollment(
        &enrollments[1],
        "node-a",
        EnrollmentState::Completed,
        1,
        None,
        None,
        t0(),
    )
    .await
    .unwrap();
    tx.update_enrollment(
        &enrollments[0],
        "node-a",
        EnrollmentState::Waiting,
        1,
        Some(t0() + Duration::hours(1)),
        None,
        t0(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    for r in &records {
        let rec = store
            .get_record(&acc, ObjectType::Contact, r)
            .await
            .unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.delete_record(&acc, &rec).await.unwrap();
        tx.commit().await.unwrap();
    }
    let mut states = store.enrollments_of_records(&acc, &records).await.unwrap();
    states.sort_by(|a, b| a.1.cmp(&b.1));
    let by_record = |r: &RecordId| states.iter().find(|s| &s.1 == r).map(|s| s.2);
    assert_eq!(by_record(&records[0]), Some(EnrollmentState::Unenrolled));
    assert_eq!(by_record(&records[1]), Some(EnrollmentState::Completed));
    // An unenrolled enrollment is never due again.
    let later = t0() + Duration::days(1);
    assert!(store
        .claim_due_enrollments("node-a", later, later + Duration::seconds(30), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn r22_workflow_revision_bumps_only_after_publish(store: &Store) {
    let acc = account(store).await;
    let w = workflow("v1");
    store.insert_workflow(&acc, &w).await.unwrap();
    assert!(store
        .published_workflows(&acc, ObjectType::Contact)
        .await
        .unwrap()
        .is_empty());

    // Drafts are edited in place.
    let saved = store
        .save_workflow_definition(
            &acc,
            &w.id,
            "v1b",
            ObjectType::Contact,
            &definition("v1b"),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        (saved.revision, saved.published_revision, saved.state),
        (1, None, WorkflowState::Draft)
    );
    assert_eq!(saved.name, "v1b");

    store.publish_workflow(&acc, &saved, t0()).await.unwrap();
    let published = store.get_workflow(&acc, &w.id).await.unwrap();
    assert_eq!(
        (
            published.revision,
            published.published_revision,
            published.state
        ),
        (1, Some(1), WorkflowState::Published)
    );
    assert_eq!(
        store
            .published_workflows(&acc, ObjectType::Contact)
            .await
            .unwrap(),
        vec![(w.id.clone(), 1)]
    );
    assert!(store
        .published_workflows(&acc, ObjectType::Deal)
        .await
        .unwrap()
        .is_empty());

    // Editing a published workflow makes revision 2; revision 1 keeps running unchanged.
    let edited = store
        .save_workflow_definition(
            &acc,
            &w.id,
            "v2",
            ObjectType::Contact,
            &definition("v2"),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!((edited.revision, edited.published_revision), (2, Some(1)));
    let again = store
        .save_workflow_definition(
            &acc,
            &w.id,
            "v2b",
            ObjectType::Contact,
            &definition("v2b"),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        (again.revision, again.published_revision),
        (2, Some(1)),
        "a draft edit does not bump again"
    );
    assert_eq!(
        store.workflow_revision(&w.id, 1).await.unwrap(),
        definition("v1b")
    );
    assert!(matches!(
        store.workflow_revision(&w.id, 2).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .published_workflows(&acc, ObjectType::Contact)
            .await
            .unwrap(),
        vec![(w.id.clone(), 1)]
    );

    store.publish_workflow(&acc, &again, t0()).await.unwrap();
    assert_eq!(
        store.workflow_revision(&w.id, 2).await.unwrap(),
        definition("v2b")
    );
    assert_eq!(
        store.workflow_revision(&w.id, 1).await.unwrap(),
        definition("v1b")
    );
    assert_eq!(
        store
            .published_workflows(&acc, ObjectType::Contact)
            .await
            .unwrap(),
        vec![(w.id.clone(), 2)]
    );

    store
        .set_workflow_state(&acc, &w.id, WorkflowState::Paused, t0())
        .await
        .unwrap();
    assert_eq!(
        store.workflow_state(&w.id).await.unwrap(),
        WorkflowState::Paused
    );
    assert!(store
        .published_workflows(&acc, ObjectType::Contact)
        .await
        .unwrap()
        .is_empty());
    let other = account(store).await;
    assert!(matches!(
        store
            .set_workflow_state(&other, &w.id, WorkflowState::Published, t0())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_workflow_definition(
                &other,
                &w.id,
                "x",
                ObjectType::Contact,
                &definition("x"),
                t0()
            )
            .await,
        Err(StoreError::NotFound)
    ));
    let listed = store.list_workflows(&acc, None, 10).await.unwrap();
    assert_eq!(listed.results.len(), 1);
    assert!(listed.next_cursor.is_none());
}

async fn enrollments_are_leased_when_due_and_released_when_the_lease_expires(store: &Store) {
    let acc = account(store).await;
    let (workflow_id, _, due) = enroll(store, &acc, 5, t0()).await;
    let (_, _, future) = enroll(store, &acc, 1, t0() + Duration::hours(1)).await;
    let lease = Duration::seconds(30);

    // Batch limit, and no enrollment in two batches.
    let first = store
        .claim_due_enrollments("node-a", t0(), t0() + lease, 2)
        .await
        .unwrap();
    let second = store
        .claim_due_enrollments("node-b", t0(), t0() + lease, 2)
        .await
        .unwrap();
    let third = store
        .claim_due_enrollments("node-b", t0(), t0() + lease, 2)
        .await
        .unwrap();
    assert_eq!((first.len(), second.len(), third.len()), (2, 2, 1));
    let mut claimed: Vec<EnrollmentId> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|c| c.row.id.clone())
        .collect();
    claimed.sort();
    assert_eq!(
        claimed,
        sorted(&due),
        "each due enrollment once; the future one is not due"
    );
    assert!(first
        .iter()
        .all(|c| c.account_id == acc && c.row.attempts == 1 && c.row.workflow_id == workflow_id));

    // Held leases are not claimed again before they expire.
    let soon = t0() + Duration::seconds(29);
    assert!(store
        .claim_due_enrollments("node-c", soon, soon + lease, 10)
        .await
        .unwrap()
        .is_empty());

    // After expiry, the work is due again (its node died); attempts count up.
    let later = t0() + Duration::seconds(31);
    let retaken = store
        .claim_due_enrollments("node-c", later, later + lease, 10)
        .await
        .unwrap();
    assert_eq!(retaken.len(), 5);
    assert!(retaken.iter().all(|c| c.row.attempts == 2));

    // The future enrollment becomes due at its time.
    let hour = t0() + Duration::hours(1);
    let at_hour = store
        .claim_due_enrollments("node-d", hour, hour + lease, 10)
        .await
        .unwrap();
    assert!(at_hour.iter().any(|c| c.row.id == future[0]));

    let page = store
        .list_enrollments(&acc, &workflow_id, None, 3)
        .await
        .unwrap();
    assert_eq!(page.results.len(), 3);
    let rest = store
        .list_enrollments(&acc, &workflow_id, page.next_cursor.as_deref(), 3)
        .await
        .unwrap();
    assert_eq!(rest.results.len(), 2);
    assert!(rest.next_cursor.is_none());
}

async fn a_batch_update_with_one_lost_lease_conflicts_and_the_rest_is_rolled_back(store: &Store) {
    let acc = account(store).await;
    // 150 enrollments: the batch statement is split into chunks of 100, and
    // the lost lease sits in the second chunk.
    let (workflow_id, _, ids) = enroll(store, &acc, 150, t0()).await;
    let lease = Duration::seconds(30);
    let claimed = store
        .claim_due_enrollments("node-a", t0(), t0() + lease, 500)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 150);
    let later = t0() + Duration::seconds(31);
    // node-a's leases expired and node-b took everything over.
    store
        .claim_due_enrollments("node-b", later, later + lease, 500)
        .await
        .unwrap();
    let update = |id| EnrollmentUpdate {
        id,
        state: EnrollmentState::Completed,
        step: 1,
        due_at: None,
        last_error: None,
    };
    let all: Vec<EnrollmentUpdate> = ids.iter().map(update).collect();
    let mut tx = store.begin().await.unwrap();
    match tx.update_enrollments("node-a", &all, later).await {
        Err(StoreError::Conflict(why)) => assert!(why.contains("150 of 150"), "{why}"),
        other => panic!("lost leases must conflict, got {other:?}"),
    }
    tx.rollback().await.unwrap();

    // node-b finishes 149; a later batch naming all 150 for node-b holds
    // only one lease, which is a conflict too.
    let mut tx = store.begin().await.unwrap();
    tx.update_enrollments("node-b", &all[..149], later)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    match tx.update_enrollments("node-b", &all, later).await {
        Err(StoreError::Conflict(why)) => assert!(why.contains("149 of 150"), "{why}"),
        other => panic!("a lost lease in the batch must conflict, got {other:?}"),
    }
    tx.rollback().await.unwrap();
    let mut states = std::collections::BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_enrollments(&acc, &workflow_id, cursor.as_deref(), 100)
            .await
            .unwrap();
        for row in page.results {
            *states.entry(row.state.as_str()).or_insert(0) += 1;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        states,
        [("active", 1), ("completed", 149)].into_iter().collect(),
        "the rolled-back batch changed nothing"
    );
}

async fn updating_an_enrollment_needs_the_lease(store: &Store) {
    let acc = account(store).await;
    let (workflow_id, _, ids) = enroll(store, &acc, 1, t0()).await;
    let lease = Duration::seconds(30);
    store
        .claim_due_enrollments("node-a", t0(), t0() + lease, 10)
        .await
        .unwrap();
    // node-a's lease expired and node-b took over.
    let later = t0() + Duration::seconds(31);
    assert_eq!(
        store
            .claim_due_enrollments("node-b", later, later + lease, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let mut tx = store.begin().await.unwrap();
    match tx
        .update_enrollment(
            &ids[0],
            "node-a",
            EnrollmentState::Completed,
            1,
            None,
            None,
            later,
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a lost lease must conflict, got {other:?}"),
    }
    tx.rollback().await.unwrap();

    let next = later + Duration::minutes(10);
    let mut tx = store.begin().await.unwrap();
    tx.update_enrollment(
        &ids[0],
        "node-b",
        EnrollmentState::Waiting,
        2,
        Some(next),
        Some("slow"),
        later,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let row = store
        .list_enrollments(&acc, &workflow_id, None, 10)
        .await
        .unwrap()
        .results
        .remove(0);
    assert_eq!(
        (
            row.state,
            row.step,
            row.due_at,
            row.attempts,
            row.last_error.as_deref()
        ),
        (EnrollmentState::Waiting, 2, Some(next), 0, Some("slow"))
    );
    // The lease was released: it is claimable as soon as it is due.
    assert!(store
        .claim_due_enrollments("node-c", later, later + lease, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .claim_due_enrollments("node-c", next, next + lease, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.next_due().await.unwrap(), Some(next));
}

async fn r9_reservation_grants_what_fits_and_names_the_exhausted_counter(store: &Store) {
    let acc = account(store).await;
    let number = NumberId::generate();
    let user = UserId::generate();
    let roomy = counter(
        CounterSubject::Number(number.clone()),
        Window::Day,
        "d2026-11-22",
    );
    let tight = counter(
        CounterSubject::User(user.clone()),
        Window::Day,
        "d2026-11-22",
    );
    let keys = [(tight.clone(), 3), (roomy.clone(), 10)];

    let mut tx = store.begin().await.unwrap();
    let grant = tx.reserve(&acc, &keys, 5).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(grant.granted, 3);
    assert_eq!(grant.exhausted, Some(tight.clone()));

    let mut tx = store.begin().await.unwrap();
    let grant = tx.reserve(&acc, &keys, 5).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(grant.granted, 0);
    assert_eq!(grant.exhausted, Some(tight.clone()));

    let periods = vec!["d2026-11-22".to_string()];
    let mut usage = store.usage(&acc, &periods).await.unwrap();
    usage.sort_by(|a, b| a.subject_kind.cmp(&b.subject_kind));
    let counts: Vec<(&str, &str, i64)> = usage
        .iter()
        .map(|u| (u.subject_kind.as_str(), u.subject_id.as_str(), u.count))
        .collect();
    assert_eq!(
        counts,
        vec![("number", number.as_str(), 3), ("user", user.as_str(), 3)]
    );
    assert!(store
        .usage(&acc, &["d2026-11-23".to_string()])
        .await
        .unwrap()
        .is_empty());

    // A rolled-back reservation leaves nothing behind.
    let mut tx = store.begin().await.unwrap();
    let fresh = [(
        counter(
            CounterSubject::User(user.clone()),
            Window::Month,
            "m2026-11",
        ),
        10,
    )];
    assert_eq!(tx.reserve(&acc, &fresh, 4).await.unwrap().granted, 4);
    tx.rollback().await.unwrap();
    assert!(store
        .usage(&acc, &["m2026-11".to_string()])
        .await
        .unwrap()
        .is_empty());

    // Releasing gives the room back to both subjects.
    let mut tx = store.begin().await.unwrap();
    tx.release(
        &[("number", number.as_str()), ("user", user.as_str())],
        &periods,
        2,
    )
    .await
    .unwrap();
    let grant = tx.reserve(&acc, &keys, 5).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(grant.granted, 2);
    assert_eq!(grant.exhausted, Some(tight.clone()));

    let mut tx = store.begin().await.unwrap();
    let plenty = tx.reserve(&acc, &[(roomy.clone(), 10)], 1).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        plenty,
        smsflow_store::CounterGrant {
            granted: 1,
            exhausted: None
        }
    );

    // Releasing more than was counted stops at zero.
    let mut tx = store.begin().await.unwrap();
    tx.release(&[("user", user.as_str())], &periods, 100)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let usage = store.usage(&acc, &periods).await.unwrap();
    assert_eq!(
        usage
            .iter()
            .find(|u| u.subject_kind == "user")
            .unwrap()
            .count,
        0
    );
}

async fn r9_concurrent_reservations_never_pass_the_limit(store: &Store) {
    const TASKS: usize = 8;
    const ATTEMPTS: usize = 1_000;
    const LIMIT: i64 = 5_000;
    let acc = account(store).await;
    let number = NumberId::generate();
    let user = UserId::generate();
    // Given in an order other than the store's lock order on purpose.
    let keys = vec![
        (
            counter(
                CounterSubject::User(user.clone()),
                Window::Month,
                "m2026-11",
            ),
            LIMIT,
        ),
        (
            counter(
                CounterSubject::Number(number.clone()),
                Window::Day,
                "d2026-11-22",
            ),
            LIMIT,
        ),
        (
            counter(
                CounterSubject::User(user.clone()),
                Window::Day,
                "d2026-11-22",
            ),
            LIMIT,
        ),
        (
            counter(
                CounterSubject::Number(number.clone()),
                Window::Month,
                "m2026-11",
            ),
            LIMIT,
        ),
    ];
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        let acc = acc.clone();
        // Each task starts from a different rotation of the keys.
        let mut keys = keys.clone();
        let n = keys.len();
        keys.rotate_left(task % n);
        tasks.push(tokio::spawn(async move {
            let mut granted = 0;
            for _ in 0..ATTEMPTS {
                let mut tx = store.begin().await.expect("begin");
                let grant = tx.reserve(&acc, &keys, 1).await.expect("reserve");
                tx.commit().await.expect("commit");
                granted += grant.granted;
            }
            granted
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.expect("task");
    }
    assert_eq!(granted, LIMIT, "exactly the limit is granted in total");
    let usage = store
        .usage(&acc, &["d2026-11-22".to_string(), "m2026-11".to_string()])
        .await
        .unwrap();
    assert_eq!(usage.len(), 4);
    for u in &usage {
        assert_eq!(u.count, LIMIT, "counter {u:?} ends exactly at the limit");
    }
}

async fn outbox_claims_hand_off_retry_and_failure(store: &Store) {
    let acc = account(store).await;
    let lease = Duration::seconds(30);
    let due: Vec<NewMessage> = (0..3).map(|_| outbound(&acc, Some(t0()))).collect();
    let later = outbound(&acc, Some(t0() + Duration::minutes(5)));
    let mut inbound = outbound(&acc, None);
    inbound.row.direction = Direction::Inbound;
    inbound.row.status = MessageStatus::Received;
    inbound.counted_periods.clear();
    let mut all = due.clone();
    all.push(later.clone());
    all.push(inbound.clone());
    insert_messages(store, &all).await;

    let stored = store.get_message(&acc, &due[0].row.id).await.unwrap();
    assert_eq!(stored.status, MessageStatus::Queued);
    assert_eq!(stored.idempotency_key, due[0].row.idempotency_key);
    assert_eq!(stored.record_id, due[0].row.record_id);
    assert_eq!(stored.encoding, Encoding::Gsm7);
    let got_inbound = store.get_message(&acc, &inbound.row.id).await.unwrap();
    assert_eq!(
        (got_inbound.direction, got_inbound.status),
        (Direction::Inbound, MessageStatus::Received)
    );

    // Claims respect due_at, the batch limit and held leases.
    let a = store
        .claim_outbox("node-a", t0(), t0() + lease, 2)
        .await
        .unwrap();
    let b = store
        .claim_outbox("node-b", t0(), t0() + lease, 10)
        .await
        .unwrap();
    assert_eq!((a.len(), b.len()), (2, 1));
    let mut claimed: Vec<MessageId> = a.iter().chain(&b).map(|m| m.row.id.clone()).collect();
    claimed.sort();
    assert_eq!(
        claimed,
        sorted(&due.iter().map(|m| m.row.id.clone()).collect::<Vec<_>>())
    );
    assert!(a.iter().all(|m| m.row.status == MessageStatus::Sending
        && m.row.attempts == 1
        && m.account_id == acc));
    assert_eq!(
        a[0].counted_periods,
        vec!["d2026-11-22".to_string(), "m2026-11".to_string()]
    );
    assert!(store
        .claim_outbox("node-c", t0(), t0() + lease, 10)
        .await
        .unwrap()
        .is_empty());

    let (handed, retried, failed) = (&due[0].row.id, &due[1].row.id, &due[2].row.id);
    let wf = WorkflowId::generate();
    let rec = RecordId::generate();
    let mut tx = store.begin().await.unwrap();
    tx.insert_action_logs(&[
        log(
            &acc,
            &wf,
            "a1",
            &rec,
            Outcome::Succeeded,
            Some(failed.clone()),
        ),
        log(
            &acc,
            &wf,
            "a1",
            &rec,
            Outcome::Succeeded,
            Some(handed.clone()),
        ),
    ])
    .await
    .unwrap();
    let at = t0() + Duration::seconds(1);
    tx.mark_handed_off(handed, "SM123", MessageStatus::Sent, at)
        .await
        .unwrap();
    tx.mark_retry(retried, t0() + Duration::seconds(60), "timeout", at)
        .await
        .unwrap();
    tx.mark_failed(failed, "21610", "unsubscribed recipient", at)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let h = store.get_message(&acc, handed).await.unwrap();
    assert_eq!(
        (h.status, h.provider_message_id.as_deref(), h.handed_off_at),
        (MessageStatus::Sent, Some("SM123"), Some(at))
    );
    let r = store.get_message(&acc, retried).await.unwrap();
    assert_eq!(
        (r.status, r.error.as_deref()),
        (MessageStatus::Queued, Some("timeout"))
    );
    let f = store.get_message(&acc, failed).await.unwrap();
    assert_eq!(
        (f.status, f.error_code.as_deref()),
        (MessageStatus::Failed, Some("21610"))
    );

    let logs = store
        .list_action_logs(&acc, &wf, &ActionLogFilter::default(), None, 10)
        .await
        .unwrap()
        .results;
    let failed_log = logs
        .iter()
        .find(|l| l.message_id.as_ref() == Some(failed))
        .unwrap();
    assert_eq!(
        (failed_log.outcome, failed_log.reason_code),
        (Outcome::Failed, Some(ReasonCode::ProviderError))
    );
    assert!(failed_log.reason.as_deref().unwrap().contains("21610"));
    let handed_log = logs
        .iter()
        .find(|l| l.message_id.as_ref() == Some(handed))
        .unwrap();
    assert_eq!(handed_log.outcome, Outcome::Succeeded);

    // Only the retried message comes back, and only once its retry time has come.
    assert!(store
        .claim_outbox("node-c", t0() + Duration::seconds(59), t0() + lease * 3, 10)
        .await
        .unwrap()
        .is_empty());
    let retry_at = t0() + Duration::seconds(60);
    let again = store
        .claim_outbox("node-c", retry_at, retry_at + lease, 10)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|m| m.row.id.clone()).collect::<Vec<_>>(),
        vec![retried.clone()]
    );
    assert_eq!(again[0].row.attempts, 2);

    // A lease that runs out in `sending` is not claimed for hand-off again
    // (its outcome is unknown): the reaper takes it over (R12).
    let expired = retry_at + lease + Duration::seconds(1);
    assert!(store
        .claim_outbox("node-d", expired, expired + lease, 10)
        .await
        .unwrap()
        .iter()
        .all(|m| m.row.id != *retried));
    let taken_over = store
        .claim_stale_sending("node-d", expired, expired + lease, 10)
        .await
        .unwrap();
    assert_eq!(taken_over.len(), 1);
    assert_eq!(taken_over[0].row.id, *retried);

    // Only queued messages are due: one in `sending` is the reaper's,
    // handed-off and failed ones and inbound messages are never due.
    let mut tx = store.begin().await.unwrap();
    tx.mark_handed_off(retried, "SM456", MessageStatus::Sent, expired)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.next_due().await.unwrap(), Some(later.due_at.unwrap()));
}

/// A node inserts the messages it will hand off itself already leased
/// (`sending`, first attempt): no other claim takes them, and should the
/// node die before the hand-off the reaper puts them back in the outbox
/// with their idempotency key once the lease runs out (R12).
async fn r12_a_message_inserted_leased_stays_its_owners_until_the_reaper_puts_it_back(
    store: &Store,
) {
    let acc = account(store).await;
    let lease = Duration::seconds(60);
    let m = sending(&acc);
    let plain = outbound(&acc, Some(t0()));
    let mut tx = store.begin().await.unwrap();
    tx.insert_messages_leased(std::slice::from_ref(&m), "node-a", t0() + lease)
        .await
        .unwrap();
    tx.insert_messages(std::slice::from_ref(&plain))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let shown = store.get_message(&acc, &m.row.id).await.unwrap();
    assert_eq!((shown.status, shown.attempts), (MessageStatus::Sending, 1));
    // Only the message inserted unleased is the outbox's.
    let claimed = store
        .claim_outbox("node-b", t0(), t0() + lease, 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|c| &c.row.id).collect::<Vec<_>>(),
        vec![&plain.row.id]
    );
    // While node-a's lease holds, the reaper leaves it alone.
    let during = t0() + Duration::seconds(30);
    assert!(store
        .claim_stale_sending("node-b", during, during + lease, 10)
        .await
        .unwrap()
        .iter()
        .all(|c| c.row.id != m.row.id));
    // Its lease run out, the reaper takes it and requeues it under its key.
    let after = t0() + lease + Duration::seconds(1);
    let stale = store
        .claim_stale_sending("node-b", after, after + lease, 10)
        .await
        .unwrap();
    assert!(stale.iter().any(|c| c.row.id == m.row.id), "{stale:?}");
    assert!(store
        .requeue_stale(&m.row.id, "node-b", after)
        .await
        .unwrap());
    let again = store
        .claim_outbox("node-c", after, after + lease, 10)
        .await
        .unwrap();
    let again: Vec<_> = again.iter().filter(|c| c.row.id == m.row.id).collect();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].row.idempotency_key, m.row.idempotency_key);
}

async fn r16_a_conversation_is_opened_once_per_thread_and_moves_its_last_message(store: &Store) {
    let acc = account(store).await;
    let number = NumberId::generate();
    let phone = |n: u32| E164::from_trusted(format!("+1415555{n:04}"));
    let thread = |n: u32| (number.clone(), phone(n));
    // The same thread twice in one batch (two sends to one phone).
    let mut tx = store.begin().await.unwrap();
    let opened = tx
        .open_conversations(&acc, &[thread(1), thread(1)], t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(opened.len(), 1);
    let first = opened[&thread(1)].clone();

    let later = t0() + Duration::seconds(5);
    let mut tx = store.begin().await.unwrap();
    let opened = tx
        .open_conversations(&acc, &[thread(2), thread(1)], later)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(opened[&thread(1)], first, "an open thread keeps its id");
    let second = opened[&thread(2)].clone();
    assert_ne!(second, first);

    let got = store.get_conversation(&acc, &first).await.unwrap();
    assert_eq!(
        (got.created_at, got.last_message_at, got.phone),
        (t0(), Some(later), phone(1))
    );
    let got = store.get_conversation(&acc, &second).await.unwrap();
    assert_eq!((got.created_at, got.last_message_at), (later, Some(later)));
    let listed = store
        .list_conversations(&acc, false, None, 10)
        .await
        .unwrap();
    assert_eq!(
        listed.results.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![&first, &second],
        "listed in the order they were opened"
    );
    assert_eq!(
        store
            .find_conversation(&acc, &number, &phone(1))
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store
            .find_conversation(&acc, &number, &phone(3))
            .await
            .unwrap(),
        None
    );

    // A thread is the account's own: another account's is another one.
    let other = account(store).await;
    let mut tx = store.begin().await.unwrap();
    let theirs = tx
        .open_conversation(&other, &number, &phone(1), later)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_ne!(theirs, first);
    assert!(matches!(
        store.get_conversation(&acc, &theirs).await,
        Err(StoreError::NotFound)
    ));
}

async fn r13_message_status_only_moves_forward(store: &Store) {
    let acc = account(store).await;
    let m = outbound(&acc, None);
    insert_messages(store, std::slice::from_ref(&m)).await;
    let id = &m.row.id;
    let at = t0() + Duration::seconds(5);

    assert!(store
        .advance_message_status(&acc, id, MessageStatus::Delivered, None, at)
        .await
        .unwrap());
    assert!(!store
        .advance_message_status(&acc, id, MessageStatus::Sent, None, at)
        .await
        .unwrap());
    assert!(!store
        .advance_message_status(&acc, id, MessageStatus::Failed, Some("30003"), at)
        .await
        .unwrap());
    let got = store.get_message(&acc, id).await.unwrap();
    assert_eq!(
        (got.status, got.error_code),
        (MessageStatus::Delivered, None)
    );
    assert_eq!(got.updated_at, at);

    let m2 = outbound(&acc, None);
    insert_messages(store, std::slice::from_ref(&m2)).await;
    assert!(store
        .advance_message_status(&acc, &m2.row.id, MessageStatus::Sent, None, at)
        .await
        .unwrap());
    assert!(store
        .advance_message_status(
            &acc,
            &m2.row.id,
            MessageStatus::Undelivered,
            Some("30006"),
            at
        )
        .await
        .unwrap());
    let got = store.get_message(&acc, &m2.row.id).await.unwrap();
    assert_eq!(
        (got.status, got.error_code.as_deref()),
        (MessageStatus::Undelivered, Some("30006"))
    );

    let other = account(store).await;
    assert!(matches!(
        store
            .advance_message_status(&other, id, MessageStatus::Delivered, None, at)
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn action_logs_are_filtered_and_paged(store: &Store) {
    let acc = account(store).await;
    let wf = WorkflowId::generate();
    let other_wf = WorkflowId::generate();
    let (r1, r2) = (RecordId::generate(), RecordId::generate());
    let mut skipped = log(&acc, &wf, "a2", &r2, Outcome::Skipped, None);
    skipped.reason_code = Some(ReasonCode::QuietHours);
    skipped.reason = Some("quiet hours".to_string());
    let logs = vec![
        log(
            &acc,
            &wf,
            "a1",
            &r1,
            Outcome::Succeeded,
            Some(MessageId::generate()),
        ),
        log(&acc, &wf, "a1", &r2, Outcome::Succeeded, None),
        log(&acc, &wf, "a2", &r1, Outcome::Failed, None),
        skipped.clone(),
        log(&acc, &wf, "a1", &r1, Outcome::Deferred, None),
        log(&acc, &other_wf, "a1", &r1, Outcome::Succeeded, None),
    ];
    let mut tx = store.begin().await.unwrap();
    tx.insert_action_logs(&logs).await.unwrap();
    tx.commit().await.unwrap();

    let ids = |f: ActionLogFilter| {
        let (acc, wf) = (acc.clone(), wf.clone());
        async move {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .list_action_logs(&acc, &wf, &f, after.as_deref(), 2)
                    .await
                    .unwrap();
                out.extend(page.results.into_iter().map(|l| l.id));
                match page.next_cursor {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            out
        }
    };
    let of = |pick: &dyn Fn(&ActionLogRow) -> bool| {
        sorted(
            &logs[..5]
                .iter()
                .filter(|l| pick(l))
                .map(|l| l.id.clone())
                .collect::<Vec<_>>(),
        )
    };

    assert_eq!(ids(ActionLogFilter::default()).await, of(&|_| true));
    assert_eq!(
        ids(ActionLogFilter {
            outcome: Some(Outcome::Succeeded),
            ..Default::default()
        })
        .await,
        of(&|l| l.outcome == Outcome::Succeeded)
    );
    assert_eq!(
        ids(ActionLogFilter {
            action_id: Some("a2".into()),
            ..Default::default()
        })
        .await,
        of(&|l| l.action_id == "a2")
    );
    assert_eq!(
        ids(ActionLogFilter {
            record_id: Some(r1.clone()),
            ..Default::default()
        })
        .await,
        of(&|l| l.record_id == r1)
    );
    assert_eq!(
        ids(ActionLogFilter {
            outcome: Some(Outcome::Succeeded),
            action_id: Some("a1".into()),
            record_id: Some(r1.clone())
        })
        .await,
        vec![logs[0].id.clone()]
    );

    let page = store
        .list_action_logs(
            &acc,
            &wf,
            &ActionLogFilter {
                outcome: Some(Outcome::Skipped),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    let got = &page.results[0];
    assert_eq!(
        (
            &got.id,
            got.reason_code,
            got.reason.as_deref(),
            &got.enrollment_id,
            got.at
        ),
        (
            &skipped.id,
            Some(ReasonCode::QuietHours),
            Some("quiet hours"),
            &skipped.enrollment_id,
            t0()
        )
    );
    let other = account(store).await;
    assert!(store
        .list_action_logs(&other, &wf, &ActionLogFilter::default(), None, 10)
        .await
        .unwrap()
        .results
        .is_empty());
}

async fn timeline_lists_a_records_engagements_in_order(store: &Store) {
    let acc = account(store).await;
    let rec = RecordId::generate();
    let engagement = |i: i64, record: &RecordId| EngagementRow {
        id: EngagementId::generate(),
        account_id: acc.clone(),
        record_id: record.clone(),
        kind: if i % 2 == 0 {
            "sms_sent"
        } else {
            "sms_received"
        }
        .to_string(),
        message_id: Some(MessageId::generate()),
        body: format!("message {i}"),
        at: t0() + Duration::seconds(i),
    };
    let mine: Vec<EngagementRow> = (0..5).map(|i| engagement(i, &rec)).collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_engagements(&mine).await.unwrap();
    tx.insert_engagements(&[engagement(9, &RecordId::generate())])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let first = store.timeline(&acc, &rec, None, 3).await.unwrap();
    let rest = store
        .timeline(&acc, &rec, first.next_cursor.as_deref(), 3)
        .await
        .unwrap();
    assert!(rest.next_cursor.is_none());
    let seen: Vec<EngagementId> = first
        .results
        .iter()
        .chain(&rest.results)
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(
        seen,
        sorted(&mine.iter().map(|e| e.id.clone()).collect::<Vec<_>>())
    );
    let e = first
        .results
        .iter()
        .chain(&rest.results)
        .find(|e| e.id == mine[1].id)
        .unwrap();
    assert_eq!(
        (e.kind.as_str(), e.body.as_str(), e.at, &e.message_id),
        ("sms_received", "message 1", mine[1].at, &mine[1].message_id)
    );
}

// ------------------------------------------- provider connections (R3, R11)

fn connection(account: &AccountId, kind: &str) -> ConnectionRow {
    ConnectionRow {
        id: format!(
            "prv_{}",
            NumberId::generate().as_str().trim_start_matches("num_")
        ),
        account_id: account.clone(),
        kind: kind.to_string(),
        name: "Aircall".to_string(),
        config: json!({"api_id": "id", "api_token": "secret"}),
        created_at: t0(),
    }
}

fn synced_user(id: &str, name: &str) -> SyncedUser {
    SyncedUser {
        external_id: id.to_string(),
        name: name.to_string(),
        email: format!("{}@example.com", name.to_lowercase()),
    }
}

fn synced_number(id: &str, e164: &str, users: &[&str]) -> SyncedNumber {
    SyncedNumber {
        external_id: id.to_string(),
        e164: E164::from_trusted(e164.to_string()),
        label: format!("Line {id}"),
        sms: true,
        user_external_ids: users.iter().map(|u| u.to_string()).collect(),
    }
}

async fn sync(
    store: &Store,
    account: &AccountId,
    provider: &str,
    numbers: &[SyncedNumber],
    users: &[SyncedUser],
) -> smsflow_store::SyncReport {
    let mut tx = store.begin().await.unwrap();
    let report = tx
        .sync_directory(
            account,
            &DirectorySync {
                provider,
                numbers,
                users,
                throughput: 10,
                at: t0(),
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    report
}

/// The account's numbers as (e164, external id, sms, linked user names).
async fn directory_view(
    store: &Store,
    account: &AccountId,
) -> Vec<(String, Option<String>, bool, Vec<String>)> {
    let mut out = Vec::new();
    for n in store.list_numbers(account).await.unwrap() {
        let mut names = Vec::new();
        for u in &n.user_ids {
            names.push(store.get_user(account, u).await.unwrap().name);
        }
        names.sort();
        out.push((n.e164.to_string(), n.external_id.clone(), n.sms, names));
    }
    out.sort();
    out
}

async fn connections_are_created_in_a_transaction_and_updated_in_place(store: &Store) {
    let acc = account(store).await;
    let other = account(store).await;
    let c = connection(&acc, "aircall");
    let mut tx = store.begin().await.unwrap();
    tx.create_connection(&c).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(matches!(
        store.get_connection(&acc, &c.id).await,
        Err(StoreError::NotFound)
    ));
    let mut tx = store.begin().await.unwrap();
    tx.create_connection(&c).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.get_connection(&acc, &c.id).await.unwrap(), c);

    let mut changed = c.clone();
    changed.name = "Aircall EU".to_string();
    changed.config["webhook_token"] = json!("hook");
    store.update_connection(&changed).await.unwrap();
    assert_eq!(store.get_connection(&acc, &c.id).await.unwrap(), changed);
    let mut foreign = changed.clone();
    foreign.account_id = other.clone();
    assert!(matches!(
        store.update_connection(&foreign).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_connection(&other, &c.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn r3_a_directory_sync_creates_numbers_users_and_links_once(store: &Store) {
    let acc = account(store).await;
    let users = [synced_user("1", "Ada"), synced_user("2", "Bob")];
    let numbers = [
        synced_number("101", "+14155550100", &["1"]),
        synced_number("102", "+14155550102", &["1", "2", "99"]),
    ];
    let first = sync(store, &acc, "prv_a", &numbers, &users).await;
    assert_eq!(
        first.numbers,
        SyncCounts {
            created: 2,
            ..Default::default()
        }
    );
    assert_eq!(
        first.users,
        SyncCounts {
            created: 2,
            ..Default::default()
        }
    );
    let expected = vec![
        (
            "+14155550100".to_string(),
            Some("101".to_string()),
            true,
            vec!["Ada".to_string()],
        ),
        (
            "+14155550102".to_string(),
            Some("102".to_string()),
            true,
            vec!["Ada".to_string(), "Bob".to_string()],
        ),
    ];
    assert_eq!(directory_view(store, &acc).await, expected);
    let numbers_now = store.list_numbers(&acc).await.unwrap();
    assert!(numbers_now
        .iter()
        .all(|n| n.provider == "prv_a" && n.voice && !n.mms && n.throughput == 10));
    let listed = store.list_users(&acc, None, 100).await.unwrap().results;
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|u| u.provider.as_deref() == Some("prv_a") && u.external_id.is_some()));

    // The same lists again: nothing is created, nothing changes.
    let second = sync(store, &acc, "prv_a", &numbers, &users).await;
    assert_eq!(
        second.numbers,
        SyncCounts {
            unchanged: 2,
            ..Default::default()
        }
    );
    assert_eq!(
        second.users,
        SyncCounts {
            unchanged: 2,
            ..Default::default()
        }
    );
    assert_eq!(directory_view(store, &acc).await, expected);
    assert_eq!(
        store.list_users(&acc, None, 100).await.unwrap().results,
        listed
    );

    // A sync that fails midway leaves nothing behind.
    let mut tx = store.begin().await.unwrap();
    tx.sync_directory(
        &acc,
        &DirectorySync {
            provider: "prv_a",
            numbers: &[synced_number("103", "+14155550103", &["1"])],
            users: &users,
            throughput: 10,
            at: t0(),
        },
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(directory_view(store, &acc).await, expected);

    // Another account syncing the same provider ids gets its own rows.
    let other = account(store).await;
    let report = sync(store, &other, "prv_b", &numbers, &users).await;
    assert_eq!(report.numbers.created, 2);
    assert_eq!(directory_view(store, &acc).await, expected);
}

async fn r3_a_resync_follows_the_provider_and_keeps_what_messages_reference(store: &Store) {
    let acc = account(store).await;
    // Before any sync: a number on another provider, one added by hand on
    // this connection, and a local user linked by hand.
    let local = user("local");
    store.create_user(&acc, &local).await.unwrap();
    let twilio = number("+14155550109", Vec::new());
    store.create_number(&acc, &twilio).await.unwrap();
    let mut by_hand = number("+14155550100", Vec::new());
    by_hand.provider = "prv_a".to_string();
    store.create_number(&acc, &by_hand).await.unwrap();

    let users = [synced_user("1", "Ada"), synced_user("2", "Bob")];
    let first = sync(
        store,
        &acc,
        "prv_a",
        &[
            synced_number("101", "+14155550100", &["1"]),
            synced_number("102", "+14155550102", &["2"]),
            synced_number("109", "+14155550109", &["1"]),
        ],
        &users,
    )
    .await;
    assert_eq!((first.numbers.created, first.numbers.updated), (1, 1));
    assert_eq!(first.skipped.len(), 1, "{:?}", first.skipped);
    assert_eq!(first.skipped[0].external_id, "109");
    assert!(
        first.skipped[0].reason.contains("twilio"),
        "{:?}",
        first.skipped
    );
    let adopted = store.get_number(&acc, &by_hand.id).await.unwrap();
    assert_eq!(adopted.external_id.as_deref(), Some("101"));
    let n102 = store
        .list_numbers(&acc)
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.external_id.as_deref() == Some("102"))
        .unwrap();
    // An admin links the local user to an Aircall number.
    let mut links = n102.user_ids.clone();
    links.push(local.id.clone());
    store
        .set_number_users(&acc, &n102.id, &sorted(&links))
        .await
        .unwrap();

    // At the provider: Bob renamed and moved to 101, Ada leaves the
    // company, 102 is released.
    let second = sync(
        store,
        &acc,
        "prv_a",
        &[synced_number("101", "+14155550100", &["2"])],
        &[SyncedUser {
            name: "Robert".to_string(),
            ..synced_user("2", "Bob")
        }],
    )
    .await;
    assert_eq!(
        second.numbers,
        SyncCounts {
            updated: 1,
            gone: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        second.users,
        SyncCounts {
            updated: 1,
            gone: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        directory_view(store, &acc).await,
        vec![
            (
                "+14155550100".to_string(),
                Some("101".to_string()),
                true,
                vec!["Robert".to_string()]
            ),
            // Gone: kept, not SMS-capable, only the hand-made link left.
            (
                "+14155550102".to_string(),
                Some("102".to_string()),
                false,
                vec!["local".to_string()]
            ),
            ("+14155550109".to_string(), None, true, vec![]),
        ]
    );
    // Ada is kept (messages may name her) without links.
    assert_eq!(
        store
            .list_users(&acc, None, 100)
            .await
            .unwrap()
            .results
            .len(),
        3
    );

    // 102 comes back: SMS-capable again, links restored.
    let third = sync(
        store,
        &acc,
        "prv_a",
        &[
            synced_number("101", "+14155550100", &["2"]),
            synced_number("102", "+14155550102", &["2"]),
        ],
        &[synced_user("2", "Robert")],
    )
    .await;
    assert_eq!((third.numbers.updated, third.numbers.unchanged), (1, 1));
    let back = store.get_number(&acc, &n102.id).await.unwrap();
    assert!(back.sms);
    assert_eq!(back.user_ids.len(), 2, "Robert and the hand-made link");

    // A provider id that now names another phone number retires the old row.
    let fourth = sync(
        store,
        &acc,
        "prv_a",
        &[
            synced_number("101", "+14155550100", &["2"]),
            synced_number("102", "+14155550103", &["2"]),
        ],
        &[synced_user("2", "Robert")],
    )
    .await;
    assert_eq!((fourth.numbers.created, fourth.numbers.gone), (1, 1));
    let retired = store.get_number(&acc, &n102.id).await.unwrap();
    assert_eq!((retired.external_id, retired.sms), (None, false));
}

async fn r11_a_provider_bucket_grants_a_request_only_once_its_slot_has_come(store: &Store) {
    let provider = |key: &str| PaceDemand {
        buckets: vec![(
            PaceBucket {
                key: key.to_string(),
                cost_us: 1_000_000,
                lookahead_us: 0,
            },
            1,
        )],
    };
    // Three requests at once on a 60-a-minute bucket: one now, the next
    // exactly a second later (not before), then a second after that.
    let grants = store
        .reserve_pace(&[provider("p"), provider("p"), provider("p")], t0())
        .await
        .unwrap();
    assert_eq!(
        grants,
        vec![
            None,
            Some(t0() + Duration::seconds(1)),
            Some(t0() + Duration::seconds(1))
        ]
    );
    let just_before = t0() + Duration::milliseconds(999);
    assert_eq!(
        store
            .reserve_pace(&[provider("p")], just_before)
            .await
            .unwrap(),
        vec![Some(t0() + Duration::seconds(1))]
    );
    let at_slot = t0() + Duration::seconds(1);
    assert_eq!(
        store
            .reserve_pace(&[provider("p"), provider("p")], at_slot)
            .await
            .unwrap(),
        vec![None, Some(t0() + Duration::seconds(2))]
    );

    // A number's bucket still looks a second ahead: at 2 segments a second,
    // the two whose slots fall within the coming second go out now.
    let number = PaceDemand {
        buckets: vec![(
            PaceBucket {
                key: "n".to_string(),
                cost_us: 500_000,
                lookahead_us: 1_000_000,
            },
            1,
        )],
    };
    let grants = store
        .reserve_pace(&[number.clone(), number.clone(), number.clone()], t0())
        .await
        .unwrap();
    assert_eq!(grants[..2], [None, None]);
    assert!(grants[2].is_some());

    // Requests made outside the dispatcher (a directory sync) are charged:
    // the next request waits for them.
    store.charge_pace("q", 3_000_000, t0()).await.unwrap();
    assert_eq!(
        store.reserve_pace(&[provider("q")], t0()).await.unwrap(),
        vec![Some(t0() + Duration::seconds(3))]
    );
    store
        .charge_pace("q", 2_000_000, t0() + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        store
            .reserve_pace(&[provider("q")], t0() + Duration::seconds(3))
            .await
            .unwrap(),
        vec![Some(t0() + Duration::seconds(5))]
    );
    assert_eq!(
        store
            .reserve_pace(&[provider("q")], t0() + Duration::seconds(5))
            .await
            .unwrap(),
        vec![None]
    );
}

async fn r24_the_phone_index_keeps_each_numbers_line_for_the_dry_run(store: &Store) {
    use smsflow_core::phone::LineKind;
    let acc = account(store).await;
    let other = account(store).await;
    let mobile = E164::parse("+49 151 23456789", None).unwrap();
    let landline = E164::parse("+49 30 1234567", None).unwrap();
    let unparsed = E164::from_trusted("+14155550100".to_string());
    let (a, b, c) = (
        RecordId::generate(),
        RecordId::generate(),
        RecordId::generate(),
    );
    let mut tx = store.begin().await.unwrap();
    tx.set_record_phones(
        &acc,
        &[
            (
                a.clone(),
                ObjectType::Contact,
                vec![mobile.clone(), landline.clone()],
            ),
            (b.clone(), ObjectType::Contact, vec![unparsed]),
        ],
    )
    .await
    .unwrap();
    tx.set_record_phones(
        &other,
        &[(c.clone(), ObjectType::Contact, vec![mobile.clone()])],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut found = store
        .validated_phones(
            &acc,
            ObjectType::Contact,
            &[a.clone(), b.clone(), c.clone()],
        )
        .await
        .unwrap();
    found.sort();
    assert_eq!(
        found,
        vec![mobile.clone(), landline.clone()],
        "b has no line, c is another account's"
    );
    let lines: Vec<_> = found
        .iter()
        .map(|p| p.line().map(|l| (l.calling_code, l.kind)))
        .collect();
    assert_eq!(
        lines,
        vec![
            Some((49, LineKind::Mobile)),
            Some((49, LineKind::FixedLine))
        ]
    );

    // Rewriting a record's phones replaces its entries.
    let mut tx = store.begin().await.unwrap();
    tx.set_record_phones(
        &acc,
        &[(a.clone(), ObjectType::Contact, vec![landline.clone()])],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .validated_phones(&acc, ObjectType::Contact, std::slice::from_ref(&a))
            .await
            .unwrap(),
        vec![landline]
    );
}

/// `add_record_phones` is for records just created: it writes their
/// entries and touches no other record's, and writing an entry already
/// there is not an error.
async fn the_phone_index_of_new_records_is_added_beside_the_entries_already_there(store: &Store) {
    let acc = account(store).await;
    let mobile = E164::parse("+49 151 23456789", None).unwrap();
    let landline = E164::parse("+49 30 1234567", None).unwrap();
    let (old, new) = (RecordId::generate(), RecordId::generate());
    let mut tx = store.begin().await.unwrap();
    tx.set_record_phones(
        &acc,
        &[(old.clone(), ObjectType::Contact, vec![mobile.clone()])],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let added = [(
        new.clone(),
        ObjectType::Contact,
        vec![mobile.clone(), landline.clone()],
    )];
    tx.add_record_phones(&acc, &added).await.unwrap();
    tx.add_record_phones(&acc, &added).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        store.records_with_phone(&acc, &mobile, None).await.unwrap(),
        {
            let mut both = vec![old.clone(), new.clone()];
            both.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            both
        },
        "the older record keeps its entry"
    );
    assert_eq!(
        store
            .records_with_phone(&acc, &landline, Some(ObjectType::Contact))
            .await
            .unwrap(),
        vec![new]
    );
}

/// Pages are folded into one JSON document by the database (and spliced
/// as text on SQLite): every kind of stored value must come back as it was
/// written, whatever its quoting, nesting or size.
async fn a_page_of_records_returns_every_value_exactly_as_stored(store: &Store) {
    let acc = account(store).await;
    let mut tricky = record(
        ObjectType::Deal,
        json!({
            "name": "Quote \"x\", back\\slash, tab\t, newline\n, ä ö ü 漢字 🚀",
            "amount": 1234567890123_i64,
            "ratio": 0.125,
            "vip": false,
            "missing": null,
            "tags": ["a", "b", {"nested": [1, 2, 3]}],
            "empty": "",
        }),
    );
    let contact = record(ObjectType::Contact, json!({}));
    tricky.associations = vec![smsflow_core::object::Association {
        object_type: ObjectType::Contact,
        id: contact.id.clone(),
    }];
    tricky.updated_at = t0() + Duration::milliseconds(1234);
    let plain = record(ObjectType::Deal, json!({ "amount": 1 }));
    upsert(store, &acc, &[tricky.clone(), plain.clone()]).await;

    let page = store
        .list_records(&acc, ObjectType::Deal, None, 10)
        .await
        .unwrap();
    let mut expected = vec![tricky.clone(), plain.clone()];
    expected.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert_eq!(page.results, expected);
    assert_eq!(page.next_cursor, None);

    let last = expected.last().unwrap().id.as_str();
    let scanned = store
        .dry_run_page(&acc, ObjectType::Deal, None, None, last)
        .await
        .unwrap();
    let records: Vec<Record> = scanned.into_iter().map(|s| s.record).collect();
    assert_eq!(records, expected);

    // An account or type without records gives an empty last page.
    let none = store
        .list_records(&acc, ObjectType::Ticket, None, 10)
        .await
        .unwrap();
    assert!(none.results.is_empty() && none.next_cursor.is_none());
}

async fn r24_a_dry_run_page_carries_each_records_validated_phones_and_enrollments(store: &Store) {
    let acc = account(store).await;
    let other = account(store).await;
    let mobile = E164::parse("+49 151 23456789", None).unwrap();
    let landline = E164::parse("+49 30 1234567", None).unwrap();
    let unparsed = E164::from_trusted("+14155550100".to_string());
    // Five contacts in id order: two phones, one phone, an unvalidated
    // phone, none, and one enrolled twice.
    let mut contacts: Vec<Record> = (0..5)
        .map(|i| record(ObjectType::Contact, json!({ "i": i })))
        .collect();
    contacts.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    upsert(store, &acc, &contacts).await;
    upsert(
        store,
        &other,
        &[record(ObjectType::Contact, json!({ "i": 99 }))],
    )
    .await;
    let ids: Vec<RecordId> = contacts.iter().map(|r| r.id.clone()).collect();
    let mut tx = store.begin().await.unwrap();
    tx.set_record_phones(
        &acc,
        &[
            (
                ids[0].clone(),
                ObjectType::Contact,
                vec![mobile.clone(), landline.clone()],
            ),
            (ids[1].clone(), ObjectType::Contact, vec![mobile.clone()]),
            (ids[2].clone(), ObjectType::Contact, vec![unparsed]),
            // Between the ids of the contacts: phones of no record, and of
            // a company; neither belongs to a contact of the page.
            (
                RecordId::from_string(format!("{}x", ids[1])),
                ObjectType::Contact,
                vec![landline.clone()],
            ),
            (
                RecordId::from_string(format!("{}x", ids[2])),
                ObjectType::Company,
                vec![mobile.clone()],
            ),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let w = workflow("dry run");
    store.insert_workflow(&acc, &w).await.unwrap();
    store.publish_workflow(&acc, &w, t0()).await.unwrap();
    let elsewhere = workflow("another");
    store.insert_workflow(&acc, &elsewhere).await.unwrap();
    store
        .publish_workflow(&acc, &elsewhere, t0())
        .await
        .unwrap();
    assert!(
        !store.has_enrollments(&acc, &w.id).await.unwrap(),
        "nothing enrolled yet"
    );
    let enrollment = |wf: &WorkflowId, rec: &RecordId| NewEnrollment {
        id: EnrollmentId::generate(),
        account_id: acc.clone(),
        workflow_id: wf.clone(),
        revision: 1,
        record_id: rec.clone(),
        at: t0(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_enrollments(&[
        enrollment(&w.id, &ids[0]),
        enrollment(&w.id, &ids[4]),
        enrollment(&w.id, &ids[4]),
        enrollment(&elsewhere.id, &ids[1]),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(store.has_enrollments(&acc, &w.id).await.unwrap());
    assert!(
        !store.has_enrollments(&other, &w.id).await.unwrap(),
        "another account's workflow id enrolls nothing here"
    );

    // Pages of two, cut by `record_page_end`: the size counts records, not
    // their phones, and the ranges cover every record once.
    let last = store
        .last_record_id(&acc, ObjectType::Contact)
        .await
        .unwrap();
    assert_eq!(last.as_deref(), Some(ids[4].as_str()));
    assert_eq!(
        store
            .last_record_id(&acc, ObjectType::Ticket)
            .await
            .unwrap(),
        None
    );
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    let mut ends = Vec::new();
    loop {
        let end = store
            .record_page_end(&acc, ObjectType::Contact, after.as_deref(), 2)
            .await
            .unwrap();
        ends.push(end.clone());
        let until = end.clone().or_else(|| last.clone()).unwrap();
        let page = store
            .dry_run_page(
                &acc,
                ObjectType::Contact,
                Some(&w.id),
                after.as_deref(),
                &until,
            )
            .await
            .unwrap();
        assert!(page.len() <= 2);
        pages.extend(page);
        if Some(&until) == last.as_ref() {
            break;
        }
        after = Some(until);
    }
    assert_eq!(
        ends,
        vec![Some(ids[1].to_string()), Some(ids[3].to_string()), None],
        "the second and fourth ids end pages of two; one record is left after them"
    );
    let got: Vec<RecordId> = pages.iter().map(|s| s.record.id.clone()).collect();
    assert_eq!(got, ids, "every record of the account once, in id order");
    assert_eq!(pages[0].record, contacts[0]);
    let mut two = pages[0].validated.clone();
    two.sort();
    assert_eq!(two, vec![mobile.clone(), landline]);
    assert!(two.iter().all(|p| p.line().is_some()));
    assert_eq!(pages[1].validated, vec![mobile]);
    assert!(pages[2].validated.is_empty(), "stored without a line");
    assert!(pages[3].validated.is_empty());
    let states: Vec<usize> = pages.iter().map(|s| s.enrollments.len()).collect();
    assert_eq!(
        states,
        vec![1, 0, 0, 0, 2],
        "only this workflow's enrollments"
    );
    assert!(pages[4]
        .enrollments
        .iter()
        .all(|s| *s == EnrollmentState::Active));

    // An unsaved definition has no enrollments.
    let unsaved = store
        .dry_run_page(&acc, ObjectType::Contact, None, None, ids[4].as_str())
        .await
        .unwrap();
    assert_eq!(unsaved.len(), 5);
    assert!(unsaved.iter().all(|s| s.enrollments.is_empty()));
    // A range ends where it is told to, records after it notwithstanding.
    let first_two = store
        .dry_run_page(&acc, ObjectType::Contact, None, None, ids[1].as_str())
        .await
        .unwrap();
    assert_eq!(first_two.len(), 2);
    let tail = store
        .dry_run_page(
            &acc,
            ObjectType::Contact,
            None,
            Some(ids[1].as_str()),
            ids[4].as_str(),
        )
        .await
        .unwrap();
    let tail: Vec<&RecordId> = tail.iter().map(|s| &s.record.id).collect();
    assert_eq!(tail, ids[2..].iter().collect::<Vec<_>>());
}

/// On SQLite a claimed batch is read folded into one JSON row and then
/// leased by id; it must come back exactly as `UPDATE … RETURNING` gives it
/// on PostgreSQL: every stored value intact (quotes, unicode, nulls), the
/// claim's own changes applied, only what is due, and claimed once.
async fn a_claimed_batch_comes_back_exactly_as_stored_with_its_claim_applied(store: &Store) {
    let acc = account(store).await;
    let mut first = outbound(&acc, Some(t0() - Duration::seconds(2)));
    first.row.body = "Quote \"x\", back\\slash, newline\n, ä 漢字 🚀 {{ braces }}".to_string();
    first.row.encoding = Encoding::Ucs2;
    first.row.segments = 2;
    first.row.user_id = None;
    first.row.action_id = None;
    let second = outbound(&acc, Some(t0() - Duration::seconds(1)));
    let later = outbound(&acc, Some(t0() + Duration::hours(1)));
    insert_messages(store, &[second.clone(), first.clone(), later]).await;

    let claimed = store
        .claim_outbox("node-a", t0(), t0() + Duration::minutes(1), 10)
        .await
        .unwrap();
    let ids: Vec<MessageId> = claimed.iter().map(|m| m.row.id.clone()).collect();
    assert_eq!(
        sorted(&ids),
        sorted(&[first.row.id.clone(), second.row.id.clone()]),
        "the due ones"
    );
    let got = claimed
        .iter()
        .find(|m| m.row.id == first.row.id)
        .expect("the first message is claimed");
    let mut expected = first.row.clone();
    expected.status = MessageStatus::Sending;
    expected.attempts = 1;
    // MessageRow has no PartialEq; its Debug form shows every field.
    assert_eq!(format!("{:?}", got.row), format!("{expected:?}"));
    assert_eq!(got.account_id, acc);
    assert_eq!(got.counted_periods, first.counted_periods);
    assert!(store
        .claim_outbox("node-b", t0(), t0() + Duration::minutes(1), 10)
        .await
        .unwrap()
        .is_empty());

    let (_, _, enrollments) = enroll(store, &acc, 3, t0() - Duration::seconds(5)).await;
    let claimed = store
        .claim_due_enrollments("node-a", t0(), t0() + Duration::minutes(1), 2)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2, "the limit holds");
    for c in &claimed {
        assert!(enrollments.contains(&c.row.id));
        assert_eq!(c.account_id, acc);
        assert_eq!(c.row.attempts, 1);
        assert_eq!(c.row.state, EnrollmentState::Active);
        assert_eq!(c.row.due_at, Some(t0() - Duration::seconds(5)));
    }
    let rest = store
        .claim_due_enrollments("node-b", t0(), t0() + Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1, "each enrollment is claimed once");
}

async fn r24_the_dry_runs_consent_lookup_answers_every_row_of_the_phones_asked_and_no_other(
    store: &Store,
) {
    use smsflow_core::consent::{ConsentSource, ConsentStatus};
    use smsflow_store::ConsentChange;
    let acc = account(store).await;
    let other = account(store).await;
    let phone = |raw: &str| E164::parse(raw, None).unwrap();
    let (de, fi, us) = (
        phone("+49 151 23456789"),
        phone("+358 40 1234567"),
        phone("+1 415 555 0150"),
    );
    let change = |p: &E164, type_id: &str, status: ConsentStatus| ConsentChange {
        id: format!("cl_{}_{type_id}", p.as_str()),
        phone: p.clone(),
        subscription_type_id: type_id.to_string(),
        status,
        legal_basis: None,
        explanation: None,
        source: ConsentSource::Api,
        wording: None,
        record_id: None,
        message_id: None,
        at: t0(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.record_consents(
        &acc,
        &[
            change(&de, "*", ConsentStatus::Subscribed),
            change(&de, "sub_offers", ConsentStatus::Unsubscribed),
            change(&us, "sub_offers", ConsentStatus::Subscribed),
        ],
    )
    .await
    .unwrap();
    // The same phone in another account is not this account's consent.
    tx.record_consents(
        &other,
        &[change(&fi, "sub_offers", ConsentStatus::Unsubscribed)],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut found = store.consent_statuses(&acc, &[&de, &fi]).await.unwrap();
    found.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    assert_eq!(
        found,
        vec![
            (de.clone(), "*".to_string(), ConsentStatus::Subscribed),
            (
                de.clone(),
                "sub_offers".to_string(),
                ConsentStatus::Unsubscribed
            ),
        ],
        "every row of the phones asked about, `*` included; not another account's"
    );
    assert!(store.consent_statuses(&acc, &[]).await.unwrap().is_empty());
}

/// A hand-off slower than its lease: the reaper requeues the message, then
/// the hand-off commits. The message has left (the provider has it), so it
/// must not stay `queued` with no due time, taken by nobody (found by the
/// three-node kill -9 test on a slow box).
async fn r12_a_hand_off_committed_after_the_reaper_requeued_its_message_takes_it_out_of_the_outbox(
    store: &Store,
) {
    let acc = account(store).await;
    let lease = Duration::seconds(60);
    let m = sending(&acc);
    let mut tx = store.begin().await.unwrap();
    tx.insert_messages_leased(std::slice::from_ref(&m), "node-a", t0() + lease)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let after = t0() + lease + Duration::seconds(1);
    store
        .claim_stale_sending("node-b", after, after + lease, 10)
        .await
        .unwrap();
    assert!(store
        .requeue_stale(&m.row.id, "node-b", after)
        .await
        .unwrap());
    assert_eq!(
        store.get_message(&acc, &m.row.id).await.unwrap().status,
        MessageStatus::Queued
    );

    // node-a's hand-off, still in flight, now commits.
    let handed = after + Duration::seconds(1);
    let mut tx = store.begin().await.unwrap();
    tx.mark_handed_off(&m.row.id, "prov-1", MessageStatus::Sent, handed)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let shown = store.get_message(&acc, &m.row.id).await.unwrap();
    assert_eq!(shown.status, MessageStatus::Sent);
    assert_eq!(shown.handed_off_at, Some(handed));
    let later = handed + lease * 3;
    let claimed = store
        .claim_outbox("node-c", later, later + lease, 10)
        .await
        .unwrap();
    assert!(claimed.iter().all(|c| c.row.id != m.row.id), "{claimed:?}");
    let stale = store
        .claim_stale_sending("node-c", later, later + lease, 10)
        .await
        .unwrap();
    assert!(stale.iter().all(|c| c.row.id != m.row.id), "{stale:?}");

    // A status a webhook moved on is kept.
    let mut d = outbound(&acc, Some(t0()));
    d.row.status = MessageStatus::Delivered;
    let mut tx = store.begin().await.unwrap();
    tx.insert_messages(std::slice::from_ref(&d)).await.unwrap();
    tx.mark_handed_off(&d.row.id, "prov-2", MessageStatus::Sent, handed)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.get_message(&acc, &d.row.id).await.unwrap().status,
        MessageStatus::Delivered
    );
}

/// Whether `list`'s messages are stored, each.
async fn stored(store: &Store, account: &AccountId, list: &[NewMessage]) -> Vec<bool> {
    let mut out = Vec::new();
    for m in list {
        out.push(match store.get_message(account, &m.row.id).await {
            Ok(_) => true,
            Err(StoreError::NotFound) => false,
            Err(e) => panic!("{e}"),
        });
    }
    out
}

/// A write outside any transaction, then a transaction: neither may wait
/// on a writer left locked.
async fn assert_writer_is_free(store: &Store, account: &AccountId) {
    let again = outbound(account, Some(t0()));
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        self::account(store).await;
        insert_messages(store, std::slice::from_ref(&again)).await;
    })
    .await
    .expect("the writer is free again");
    assert_eq!(stored(store, account, &[again]).await, [true]);
}

async fn r25_a_transaction_dropped_before_commit_leaves_nothing_and_frees_the_writer(
    store: &Store,
) {
    let acc = account(store).await;
    let list: Vec<NewMessage> = (0..3).map(|_| outbound(&acc, Some(t0()))).collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_messages(&list).await.unwrap();
    drop(tx);
    assert_eq!(stored(store, &acc, &list).await, [false; 3]);
    assert_writer_is_free(store, &acc).await;
}

/// A step whose task is cancelled (a request dropped, a shutdown) while it
/// writes commits none of it, and the next writer gets in. Where the cut
/// falls depends on the backend: PostgreSQL's statements are awaited, so
/// it may fall mid-statement; SQLite's run to their end on the calling
/// thread, so it falls between them.
async fn r25_a_transaction_cancelled_while_it_writes_leaves_nothing_and_frees_the_writer(
    store: &Store,
) {
    let acc = account(store).await;
    let list: Vec<NewMessage> = (0..2_000).map(|_| outbound(&acc, Some(t0()))).collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_messages(&list[..1]).await.unwrap();
    let step = async {
        tx.insert_messages(&list[1..1_000]).await.unwrap();
        tx.insert_messages(&list[1_000..]).await.unwrap();
        // Still writing when the task is cancelled.
        std::future::pending::<()>().await;
    };
    let cut = tokio::time::timeout(std::time::Duration::from_micros(1), step).await;
    assert!(cut.is_err());
    drop(tx);
    let sample = [list[0].clone(), list[1].clone(), list[1_999].clone()];
    assert_eq!(stored(store, &acc, &sample).await, [false; 3]);
    assert_writer_is_free(store, &acc).await;
}

async fn a_unique_violation_inside_a_transaction_is_reported_as_one(store: &Store) {
    let acc = account(store).await;
    let m = outbound(&acc, Some(t0()));
    insert_messages(store, std::slice::from_ref(&m)).await;
    let mut tx = store.begin().await.unwrap();
    let err = tx
        .insert_messages(std::slice::from_ref(&m))
        .await
        .expect_err("the same id twice");
    assert!(err.is_unique_violation(), "{err:?}");
    drop(tx);
    assert_writer_is_free(store, &acc).await;
}
