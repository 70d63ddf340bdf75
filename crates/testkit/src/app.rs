//! The whole application on a real socket, for HTTP integration tests.
//!
//! [`spawn_app`] starts the API on `127.0.0.1:0` over a fresh database of the
//! chosen backend, with a [`ManualClock`] that only moves when a test says
//! so and no background worker: a test decides when the engine works by
//! calling [`TestApp::drain`], so every assertion sees a settled state.
//! Request helpers answer `(status, JSON body)` and never panic on a 4xx, so
//! tests can assert on errors as strictly as on successes. They do panic
//! when an answer breaks the server's OpenAPI document (see
//! [`crate::contract`]): every exchange a test makes also checks that the
//! document describes what the server really answers.

use crate::contract::ApiContract;
use crate::db::{test_db, TestBackend, TestDb};
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use smsflow_core::clock::ManualClock;
use smsflow_engine::{Engine, EngineConfig, RunOutcome};
use smsflow_server::{router, AppState};
use smsflow_store::Store;
use std::sync::{Arc, OnceLock};
use tokio::task::JoinHandle;

/// The server admin token of every test app.
pub const ADMIN_TOKEN: &str = "sfa_test_admin_token";

/// The E.164 number [`TestApp::setup_sender`] connects.
pub const SENDER_E164: &str = "+14155550100";

/// Where every test app's clock starts: a Tuesday, 18:00 UTC — 11:00 in
/// San Francisco, 14:00 in New York, 19:00 in Berlin — inside the default
/// sending window (08:00–20:00 recipient time, R21) for US and German
/// numbers, and away from any day or month boundary.
pub fn start_instant() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 18, 0, 0)
        .single()
        .expect("a valid instant")
}

/// A running API with its database, clock and engine.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub engine: Engine,
    pub admin_token: String,
    pub backend: TestBackend,
    /// The server's OpenAPI document, which every answer is checked against.
    contract: &'static ApiContract,
    server: JoinHandle<()>,
    // Last, so the database outlives the server's connections' owner.
    _db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An account created through the admin API, with its API token.
#[derive(Clone, Debug)]
pub struct TestAccount {
    pub id: String,
    pub token: String,
}

/// Starts the API over a fresh, migrated database of `backend`.
///
/// # Panics
///
/// If the database, the store or the socket cannot be set up.
pub async fn spawn_app(backend: TestBackend) -> TestApp {
    let db = test_db(backend).await;
    let store = Store::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("connect and migrate the {backend} test database: {e}"));
    let clock = ManualClock::new(start_instant());
    let engine = Engine::new(store, Arc::new(clock.clone()), EngineConfig::default());
    let app = router(AppState::new(engine.clone(), ADMIN_TOKEN));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let address = format!("http://{}", listener.local_addr().expect("a bound address"));
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the test server runs");
    });
    let client = reqwest::Client::new();
    let contract = api_contract(&client, &address).await;
    TestApp {
        address,
        client,
        clock,
        engine,
        admin_token: ADMIN_TOKEN.to_string(),
        backend,
        contract,
        server,
        _db: db,
    }
}

