//! Bad input gets a clear 4xx JSON error naming the field and writes
//! nothing (R28); the REST conventions of DESIGN §5: 201 with the whole
//! resource, string ids, `{results, next_cursor}` lists with paging.

use crate::helpers::{assert_error, ids, validation_fields};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use smsflow_testkit::app::{spawn_app, welcome_workflow_json};
use smsflow_testkit::db::TestBackend;
use std::collections::BTreeSet;

smsflow_testkit::on_both_backends!(
    r28_malformed_json_gets_a_400_json_error,
    r28_unknown_or_mistyped_properties_get_422_naming_the_field_and_write_nothing,
    r28_a_body_over_2_mib_gets_413,
    r28_unknown_paths_methods_and_unreadable_urls_get_json_errors,
    r28_lists_answer_results_and_next_cursor_and_page_with_limit_and_after,
    records_are_listed_by_filter_in_id_order_and_page_with_the_cursor,
    a_bad_list_filter_gets_422_naming_the_condition,
    a_filtered_page_reads_a_bounded_number_of_records_and_says_where_to_go_on,
    r28_creating_answers_201_with_the_whole_resource_and_string_ids,
);

async fn r28_malformed_json_gets_a_400_json_error(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (number, user) = app.setup_sender(&acct).await;
    let wf = app
        .create_workflow(&acct, welcome_workflow_json(&number, &user, "Hi"))
        .await;
    let broken = b"{\"properties\": {\"firstname\": ".to_vec();
    for (method, path) in [
        (Method::POST, "/objects/contacts".to_string()),
        (Method::POST, "/workflows".to_string()),
        (Method::PUT, format!("/workflows/{wf}")),
        (Method::POST, format!("/workflows/{wf}/publish")),
        (Method::PUT, format!("/numbers/{number}/users")),
        (Method::POST, "/users".to_string()),
    ] {
        let (status, body) = app
            .request_raw(method.clone(), &path, Some(&acct.token), broken.clone())
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
        let _ = (method, path);
    }
    assert!(app.list(&acct, "/objects/contacts").await.is_empty());
    let (_, shown) = app.get(&acct, &format!("/workflows/{wf}")).await;
    assert_eq!(shown["state"], "draft");
}

async fn r28_unknown_or_mistyped_properties_get_422_naming_the_field_and_write_nothing(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (status, body) = app
        .post(
            &acct,
            "/objects/contacts",
            json!({"properties": {"firstname": "Ann", "x": 1}}),
        )
        .await;
    assert_eq!(
        validation_fields(status, &body),
        BTreeSet::from(["properties.x".to_string()]),
        "{body}"
    );

    let (status, body) = app
        .post(&acct, "/objects/contacts", json!({"properties": {"firstname": "Ann", "sms_opted_out": "maybe", "marketing_contact": [1]}}))
        .await;
    assert_eq!(
        validation_fields(status, &body),
        BTreeSet::from([
            "properties.sms_opted_out".to_string(),
            "properties.marketing_contact".to_string()
        ]),
        "{body}"
    );
    let (status, body) = app
        .post(
            &acct,
            "/objects/contacts",
            json!({"properties": {"firstname": "Ann"}, "colour": "red"}),
        )
        .await;
    assert_eq!(
        validation_fields(status, &body),
        BTreeSet::from(["colour".to_string()]),
        "{body}"
    );
    let (status, body) = app
        .post(&acct, "/objects/contacts", json!(["not", "an", "object"]))
        .await;
    assert_eq!(
        validation_fields(status, &body),
        BTreeSet::from(["body".to_string()]),
        "{body}"
    );
    assert!(
        app.list(&acct, "/objects/contacts").await.is_empty(),
        "a refused create wrote a record"
    );

    // A refused update leaves the record as it was.
    let c = app.contact(&acct, json!({"firstname": "Ann"})).await;
    let (_, before) = app.get(&acct, &format!("/objects/contacts/{c}")).await;
    let (status, body) = app
        .patch(
            &acct,
            &format!("/objects/contacts/{c}"),
            json!({"properties": {"lastname": "Lee", "x": 1}}),
        )
        .await;
    assert_eq!(
        validation_fields(status, &body),
        BTreeSet::from(["properties.x".to_string()]),
        "{body}"
    );
    assert_eq!(
        app.get(&acct, &format!("/objects/contacts/{c}")).await.1,
        before
    );

    // Other resources name their fields too.
    let (status, body) = app
        .post(
            &acct,
            "/numbers",
            json!({"e164": "not a phone", "capabilities": {"sms": "yes"}}),
        )
        .await;
    let fields = validation_fields(status, &body);
    assert!(
        fields.contains("e164") && fields.contains("capabilities"),
        "{body}"
    );
    let (status, body) = app.post(&acct, "/users", json!({"email": "nope"})).await;
    assert_eq!(
        validation_fields(status, &body),
        BTreeSet::from(["name".to_string(), "email".to_string()]),
        "{body}"
    );
}

