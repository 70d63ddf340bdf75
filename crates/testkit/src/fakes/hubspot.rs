//! A fake HubSpot on a local port, for the "Send SMS" custom workflow action.
//!
//! Outgoing, it calls smsflow the way HubSpot calls an action's URLs: the
//! execution and options-fetch bodies of Automation Actions v4, signed with
//! the app's client secret — v3 (`X-HubSpot-Signature-v3`:
//! base64(HMAC-SHA256(secret, METHOD + URI + body + timestamp)) with
//! `X-HubSpot-Request-Timestamp` in ms) or v2 (`X-HubSpot-Signature`:
//! hex(SHA-256(secret + METHOD + URI + body)), version header `v2`). This
//! signer is written apart from the server's verifier on purpose.
//!
//! Incoming, it is HubSpot's API: it records every communication created
//! (`POST /crm/v3/objects/communications`, answered 201 with an id) and
//! every callback completion (`POST /automation/v4/actions/callbacks/{id}/complete`,
//! answered 204), every default association (`PUT /crm/v4/objects/
//! communications/{id}/associations/default/{type}/{record}`) and every
//! action definition registered (`POST /automation/v4/actions/{appId}`,
//! with a developer `hapikey` or a bearer token), with the credentials each
//! carried.

use crate::app::TestApp;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{post, put};
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The fake portal's id.
pub const PORTAL_ID: u64 = 102_670_506;
/// The fake app's client secret.
pub const CLIENT_SECRET: &str = "fake-hubspot-client-secret-5f0c";
/// The fake app's id.
pub const APP_ID: u64 = 4_242_424;
/// The token smsflow must use to write back.
pub const ACCESS_TOKEN: &str = "pat-na1-fake-hubspot-token";

/// How a call to smsflow is signed.
#[derive(Clone, Copy, Debug)]
pub enum Signing {
    /// v3 with this timestamp (Unix ms).
    V3 {
        timestamp_ms: i64,
    },
    V2,
    /// No signature headers.
    Unsigned,
    /// v3 made with a wrong secret.
    WrongSecret {
        timestamp_ms: i64,
    },
}

/// A write smsflow made to the fake API.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct FakeState {
    communications: Vec<Received>,
    completions: Vec<Received>,
    associations: Vec<Received>,
    definitions: Vec<Received>,
    /// Default-association calls still to answer with a 500.
    failing_associations: u32,
}

/// A running fake HubSpot.
pub struct FakeHubspot {
    /// Its API base URL (give it to smsflow as `api_base_url`).
    pub base_url: String,
    state: Arc<Mutex<FakeState>>,
    server: JoinHandle<()>,
}

impl Drop for FakeHubspot {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn communication(
    State(s): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut st = s.lock().expect("fake state");
    st.communications.push(Received {
        path: "/crm/v3/objects/communications".into(),
        authorization: auth,
        body: body.clone(),
    });
    let id = (st.communications.len() as u64 + 9_000_000).to_string();
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "properties": body["properties"]})),
    )
}

/// `PUT /crm/v4/objects/communications/{id}/associations/default/{toType}/{toId}`:
/// HubSpot's "associate records (default)", answered as a batch result.
async fn associate_default(
    State(s): State<Arc<Mutex<FakeState>>>,
    Path((id, to_type, to_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut st = s.lock().expect("fake state");
    if st.failing_associations > 0 {
        st.failing_associations -= 1;
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"status": "error", "message": "injected failure"})),
        );
    }
    let made = 9_000_001..=9_000_000 + st.communications.len() as u64;
    if !id.parse::<u64>().is_ok_and(|n| made.contains(&n)) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"status": "error", "message": format!("no communication {id}")})),
        );
    }
    st.associations.push(Received {
        path: format!("/crm/v4/objects/communications/{id}/associations/default/{to_type}/{to_id}"),
        authorization: auth,
        body: Value::Null,
    });
    (
        StatusCode::OK,
        Json(json!({
            "status": "COMPLETE",
            "results": [{
                "from": {"id": id},
                "to": {"id": to_id},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 0},
            }],
        })),
    )
}

/// `POST /automation/v4/actions/{appId}`: checks what HubSpot requires of a
/// definition and answers it back with an id, as HubSpot does.
async fn register_definition(
    State(s): State<Arc<Mutex<FakeState>>>,
    Path(app_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let authorization = match (query.get("hapikey"), bearer) {
        (Some(k), _) => Some(format!("hapikey {k}")),
        (None, b) => b,
    };
    if authorization.is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": "error", "category": "INVALID_AUTHENTICATION"})),
        );
    }
    let missing: Vec<&str> = ["actionUrl", "objectTypes", "inputFields", "labels"]
        .into_iter()
        .filter(|f| body.get(*f).is_none())
        .collect();
    if !missing.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"status": "error", "category": "VALIDATION_ERROR", "message": format!("missing {missing:?}")}),
            ),
        );
    }
    let mut st = s.lock().expect("fake state");
    st.definitions.push(Received {
        path: format!("/automation/v4/actions/{app_id}"),
        authorization,
        body: body.clone(),
    });
    let mut answer = body;
    answer["id"] = json!((st.definitions.len() as u64 + 1_000).to_string());
    answer["revisionId"] = json!("1");
    (StatusCode::OK, Json(answer))
}

async fn complete(
    State(s): State<Arc<Mutex<FakeState>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.lock().expect("fake state").completions.push(Received {
        path: format!("/automation/v4/actions/callbacks/{id}/complete"),
        authorization: auth,
        body,
    });
    StatusCode::NO_CONTENT
}