/// The OpenAPI document of the app at `address`, fetched once per test
/// binary: every app serves the same one. Apps spawned at the same time
/// may each fetch it; the first to finish is kept.
async fn api_contract(client: &reqwest::Client, address: &str) -> &'static ApiContract {
    static CONTRACT: OnceLock<ApiContract> = OnceLock::new();
    if let Some(contract) = CONTRACT.get() {
        return contract;
    }
    let doc: Value = client
        .get(format!("{address}/api/openapi.json"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("the test server serves its OpenAPI document")
        .json()
        .await
        .expect("the OpenAPI document is JSON");
    let _ = CONTRACT.set(ApiContract::new(&doc));
    CONTRACT.get().expect("the contract was just set")
}

/// A workflow condition `{property, op, value}`.
pub fn cond(property: &str, op: &str, value: Value) -> Value {
    if value.is_null() {
        json!({"property": property, "op": op})
    } else {
        json!({"property": property, "op": op, "value": value})
    }
}

/// An inline send-SMS action to `mobilephone`, falling back to `phone`.
pub fn send_action(id: &str, number_id: &str, user_id: &str, body: &str) -> Value {
    json!({
        "id": id,
        "type": "send_sms",
        "from_number_id": number_id,
        "sender_user_id": user_id,
        "recipient_property": "mobilephone",
        "fallback_property": "phone",
        "body": body,
    })
}

/// A contact workflow that enrolls leads (`lifecyclestage = lead`), skips
/// contacts that opted out of SMS, and sends them `body` from the given
/// number and user.
pub fn welcome_workflow_json(number_id: &str, user_id: &str, body: &str) -> Value {
    json!({
        "name": "Welcome new leads",
        "object_type": "contact",
        "enrollment": {
            "filters": [[cond("lifecyclestage", "eq", json!("lead"))]],
            "reenroll_on": [],
        },
        "suppression": [[cond("sms_opted_out", "eq", json!(true))]],
        "actions": [send_action("welcome", number_id, user_id, body)],
    })
}

impl TestApp {
    /// `/api/v1{path}` with an optional bearer token and JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let path = format!("/api/v1{path}");
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let (status, answer) =
            Self::answer(req.send().await.expect("the test server answers")).await;
        self.checked(&method, &path, status, body, answer)
    }

    /// `/api/v1{path}` with raw bytes as a JSON-typed body.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let path = format!("/api/v1{path}");
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.address))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, answer) =
            Self::answer(req.send().await.expect("the test server answers")).await;
        // Only a body the server accepted is held to the request schema.
        let sent = status
            .is_success()
            .then(|| serde_json::from_slice::<Value>(&body).ok())
            .flatten();
        self.checked(&method, &path, status, sent.as_ref(), answer)
    }

    /// Checks an exchange against the OpenAPI document (`answer` is `None`
    /// when the response had no body: its status is checked, not its
    /// body), and answers `(status, body)` with `Null` for no body.
    ///
    /// # Panics
    ///
    /// If the document does not describe the exchange.
    fn checked(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        sent: Option<&Value>,
        answer: Option<Value>,
    ) -> (StatusCode, Value) {
        if let Err(violation) =
            self.contract
                .check_exchange(method, path, status.as_u16(), sent, answer.as_ref())
        {
            panic!("{violation}");
        }
        (status, answer.unwrap_or(Value::Null))
    }

    /// Sends the head of a POST announcing a body of `content_length`
    /// bytes, and reads the answer before sending any of it. A server that
    /// refuses a body by its size answers at once and closes without
    /// reading it; a client still writing that body meets a reset and
    /// loses the answer (reqwest reports a broken pipe), so a test of the
    /// refusal cannot send the body and reliably see the status.
    pub async fn post_announcing_body(
        &self,
        path: &str,
        token: &str,
        content_length: usize,
    ) -> (StatusCode, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.address.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(host)
            .await
            .expect("the test server accepts a connection");
        let head = format!(
            "POST /api/v1{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
        );
        stream
            .write_all(head.as_bytes())
            .await
            .expect("the head is sent");
        let mut raw = Vec::new();
        let read = async {
            let mut buf = [0u8; 4096];
            loop {
                let n = stream.read(&mut buf).await.expect("read the answer");
                raw.extend_from_slice(&buf[..n]);
                if n == 0 || Self::complete_answer(&raw).is_some() {
                    return;
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("the server answers before the body is sent");
        let (status, body) = Self::complete_answer(&raw).expect("a whole HTTP answer");
        let body = (!body.is_empty()).then(|| {
            serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
        });
        self.checked(&Method::POST, &format!("/api/v1{path}"), status, None, body)
    }

    /// The status and body of an HTTP/1.1 answer with a `Content-Length`,
    /// once all of it is in `raw`.
    fn complete_answer(raw: &[u8]) -> Option<(StatusCode, &[u8])> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let body = raw.get(end + 4..end + 4 + length)?;
        Some((StatusCode::from_u16(status).ok()?, body))
    }

    /// The status and the body as JSON (`None` when empty, a JSON string
    /// when the body is not JSON, so a test can show what came instead).
    async fn answer(resp: reqwest::Response) -> (StatusCode, Option<Value>) {
        let status = resp.status();
        let text = resp.text().await.expect("read the response body");
        let body =
            (!text.is_empty()).then(|| serde_json::from_str(&text).unwrap_or(Value::String(text)));
        (status, body)
    }

    pub async fn get(&self, acct: &TestAccount, path: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, Some(&acct.token), None)
            .await
    }

    pub async fn post(&self, acct: &TestAccount, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(&acct.token), Some(&body))
            .await
    }

    pub async fn put(&self, acct: &TestAccount, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::PUT, path, Some(&acct.token), Some(&body))
            .await
    }

    pub async fn patch(&self, acct: &TestAccount, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::PATCH, path, Some(&acct.token), Some(&body))
            .await
    }

    pub async fn delete(&self, acct: &TestAccount, path: &str) -> (StatusCode, Value) {
        self.request(Method::DELETE, path, Some(&acct.token), None)
            .await
    }

    /// Creates an account (admin API) with the `sms` entitlement on or off.
    pub async fn create_account(&self, sms: bool) -> TestAccount {
        self.create_account_with(json!({"name": "Test account", "entitlements": {"sms": sms}}))
            .await
    }

    /// Creates an account from a full body; asserts 201.
    pub async fn create_account_with(&self, body: Value) -> TestAccount {
        let (status, out) = self
            .request(
                Method::POST,
                "/accounts",
                Some(&self.admin_token),
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create account: {out}");
        TestAccount {
            id: out["id"]
                .as_str()
                .expect("account id is a string")
                .to_string(),
            token: out["token"]
                .as_str()
                .expect("account token is a string")
                .to_string(),
        }
    }

    /// `PATCH /accounts/{id}` with the admin token; asserts 200.
    pub async fn update_account(&self, acct: &TestAccount, body: Value) -> Value {
        let path = format!("/accounts/{}", acct.id);
        let (status, out) = self
            .request(Method::PATCH, &path, Some(&self.admin_token), Some(&body))
            .await;
        assert_eq!(status, StatusCode::OK, "update account: {out}");
        out
    }

    /// Creates a user; asserts 201 and returns its id.
    pub async fn user(&self, acct: &TestAccount, name: &str) -> String {
        let email = format!(
            "{}@example.com",
            name.to_ascii_lowercase().replace(' ', ".")
        );
        let (status, out) = self
            .post(acct, "/users", json!({"name": name, "email": email}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create user: {out}");
        out["id"].as_str().expect("user id is a string").to_string()
    }

    /// A provider connection (`POST /providers`, asserted 201) with an
    /// SMS number `e164` on it, linked to a new user. Answers the
    /// connection as the API showed it, the number's id and the user's id.
    pub async fn provider_line(
        &self,
        acct: &TestAccount,
        connection: Value,
        e164: &str,
    ) -> (Value, String, String) {
        let (status, connection) = self.post(acct, "/providers", connection).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "create connection: {connection}"
        );
        let user = self.user(acct, "Ada Agent").await;
        let (status, number) = self
            .post(
                acct,
                "/numbers",
                json!({
                    "e164": e164, "label": format!("{} line", connection["name"].as_str().unwrap_or("provider")),
                    "provider": connection["id"],
                    "capabilities": {"sms": true, "mms": false, "voice": false}, "user_ids": [user],
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create number: {number}");
        let number = number["id"].as_str().expect("number id").to_string();
        (connection, number, user)
    }

    /// Where this server really listens for one of its public webhook URLs
    /// (`SMSFLOW_PUBLIC_URL` is not the test listener's address).
    pub fn local_url(&self, public: &str) -> String {
        let base = self.engine.public_url().trim_end_matches('/');
        assert!(
            public.starts_with(base),
            "{public} is under the public URL {base}"
        );
        format!("{}{}", self.address, &public[base.len()..])
    }

    /// Connects a sandbox number; asserts 201 and returns its id.
    pub async fn number(
        &self,
        acct: &TestAccount,
        e164: &str,
        sms: bool,
        user_ids: &[&str],
    ) -> String {
        let body = json!({
            "e164": e164,
            "label": format!("Line {e164}"),
            "provider": "sandbox",
            "capabilities": {"sms": sms, "mms": false, "voice": true},
            "user_ids": user_ids,
        });
        let (status, out) = self.post(acct, "/numbers", body).await;
        assert_eq!(status, StatusCode::CREATED, "create number: {out}");
        out["id"]
            .as_str()
            .expect("number id is a string")
            .to_string()
    }

    /// A user and an SMS-capable sandbox number ([`SENDER_E164`]) linked to
    /// it: `(number_id, user_id)`.
    pub async fn setup_sender(&self, acct: &TestAccount) -> (String, String) {
        let user = self.user(acct, "Ada Agent").await;
        let number = self.number(acct, SENDER_E164, true, &[&user]).await;
        (number, user)
    }

    /// Creates a contact; asserts 201 and returns its id.
    pub async fn contact(&self, acct: &TestAccount, properties: Value) -> String {
        let (status, out) = self
            .post(acct, "/objects/contacts", json!({"properties": properties}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create contact: {out}");
        out["id"]
            .as_str()
            .expect("record id is a string")
            .to_string()
    }

    /// Patches a contact's properties; asserts 200.
    pub async fn update_contact(&self, acct: &TestAccount, id: &str, properties: Value) -> Value {
        let (status, out) = self
            .patch(
                acct,
                &format!("/objects/contacts/{id}"),
                json!({"properties": properties}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "update contact: {out}");
        out
    }

    /// Saves a workflow; asserts 201 and returns its id.
    pub async fn create_workflow(&self, acct: &TestAccount, definition: Value) -> String {
        let (status, out) = self.post(acct, "/workflows", definition).await;
        assert_eq!(status, StatusCode::CREATED, "create workflow: {out}");
        out["id"]
            .as_str()
            .expect("workflow id is a string")
            .to_string()
    }

    /// Publishes a workflow; asserts 200 and returns the answer (with
    /// `enrolled`).
    pub async fn publish(
        &self,
        acct: &TestAccount,
        workflow_id: &str,
        enroll_existing: bool,
    ) -> Value {
        let path = format!("/workflows/{workflow_id}/publish");
        let (status, out) = self
            .post(acct, &path, json!({"enroll_existing": enroll_existing}))
            .await;
        assert_eq!(status, StatusCode::OK, "publish workflow: {out}");
        out
    }

    /// Saves and publishes a workflow; returns its id.
    pub async fn published_workflow(&self, acct: &TestAccount, definition: Value) -> String {
        let id = self.create_workflow(acct, definition).await;
        self.publish(acct, &id, false).await;
        id
    }

    /// A list endpoint's `results`; asserts 200.
    pub async fn list(&self, acct: &TestAccount, path: &str) -> Vec<Value> {
        let (status, out) = self.get(acct, path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {out}");
        out["results"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path} has no results: {out}"))
            .clone()
    }

    /// What the sandbox provider was handed.
    pub async fn outbox(&self, acct: &TestAccount) -> Vec<Value> {
        self.list(acct, "/sandbox/outbox").await
    }

    /// A workflow's action log entries.
    pub async fn action_logs(&self, acct: &TestAccount, workflow_id: &str) -> Vec<Value> {
        self.list(acct, &format!("/workflows/{workflow_id}/action-logs"))
            .await
    }

    /// `GET /usage`; asserts 200.
    pub async fn usage(&self, acct: &TestAccount) -> Value {
        let (status, out) = self.get(acct, "/usage").await;
        assert_eq!(status, StatusCode::OK, "GET /usage: {out}");
        out
    }

    /// Runs the engine until nothing is due at the clock's current time.
    pub async fn drain(&self) -> RunOutcome {
        self.engine
            .drain()
            .await
            .expect("the engine drains without error")
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The clock's current time.
    pub fn now(&self) -> DateTime<Utc> {
        smsflow_core::clock::Clock::now(&self.clock)
    }
}