async fn r28_a_body_over_2_mib_gets_413(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let (status, body) = app
        .post_announcing_body("/objects/contacts", &acct.token, 2 * 1024 * 1024 + 1)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert!(app.list(&acct, "/objects/contacts").await.is_empty());
    // Just under the limit is accepted by the size check (and then judged
    // on its content).
    let fine =
        serde_json::to_vec(&json!({"properties": {"firstname": "x".repeat(1024 * 1024)}})).unwrap();
    let (status, body) = app
        .request_raw(Method::POST, "/objects/contacts", Some(&acct.token), fine)
        .await;
    assert_ne!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

async fn r28_unknown_paths_methods_and_unreadable_urls_get_json_errors(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    for token in [Some(acct.token.as_str()), None] {
        let (status, body) = app
            .request(Method::GET, "/no-such-resource", token, None)
            .await;
        let error = assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(
            error["message"], "no endpoint GET /api/v1/no-such-resource",
            "{body}"
        );
    }
    let response = reqwest::Client::new()
        .delete(format!("{}/api/v1/workflows", app.address))
        .bearer_auth(&acct.token)
        .send()
        .await
        .expect("the test server answers");
    let allow = response.headers().get(reqwest::header::ALLOW).cloned();
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let allow = allow.expect("405 names the methods allowed");
    assert!(
        allow
            .to_str()
            .is_ok_and(|a| a.contains("GET") && a.contains("POST")),
        "{allow:?}"
    );
    // A path segment that is not UTF-8 is refused by axum's extractor.
    let (status, body) = app
        .request(Method::GET, "/messages/%FF", Some(&acct.token), None)
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("UTF-8")),
        "{body}"
    );
    // Outside /api/v1 (the webhooks' paths) too.
    let response = reqwest::Client::new()
        .get(format!("{}/webhooks/nothing-here", app.address))
        .send()
        .await
        .expect("the test server answers");
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

/// `/objects/contacts?filter=<groups>&…`, the filter URL-encoded.
fn filtered(filter: &Value, rest: &str) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut()
        .append_pair("filter", &filter.to_string());
    format!("/objects/contacts?{}{rest}", url.query().unwrap())
}

/// The ids of a list page, in the order given.
fn page_ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list page: {page}"))
        .iter()
        .map(|r| r["id"].as_str().expect("string id").to_string())
        .collect()
}

/// Every page of `path` (which has a query), following `next_cursor`.
async fn all_pages(
    app: &smsflow_testkit::app::TestApp,
    acct: &smsflow_testkit::app::TestAccount,
    path: &str,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = app.get(acct, &format!("{path}{after}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages.push(page_ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => after = format!("&after={c}"),
            None => return pages,
        }
    }
}