/// base64(HMAC-SHA256(secret, METHOD + URI + body + timestamp)).
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    let mut message = Vec::new();
    message.extend_from_slice(method.as_bytes());
    message.extend_from_slice(uri.as_bytes());
    message.extend_from_slice(body);
    message.extend_from_slice(timestamp_ms.to_string().as_bytes());
    mac.update(&message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// hex(SHA-256(secret + METHOD + URI + body)).
pub fn sign_v2(secret: &str, method: &str, uri: &str, body: &[u8]) -> String {
    let mut message = Vec::new();
    message.extend_from_slice(secret.as_bytes());
    message.extend_from_slice(method.as_bytes());
    message.extend_from_slice(uri.as_bytes());
    message.extend_from_slice(body);
    hex::encode(Sha256::digest(&message))
}

impl FakeHubspot {
    /// Starts the fake API on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// If no local port can be bound.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route("/crm/v3/objects/communications", post(communication))
            .route(
                "/automation/v4/actions/callbacks/{id}/complete",
                post(complete),
            )
            .route(
                "/crm/v4/objects/communications/{id}/associations/default/{to_type}/{to_id}",
                put(associate_default),
            )
            .route("/automation/v4/actions/{app_id}", post(register_definition))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let base_url = format!("http://{}", listener.local_addr().expect("a bound address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake HubSpot runs");
        });
        Self {
            base_url,
            state,
            server,
        }
    }

    /// The body of `PUT /api/v1/integrations/hubspot` for this fake.
    pub fn connect_body(&self) -> Value {
        json!({
            "portal_id": PORTAL_ID,
            "client_secret": CLIENT_SECRET,
            "app_id": APP_ID,
            "access_token": ACCESS_TOKEN,
            "api_base_url": self.base_url,
        })
    }

    /// Communications smsflow created, in order.
    pub fn communications(&self) -> Vec<Received> {
        self.state
            .lock()
            .expect("fake state")
            .communications
            .clone()
    }

    /// Callback completions smsflow posted, in order.
    /// The action definitions registered, with `hapikey …` or `Bearer …`
    /// as `authorization`.
    pub fn definitions(&self) -> Vec<Received> {
        self.state.lock().expect("fake state").definitions.clone()
    }

    /// The default associations made (`PUT …/associations/default/…`).
    pub fn associations(&self) -> Vec<Received> {
        self.state.lock().expect("fake state").associations.clone()
    }

    /// Answers the next `n` association calls with a 500.
    pub fn fail_associations(&self, n: u32) {
        self.state.lock().expect("fake state").failing_associations = n;
    }

    pub fn completions(&self) -> Vec<Received> {
        self.state.lock().expect("fake state").completions.clone()
    }

    /// An execution request as HubSpot sends it to the action URL.
    pub fn execution(
        callback_id: &str,
        object_type: &str,
        object_id: u64,
        properties: Value,
        input_fields: Value,
    ) -> Value {
        json!({
            "callbackId": callback_id,
            "origin": {"portalId": PORTAL_ID, "actionDefinitionId": 10_860_211, "actionDefinitionVersion": 1},
            "context": {"source": "WORKFLOWS", "workflowId": 192_814_114},
            "object": {"objectId": object_id, "objectType": object_type, "properties": properties},
            "inputFields": input_fields,
        })
    }

    /// An options fetch for `field` as HubSpot sends it.
    pub fn options_fetch(
        field: &str,
        input_fields: Value,
        q: Option<&str>,
        after: Option<&str>,
    ) -> Value {
        let mut fetch = json!({});
        if let Some(q) = q {
            fetch["q"] = json!(q);
        }
        if let Some(a) = after {
            fetch["after"] = json!(a);
        }
        json!({
            "origin": {"portalId": PORTAL_ID, "actionDefinitionId": 10_860_211, "actionDefinitionVersion": 1},
            "objectTypeId": "0-1",
            "inputFieldName": field,
            "inputFields": input_fields,
            "fetchOptions": fetch,
        })
    }

    /// POSTs `body` to smsflow at `path`, signed as `signing` says for the
    /// URL HubSpot was given (smsflow's public URL + `path`); answers
    /// `(status, JSON body)`.
    ///
    /// # Panics
    ///
    /// If smsflow does not answer.
    pub async fn call(
        app: &TestApp,
        path: &str,
        body: &Value,
        signing: Signing,
    ) -> (reqwest::StatusCode, Value) {
        let raw = serde_json::to_vec(body).expect("JSON serialises");
        let signed_uri = format!("{}{}", app.engine.public_url().trim_end_matches('/'), path);
        let mut req = app
            .client
            .post(format!("{}{}", app.address, path))
            .header("content-type", "application/json");
        match signing {
            Signing::V3 { timestamp_ms } => {
                req = req
                    .header(
                        "X-HubSpot-Signature-v3",
                        sign_v3(CLIENT_SECRET, "POST", &signed_uri, &raw, timestamp_ms),
                    )
                    .header("X-HubSpot-Request-Timestamp", timestamp_ms.to_string());
            }
            Signing::WrongSecret { timestamp_ms } => {
                req = req
                    .header(
                        "X-HubSpot-Signature-v3",
                        sign_v3("not-the-secret", "POST", &signed_uri, &raw, timestamp_ms),
                    )
                    .header("X-HubSpot-Request-Timestamp", timestamp_ms.to_string());
            }
            Signing::V2 => {
                req = req
                    .header(
                        "X-HubSpot-Signature",
                        sign_v2(CLIENT_SECRET, "POST", &signed_uri, &raw),
                    )
                    .header("X-HubSpot-Signature-Version", "v2");
            }
            Signing::Unsigned => {}
        }
        let resp = req.body(raw).send().await.expect("smsflow answers");
        let status = resp.status();
        let text = resp.text().await.expect("read the answer");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}
