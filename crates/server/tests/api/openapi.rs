//! `GET /api/openapi.json` describes the REST API: every route it names is
//! served (none of them reaches the unknown-path or wrong-method answers),
//! the routes DESIGN §5 lists are in it, and it names the tokens.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use smsflow_testkit::app::spawn_app;
use smsflow_testkit::db::TestBackend;

smsflow_testkit::on_both_backends!(openapi_describes_every_route_it_serves_and_only_those);

async fn openapi_describes_every_route_it_serves_and_only_those(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acct = app.create_account(true).await;
    let response = app
        .client
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .expect("the test server answers");
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.expect("a JSON document");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    assert_eq!(doc["info"]["title"], "smsflow");
    let paths = doc["paths"].as_object().expect("paths");

    // DESIGN §5's routes are there, under /api/v1.
    for (path, method) in [
        ("/api/v1/objects/{object_type}", "get"),
        ("/api/v1/objects/{object_type}/batch", "post"),
        ("/api/v1/objects/{object_type}/{id}", "delete"),
        ("/api/v1/objects/{object_type}/{id}/timeline", "get"),
        ("/api/v1/workflows/{id}/publish", "post"),
        ("/api/v1/workflows/{id}/action-logs", "get"),
        ("/api/v1/options/users", "get"),
        ("/api/v1/numbers/{id}/users", "put"),
        ("/api/v1/consent/{e164}", "put"),
        ("/api/v1/conversations/{id}/messages", "post"),
        ("/api/v1/usage", "get"),
        ("/api/v1/sandbox/inbound", "post"),
        ("/api/v1/accounts", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let security = |path: &str, method: &str| paths[path][method]["security"][0].clone();
    assert!(security("/api/v1/accounts", "post")
        .get("admin_token")
        .is_some());
    assert!(security("/api/v1/workflows", "get")
        .get("account_token")
        .is_some());
    assert!(
        doc["components"]["schemas"].get("ErrorBody").is_some(),
        "{doc}"
    );
    assert_eq!(
        paths["/api/v1/usage"]["get"]["responses"]["4XX"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let listed = &paths["/api/v1/objects/{object_type}"]["get"]["parameters"];
    let names: Vec<&str> = listed
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["object_type", "limit", "after", "filter"] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }

    // Operation ids are unique (client generators name methods by them),
    // and every response has the description OpenAPI requires.
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("a path item") {
            let id = op["operationId"].as_str().expect("an operation id");
            assert!(ids.insert(id.to_string()), "{id} twice ({method} {path})");
            for (status, response) in op["responses"].as_object().expect("responses") {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }

    // Bodies are typed: every JSON request body and every 2xx JSON answer
    // names a schema of the document, never a bare "any value".
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let names_a_schema = |schema: &Value| {
        let reference = schema["$ref"].as_str().or_else(|| {
            schema["oneOf"]
                .as_array()
                .and_then(|alts| alts.iter().find_map(|s| s["$ref"].as_str()))
        });
        reference
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .is_some_and(|name| schemas.contains_key(name))
    };
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("a path item") {
            if let Some(body) = op.get("requestBody") {
                let schema = &body["content"]["application/json"]["schema"];
                assert!(
                    names_a_schema(schema),
                    "{method} {path} takes an untyped body: {schema}"
                );
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                if !status.starts_with('2') {
                    continue;
                }
                if let Some(content) = response.get("content") {
                    let schema = &content["application/json"]["schema"];
                    assert!(
                        names_a_schema(schema),
                        "{method} {path} {status} answers an untyped body: {schema}"
                    );
                }
            }
        }
    }
    let message = &schemas["Message"]["properties"];
    for field in [
        "id",
        "direction",
        "from",
        "to",
        "body",
        "status",
        "segments",
    ] {
        assert!(message.get(field).is_some(), "Message lacks {field}");
    }
    assert_eq!(
        schemas["Outcome"]["enum"],
        json!(["succeeded", "failed", "skipped", "deferred"])
    );

    // Every described route is served: asked with placeholder ids, none
    // gets the unknown-path or wrong-method answer.
    let mut asked = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("a path item").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let path = concrete.trim_start_matches("/api/v1");
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let (status, answer) = app
                .request(method.clone(), path, Some(&acct.token), body.as_ref())
                .await;
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND
                    && answer["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no endpoint")));
            assert!(
                !unrouted,
                "{method} {concrete} is described but not served: {answer}"
            );
            assert!(
                !status.is_server_error(),
                "{method} {concrete}: {status} {answer}"
            );
            asked += 1;
        }
    }
    assert!(asked >= 59, "only {asked} operations described");
}