async fn records_are_listed_by_filter_in_id_order_and_page_with_the_cursor(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let mut leads = Vec::new();
    for i in 0..7 {
        let stage = if i % 2 == 0 { "lead" } else { "customer" };
        let id = app
            .contact(
                &acct,
                json!({"firstname": format!("C{i}"), "lifecyclestage": stage}),
            )
            .await;
        if stage == "lead" {
            leads.push(id);
        }
    }
    leads.sort();
    let lead = json!([[{"property": "lifecyclestage", "op": "eq", "value": "lead"}]]);
    let pages = all_pages(&app, &acct, &filtered(&lead, "&limit=3")).await;
    assert_eq!(pages[0].len(), 3, "{pages:?}");
    assert_eq!(pages.concat(), leads);
    // OR of groups, AND inside one; property names ignore case.
    let either = json!([
        [{"property": "FirstName", "op": "eq", "value": "C1"}],
        [{"property": "lifecyclestage", "op": "eq", "value": "lead"},
         {"property": "firstname", "op": "in", "value": ["C0", "C6"]}]
    ]);
    let (status, page) = app.get(&acct, &filtered(&either, "")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page_ids(&page).len(), 3, "{page}");
    assert!(page["next_cursor"].is_null(), "{page}");
}

async fn a_bad_list_filter_gets_422_naming_the_condition(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    for (filter, field) in [
        (json!("lead"), "filter"),
        (json!([]), "filter"),
        (
            json!([[{"property": "nope", "op": "eq", "value": 1}]]),
            "filter[0][0].property",
        ),
        (
            json!([[{"property": "firstname", "op": "near", "value": 1}]]),
            "filter[0][0].op",
        ),
        (
            json!([[{"property": "firstname", "op": "changed"}]]),
            "filter[0][0].op",
        ),
    ] {
        let (status, body) = app.get(&acct, &filtered(&filter, "")).await;
        assert_eq!(
            validation_fields(status, &body),
            BTreeSet::from([field.to_string()]),
            "{filter}: {body}"
        );
    }
    let (status, body) = app.get(&acct, "/objects/contacts?filter=%5B%5B").await;
    assert_eq!(
        validation_fields(status, &body),
        BTreeSet::from(["filter".to_string()]),
        "{body}"
    );
}

