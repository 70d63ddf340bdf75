//! A fake Twilio Programmable Messaging API on a local port.
//!
//! It speaks Twilio's wire format: `POST /2010-04-01/Accounts/{Sid}/Messages.json`
//! with a form body and HTTP Basic auth answers 201 with a message resource
//! (`sid`, `status: "queued"`, …), or Twilio's JSON error (`code`,
//! `message`, `more_info`, `status`) for bad auth, a missing field, or a
//! failure queued with [`FakeTwilio::fail_next`]. Every request is recorded
//! as received, so tests assert on exactly what the adapter sent.
//!
//! It also builds webhooks as Twilio sends them — status callbacks and
//! inbound messages, form-encoded with Twilio's parameter names — and signs
//! them with `X-Twilio-Signature` (HMAC-SHA1 over the URL and the sorted
//! parameters, keyed with the auth token). This signer is written apart
//! from the adapter's verifier on purpose: it checks it rather than
//! mirroring it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// A test account SID (`AC` + 32 hex digits, as Twilio's are).
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// The fake account's auth token.
pub const AUTH_TOKEN: &str = "fake_twilio_auth_token_0123456789";

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct TwilioRequest {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The form fields in the order sent.
    pub form: Vec<(String, String)>,
}

impl TwilioRequest {
    /// A form field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The form field names, sorted.
    pub fn field_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.form.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names
    }
}

/// A message the fake accepted.
#[derive(Clone, Debug)]
pub struct TwilioMessage {
    pub sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub status_callback: Option<String>,
}

#[derive(Default)]
struct FakeState {
    requests: Vec<TwilioRequest>,
    messages: Vec<TwilioMessage>,
    /// (HTTP status, Twilio error code, Retry-After seconds).
    failures: VecDeque<(u16, u32, Option<u64>)>,
}

