//! A fake Vonage Messages API on a local port.
//!
//! `POST /v1/messages` with a JSON body and HTTP Basic auth
//! (`api_key:api_secret`) answers 202 `{"message_uuid"}`, or an RFC 7807
//! problem (`type` ending in `#<code>`, `title`, `detail`, `instance`) for
//! bad auth, an invalid body, or a failure queued with
//! [`FakeVonage::fail_next`]. Every request is recorded as received.
//!
//! Webhooks are built as Vonage sends them — JSON status and inbound
//! bodies — and signed as Vonage signs them: `Authorization: Bearer <JWT>`,
//! HS256 with the signature secret, claims `iat`, `jti`, `iss`,
//! `payload_hash` (hex SHA-256 of the body), `api_key` and
//! `application_id`. The signer is written apart from the adapter's
//! verifier so it checks it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

pub const API_KEY: &str = "abcd1234";
pub const API_SECRET: &str = "fake_vonage_api_secret";
pub const SIGNATURE_SECRET: &str = "fake_vonage_signature_secret_0123456789";
pub const APPLICATION_ID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab";

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct VonageRequest {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The JSON body (`Null` when it was not JSON).
    pub json: Value,
}

/// A message the fake accepted.
#[derive(Clone, Debug)]
pub struct VonageMessage {
    pub message_uuid: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub client_ref: Option<String>,
}

#[derive(Default)]
struct FakeState {
    requests: Vec<VonageRequest>,
    messages: Vec<VonageMessage>,
    /// (HTTP status, Vonage error code, Retry-After seconds).
    failures: VecDeque<(u16, u32, Option<u64>)>,
}

/// A running fake Vonage Messages API.
pub struct FakeVonage {
    /// `http://127.0.0.1:<port>`, to put in a connection's `config.base_url`.
    pub base_url: String,
    state: Arc<Mutex<FakeState>>,
    server: JoinHandle<()>,
}