async fn a_filtered_page_reads_a_bounded_number_of_records_and_says_where_to_go_on(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let scan = smsflow_engine::FILTER_SCAN;
    for chunk in 0..scan.div_ceil(1000) {
        let inputs: Vec<Value> = (0..1000)
            .map(|i| json!({"properties": {"firstname": format!("N{chunk}-{i}")}}))
            .collect();
        let (status, body) = app
            .post(
                &acct,
                "/objects/contacts/batch",
                json!({ "inputs": inputs }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let needle = app.contact(&acct, json!({"firstname": "Needle"})).await;
    let filter = json!([[{"property": "firstname", "op": "eq", "value": "Needle"}]]);
    let pages = all_pages(&app, &acct, &filtered(&filter, "")).await;
    assert!(pages.len() >= 2, "one page read every record: {pages:?}");
    assert!(pages[0].is_empty(), "{pages:?}");
    assert_eq!(pages.concat(), vec![needle]);
}

async fn r28_lists_answer_results_and_next_cursor_and_page_with_limit_and_after(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let mut created = BTreeSet::new();
    for i in 0..5 {
        created.insert(
            app.contact(&acct, json!({"firstname": format!("C{i}")}))
                .await,
        );
    }
    let mut seen: Vec<String> = Vec::new();
    let mut path = "/objects/contacts?limit=2".to_string();
    let mut pages = 0;
    loop {
        let (status, page) = app.get(&acct, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let keys: BTreeSet<&str> = page
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["results", "next_cursor"]), "{page}");
        let results = page["results"].as_array().unwrap();
        assert!(results.len() <= 2, "{page}");
        seen.extend(ids(results));
        pages += 1;
        match &page["next_cursor"] {
            Value::Null => break,
            Value::String(c) => path = format!("/objects/contacts?limit=2&after={c}"),
            other => panic!("next_cursor must be null or a string, got {other}"),
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen.len(), 5, "every record exactly once: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created);
    assert_eq!(pages, 3);

    let (status, body) = app.get(&acct, "/objects/contacts?limit=0").await;
    assert_eq!(
        validation_fields(status, &body),
        BTreeSet::from(["limit".to_string()])
    );
    let (status, body) = app.get(&acct, "/objects/contacts?limit=abc").await;
    assert_eq!(
        validation_fields(status, &body),
        BTreeSet::from(["limit".to_string()])
    );
}

async fn r28_creating_answers_201_with_the_whole_resource_and_string_ids(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (status, account) = app
        .request(
            Method::POST,
            "/accounts",
            Some(&app.admin_token),
            Some(&json!({"name": "Acme", "default_country": "DE"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    for key in [
        "id",
        "name",
        "entitlements",
        "time_zone",
        "default_country",
        "limits",
        "quiet_hours",
        "token",
    ] {
        assert!(account.get(key).is_some(), "account lacks {key}: {account}");
    }
    assert!(account["id"].is_string() && account["token"].is_string());
    assert_eq!(account["default_country"], "DE");
    let acct = smsflow_testkit::app::TestAccount {
        id: account["id"].as_str().unwrap().into(),
        token: account["token"].as_str().unwrap().into(),
    };

    let (status, user) = app
        .post(
            &acct,
            "/users",
            json!({"name": "Ada", "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert!(user["id"].is_string());
    assert_eq!(
        (user["name"].clone(), user["email"].clone()),
        (json!("Ada"), json!("ada@example.com"))
    );

    let (status, number) = app
        .post(&acct, "/numbers", json!({"e164": "+4915112345670", "label": "Berlin", "capabilities": {"sms": true}, "user_ids": [user["id"]]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{number}");
    assert!(number["id"].is_string());
    assert_eq!(number["e164"], "+4915112345670");
    assert_eq!(number["provider"], "sandbox");
    assert_eq!(
        number["capabilities"],
        json!({"sms": true, "mms": false, "voice": false})
    );
    assert_eq!(number["user_ids"], json!([user["id"]]));
    let number_id = number["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&acct, &format!("/numbers/{number_id}")).await.1,
        number
    );

    // A national number is read with the account's default country (DE).
    let (status, contact) = app
        .post(
            &acct,
            "/objects/contacts",
            json!({"properties": {"firstname": "Aino", "mobilephone": "0151 23456789"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert!(contact["id"].is_string());
    assert_eq!(contact["type"], "contact");
    assert_eq!(
        contact["properties"],
        json!({"firstname": "Aino", "mobilephone": "0151 23456789"})
    );
    assert!(contact["created_at"].is_string() && contact["updated_at"].is_string());
    let contact_id = contact["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&acct, &format!("/objects/contacts/{contact_id}"))
            .await
            .1,
        contact
    );

    let user_id = user["id"].as_str().unwrap().to_string();
    let (status, wf) = app
        .post(
            &acct,
            "/workflows",
            welcome_workflow_json(&number_id, &user_id, "Hei {{ contact.firstname }}"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{wf}");
    assert!(wf["id"].is_string());
    assert_eq!(wf["state"], "draft");
    assert_eq!(wf["name"], "Welcome new leads");
    assert_eq!(wf["actions"][0]["body"], "Hei {{ contact.firstname }}");
    let wf_id = wf["id"].as_str().unwrap().to_string();
    assert_eq!(app.get(&acct, &format!("/workflows/{wf_id}")).await.1, wf);

    app.publish(&acct, &wf_id, true).await;
    app.update_contact(&acct, &contact_id, json!({"lifecyclestage": "lead"}))
        .await;
    app.drain().await;
    let outbox = app.outbox(&acct).await;
    assert_eq!(
        outbox.len(),
        1,
        "{:?}",
        app.action_logs(&acct, &wf_id).await
    );
    assert_eq!(outbox[0]["to"], "+4915123456789");
    assert_eq!(outbox[0]["body"], "Hei Aino");
    assert!(outbox[0]["id"].is_string());
}