/// A running fake Twilio API.
pub struct FakeTwilio {
    /// `http://127.0.0.1:<port>`, to put in a connection's `config.base_url`.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    state: Arc<Mutex<FakeState>>,
    server: JoinHandle<()>,
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct Shared {
    account_sid: String,
    auth_token: String,
    state: Arc<Mutex<FakeState>>,
}

fn error(status: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

async fn create_message(
    State(s): State<Shared>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let request = TwilioRequest {
        method: "POST".into(),
        path: format!("/2010-04-01/Accounts/{sid}/Messages.json"),
        authorization: header("authorization"),
        content_type: header("content-type"),
        form: form.clone(),
    };
    let mut state = s.state.lock().unwrap_or_else(|e| e.into_inner());
    state.requests.push(request.clone());
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", s.account_sid, s.auth_token))
    );
    if request.authorization.as_deref() != Some(basic.as_str()) || sid != s.account_sid {
        return error(401, 20003, "Authenticate");
    }
    if let Some((status, code, retry_after)) = state.failures.pop_front() {
        let mut response = error(status, code, "Failure queued by the test");
        if let Some(secs) = retry_after {
            response.headers_mut().insert("retry-after", secs.into());
        }
        return response;
    }
    let Some(to) = request.field("To").map(str::to_string) else {
        return error(400, 21604, "A 'To' phone number is required.");
    };
    let from = request
        .field("From")
        .or(request.field("MessagingServiceSid"))
        .map(str::to_string);
    let Some(from) = from else {
        return error(400, 21603, "A 'From' phone number is required.");
    };
    let Some(text) = request.field("Body").map(str::to_string) else {
        return error(400, 21602, "Message body is required.");
    };
    let message = TwilioMessage {
        sid: format!("SM{:032x}", ulid::Ulid::new().0),
        from: from.clone(),
        to: to.clone(),
        body: text.clone(),
        status_callback: request.field("StatusCallback").map(str::to_string),
    };
    state.messages.push(message.clone());
    let resource = json!({
        "account_sid": s.account_sid,
        "api_version": "2010-04-01",
        "body": text,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": if from.starts_with("MG") { Value::Null } else { json!(from) },
        "messaging_service_sid": if from.starts_with("MG") { json!(from) } else { Value::Null },
        "num_media": "0",
        "num_segments": "1",
        "sid": message.sid,
        "status": "queued",
        "to": to,
        "uri": format!("/2010-04-01/Accounts/{}/Messages/{}.json", s.account_sid, message.sid),
    });
    (StatusCode::CREATED, Json(resource)).into_response()
}

impl FakeTwilio {
    /// Starts the fake on `127.0.0.1:0` with [`ACCOUNT_SID`] and [`AUTH_TOKEN`].
    ///
    /// # Panics
    ///
    /// If no local port can be bound.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let shared = Shared {
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.into(),
            state: state.clone(),
        };
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(create_message),
            )
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let base_url = format!("http://{}", listener.local_addr().expect("a bound address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake Twilio runs");
        });
        Self {
            base_url,
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.into(),
            state,
            server,
        }
    }

    /// The connection config that points the adapter at this fake.
    pub fn connection_config(&self) -> Value {
        json!({"account_sid": self.account_sid, "auth_token": self.auth_token, "base_url": self.base_url})
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<TwilioRequest> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests
            .clone()
    }

    /// Every message accepted, oldest first.
    pub fn messages(&self) -> Vec<TwilioMessage> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .messages
            .clone()
    }

    /// The next send answers `status` with Twilio error `code` (and a
    /// `Retry-After` header when given).
    pub fn fail_next(&self, status: u16, code: u32, retry_after: Option<u64>) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failures
            .push_back((status, code, retry_after));
    }

    /// `X-Twilio-Signature` for a form POST of `params` to `url`: the URL,
    /// then each parameter sorted by name as name + value, HMAC-SHA1 with
    /// the auth token, base64.
    pub fn sign(&self, url: &str, params: &[(String, String)]) -> String {
        let mut sorted = params.to_vec();
        sorted.sort();
        let mut data = url.to_string();
        for (k, v) in &sorted {
            data.push_str(k);
            data.push_str(v);
        }
        let mut mac =
            Hmac::<Sha1>::new_from_slice(self.auth_token.as_bytes()).expect("HMAC takes any key");
        mac.update(data.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// The status callback Twilio posts for `message` reaching `status`,
    /// with the parameters Twilio documents.
    pub fn status_callback(
        &self,
        message: &TwilioMessage,
        status: &str,
        error_code: Option<&str>,
    ) -> TwilioWebhook {
        let mut params = vec![
            ("ApiVersion", "2010-04-01".to_string()),
            ("AccountSid", self.account_sid.clone()),
            ("MessageSid", message.sid.clone()),
            ("SmsSid", message.sid.clone()),
            ("MessageStatus", status.to_string()),
            ("SmsStatus", status.to_string()),
            ("From", message.from.clone()),
            ("To", message.to.clone()),
            ("RawDlrDoneDate", "2603101801".to_string()),
        ];
        if let Some(code) = error_code {
            params.push(("ErrorCode", code.to_string()));
        }
        let url = message.status_callback.clone().unwrap_or_default();
        self.webhook(&url, params)
    }

    /// The inbound-message webhook Twilio posts to `url` when `from` texts
    /// `to`.
    pub fn inbound(&self, url: &str, from: &str, to: &str, body: &str) -> TwilioWebhook {
        let sid = format!("SM{:032x}", ulid::Ulid::new().0);
        let params = vec![
            ("ToCountry", "US".to_string()),
            ("ToState", "CA".to_string()),
            ("SmsMessageSid", sid.clone()),
            ("NumMedia", "0".to_string()),
            ("ToCity", "SAN FRANCISCO".to_string()),
            ("FromZip", "94105".to_string()),
            ("SmsSid", sid.clone()),
            ("FromState", "CA".to_string()),
            ("SmsStatus", "received".to_string()),
            ("FromCity", "SAN FRANCISCO".to_string()),
            ("Body", body.to_string()),
            ("FromCountry", "US".to_string()),
            ("To", to.to_string()),
            ("ToZip", "94105".to_string()),
            ("NumSegments", "1".to_string()),
            ("MessageSid", sid),
            ("AccountSid", self.account_sid.clone()),
            ("From", from.to_string()),
            ("ApiVersion", "2010-04-01".to_string()),
        ];
        self.webhook(url, params)
    }

    fn webhook(&self, url: &str, params: Vec<(&str, String)>) -> TwilioWebhook {
        let params: Vec<(String, String)> = params
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let signature = self.sign(url, &params);
        TwilioWebhook {
            url: url.to_string(),
            params,
            signature,
        }
    }
}

/// A signed webhook, ready to post. Change `params` after signing to
/// tamper with it.
#[derive(Clone, Debug)]
pub struct TwilioWebhook {
    /// The URL Twilio was given and signed.
    pub url: String,
    pub params: Vec<(String, String)>,
    /// `X-Twilio-Signature`.
    pub signature: String,
}

impl TwilioWebhook {
    /// Sets a parameter after signing, as an attacker would.
    pub fn tampered(mut self, name: &str, value: &str) -> Self {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.params.push((name.to_string(), value.to_string())),
        }
        self
    }

    /// Posts it as Twilio does, to `post_to` (the server's real address,
    /// which may differ from the public URL that was signed).
    ///
    /// # Panics
    ///
    /// If the server does not answer.
    pub async fn post(&self, client: &reqwest::Client, post_to: &str) -> reqwest::Response {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            form.append_pair(k, v);
        }
        client
            .post(post_to)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", &self.signature)
            .header("i-twilio-idempotency-token", ulid::Ulid::new().to_string())
            .body(form.finish())
            .send()
            .await
            .expect("the webhook receiver answers")
    }
}