impl Drop for FakeVonage {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn uuid() -> String {
    let hex = format!("{:032x}", ulid::Ulid::new().0);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn problem(status: u16, code: u32, title: &str, detail: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({
        "type": format!("https://developer.vonage.com/api-errors/messages#{code}"),
        "title": title,
        "detail": detail,
        "instance": uuid(),
    });
    (
        status,
        [("content-type", "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

async fn send(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let request = VonageRequest {
        method: "POST".into(),
        path: "/v1/messages".into(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    state.requests.push(request.clone());
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{API_KEY}:{API_SECRET}"))
    );
    if request.authorization.as_deref() != Some(basic.as_str()) {
        return problem(
            401,
            1010,
            "Unauthorized",
            "You did not provide correct credentials.",
        );
    }
    if let Some((status, code, retry_after)) = state.failures.pop_front() {
        let mut response = problem(status, code, "Failure queued by the test", "");
        if let Some(secs) = retry_after {
            response.headers_mut().insert("retry-after", secs.into());
        }
        return response;
    }
    let field = |name: &str| {
        request
            .json
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    for (name, want) in [
        ("message_type", Some("text")),
        ("channel", Some("sms")),
        ("to", None),
        ("from", None),
        ("text", None),
    ] {
        match (field(name), want) {
            (None, _) => {
                return problem(
                    422,
                    1150,
                    "Invalid params",
                    &format!("`{name}` is required"),
                )
            }
            (Some(v), Some(w)) if v != w => {
                return problem(
                    422,
                    1150,
                    "Invalid params",
                    &format!("`{name}` must be {w}"),
                )
            }
            _ => {}
        }
    }
    let to = field("to").unwrap_or_default();
    if to.is_empty() || !to.bytes().all(|b| b.is_ascii_digit()) {
        return problem(
            422,
            1150,
            "Invalid params",
            "`to` must be an E.164 number without the leading +",
        );
    }
    let message = VonageMessage {
        message_uuid: uuid(),
        from: field("from").unwrap_or_default(),
        to,
        text: field("text").unwrap_or_default(),
        client_ref: field("client_ref"),
    };
    let answer = json!({"message_uuid": message.message_uuid});
    state.messages.push(message);
    (StatusCode::ACCEPTED, Json(answer)).into_response()
}

impl FakeVonage {
    /// Starts the fake on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// If no local port can be bound.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route("/v1/messages", post(send))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let base_url = format!("http://{}", listener.local_addr().expect("a bound address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake Vonage runs");
        });
        Self {
            base_url,
            state,
            server,
        }
    }

    /// The connection config that points the adapter at this fake.
    pub fn connection_config(&self) -> Value {
        json!({
            "api_key": API_KEY, "api_secret": API_SECRET,
            "signature_secret": SIGNATURE_SECRET, "base_url": self.base_url,
        })
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<VonageRequest> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .clone()
    }

    /// Every message accepted, oldest first.
    pub fn messages(&self) -> Vec<VonageMessage> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .messages
            .clone()
    }

    /// The next send answers `status` with Vonage error `code`.
    pub fn fail_next(&self, status: u16, code: u32, retry_after: Option<u64>) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failures
            .push_back((status, code, retry_after));
    }

    /// The status webhook Vonage posts when `message` reaches `status`
    /// (`submitted`, `delivered`, `rejected`, `undeliverable`).
    pub fn status(&self, message: &VonageMessage, status: &str) -> VonageWebhook {
        let mut body = json!({
            "message_uuid": message.message_uuid,
            "to": message.to,
            "from": message.from,
            "timestamp": "2026-03-10T18:01:00.000Z",
            "status": status,
            "channel": "sms",
            "usage": {"currency": "EUR", "price": "0.0333"},
            "destination": {"network_code": "310260"},
            "sms": {"count_total": "1"},
        });
        if let Some(r) = &message.client_ref {
            body["client_ref"] = json!(r);
        }
        if status == "rejected" || status == "undeliverable" {
            body["error"] = json!({
                "type": "https://developer.vonage.com/api-errors/messages#1320",
                "title": "1320",
                "detail": "Message failed because the number is barred",
                "instance": uuid(),
            });
        }
        self.webhook(body)
    }

    /// The inbound webhook Vonage posts when `from` texts `to` (both
    /// E.164, with or without `+`; Vonage writes them without).
    pub fn inbound(&self, from: &str, to: &str, text: &str) -> VonageWebhook {
        let body = json!({
            "channel": "sms",
            "message_uuid": uuid(),
            "to": to.trim_start_matches('+'),
            "from": from.trim_start_matches('+'),
            "timestamp": "2026-03-10T18:02:00.000Z",
            "text": text,
            "sms": {"num_messages": "1", "keyword": text.split_whitespace().next().unwrap_or_default().to_uppercase()},
            "usage": {"price": "0.0057", "currency": "EUR"},
            "message_type": "text",
        });
        self.webhook(body)
    }

    fn webhook(&self, body: Value) -> VonageWebhook {
        let body = body.to_string().into_bytes();
        let iat = chrono::Utc::now().timestamp();
        let token = self.jwt(&body, iat, SIGNATURE_SECRET);
        VonageWebhook { body, token }
    }

    /// A Vonage webhook JWT over `body`, issued at `iat`, signed with
    /// `secret`.
    pub fn jwt(&self, body: &[u8], iat: i64, secret: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
        let claims = json!({
            "iat": iat,
            "jti": uuid(),
            "iss": "Vonage",
            "payload_hash": hex::encode(Sha256::digest(body)),
            "api_key": API_KEY,
            "application_id": APPLICATION_ID,
        });
        let claims = b64.encode(claims.to_string());
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
        mac.update(format!("{header}.{claims}").as_bytes());
        format!(
            "{header}.{claims}.{}",
            b64.encode(mac.finalize().into_bytes())
        )
    }
}

/// A signed webhook, ready to post.
#[derive(Clone, Debug)]
pub struct VonageWebhook {
    pub body: Vec<u8>,
    /// The bearer JWT.
    pub token: String,
}

impl VonageWebhook {
    /// The body changed after signing (the token's `payload_hash` no
    /// longer matches).
    pub fn tampered(mut self, field: &str, value: &str) -> Self {
        let mut json: Value = serde_json::from_slice(&self.body).expect("webhook bodies are JSON");
        json[field] = json!(value);
        self.body = json.to_string().into_bytes();
        self
    }

    /// Re-signed with a token issued `secs_ago` seconds ago.
    pub fn issued_ago(mut self, fake: &FakeVonage, secs_ago: i64) -> Self {
        self.token = fake.jwt(
            &self.body,
            chrono::Utc::now().timestamp() - secs_ago,
            SIGNATURE_SECRET,
        );
        self
    }

    /// Posts it as Vonage does, to `post_to`.
    ///
    /// # Panics
    ///
    /// If the server does not answer.
    pub async fn post(&self, client: &reqwest::Client, post_to: &str) -> reqwest::Response {
        client
            .post(post_to)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.token))
            .body(self.body.clone())
            .send()
            .await
            .expect("the webhook receiver answers")
    }
}
