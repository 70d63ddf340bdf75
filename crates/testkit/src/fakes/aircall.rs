//! A fake Aircall Public API (v1) on a local port.
//!
//! It speaks Aircall's wire format with HTTP Basic auth (`api_id:api_token`):
//!
//! * `GET /v1/numbers` and `GET /v1/users`, paged with `page` and `per_page`
//!   (at most 50, or less after [`FakeAircall::set_page_size`]) under
//!   `meta {count, total, current_page, per_page, next_page_link,
//!   previous_page_link}`. A number carries its `users[]`, a user its
//!   `numbers[]` (v1).
//! * `POST /v1/numbers/{id}/messages/native/send` with JSON `{to, body}`
//!   answers the message object at top level (`id`, `status: "pending"`,
//!   `direction`, `raw_digits`, `number`, …); an unknown number is 404, a
//!   bad `to` or `body` 422 — errors as Aircall writes them, `{error,
//!   troubleshoot}`.
//!
//! Every request is recorded with the time of the fake's clock (the system
//! clock, or the test's after [`FakeAircall::set_clock`]), so a test can
//! check the API budget per rolling minute; [`FakeAircall::enforce_limit`]
//! makes it answer 429 past a budget as Aircall does, and
//! [`FakeAircall::fail_next`] queues a 429 (with `Retry-After` and the
//! `X-AircallApi-*` headers) or a 5xx.
//!
//! * `POST /v1/webhooks` with JSON `{custom_name, url, events}` registers a
//!   webhook and answers `{webhook: {webhook_id, url, events, active,
//!   token}}` with [`WEBHOOK_TOKEN`], the token the fake's webhooks carry.
//!
//! It also builds the webhooks Aircall posts for messages — `{resource,
//! event, timestamp, token, data}` with the webhook's token in the body, as
//! Aircall authenticates them — for status updates and inbound messages.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use smsflow_core::clock::{Clock, SystemClock};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The fake company's API id.
pub const API_ID: &str = "fake_aircall_api_id";
/// The fake company's API token.
pub const API_TOKEN: &str = "fake_aircall_api_token_0123456789";
/// The token of the fake's webhook (what `POST /v1/webhooks` returned).
pub const WEBHOOK_TOKEN: &str = "fake_aircall_webhook_token_abcdef";

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct AircallRequest {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The JSON body (`Null` when there was none or it was not JSON).
    pub json: Value,
    /// The fake's clock when it arrived.
    pub at: DateTime<Utc>,
    /// The HTTP status it was answered with.
    pub status: u16,
}

/// A message the fake accepted.
#[derive(Clone, Debug)]
pub struct AircallMessage {
    pub id: String,
    pub number_id: u64,
    pub to: String,
    pub body: String,
}

#[derive(Clone, Debug)]
struct FakeNumber {
    id: u64,
    digits: String,
    name: String,
    users: Vec<u64>,
}

#[derive(Clone, Debug)]
struct FakeUser {
    id: u64,
    name: String,
    email: String,
    /// Numbers linked only from the user's side of the API.
    extra_numbers: Vec<u64>,
}

struct FakeState {
    clock: Arc<dyn Clock>,
    page_size: usize,
    numbers: Vec<FakeNumber>,
    users: Vec<FakeUser>,
    requests: Vec<AircallRequest>,
    messages: Vec<AircallMessage>,
    /// (HTTP status, Retry-After seconds).
    failures: VecDeque<(u16, Option<u64>)>,
    /// Recipients Aircall refuses (422).
    refused: Vec<String>,
    /// Requests allowed per rolling minute, past which the fake answers 429.
    limit: Option<usize>,
    /// `POST /v1/webhooks` bodies.
    webhooks: Vec<Value>,
}

/// A running fake Aircall API.
pub struct FakeAircall {
    /// `http://127.0.0.1:<port>`, to put in a connection's `config.base_url`.
    pub base_url: String,
    state: Arc<Mutex<FakeState>>,
    server: JoinHandle<()>,
}

impl Drop for FakeAircall {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Shared = Arc<Mutex<FakeState>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn error(status: u16, error: &str, troubleshoot: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({"error": error, "troubleshoot": troubleshoot})),
    )
        .into_response()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn number_json(base: &str, n: &FakeNumber) -> Value {
    json!({
        "id": n.id,
        "direct_link": format!("{base}/v1/numbers/{}", n.id),
        "name": n.name,
        "digits": n.digits,
        "created_at": "2026-01-05T09:00:00.000Z",
        "country": "US",
        "time_zone": "America/Los_Angeles",
        "open": true,
        "availability_status": "open",
        "is_ivr": false,
        "live_recording_activated": false,
        "priority": null,
    })
}

fn user_json(base: &str, u: &FakeUser) -> Value {
    json!({
        "id": u.id,
        "direct_link": format!("{base}/v1/users/{}", u.id),
        "name": u.name,
        "email": u.email,
        "available": true,
        "availability_status": "available",
        "created_at": "2026-01-05T09:00:00.000Z",
        "time_zone": "America/Los_Angeles",
        "language": "en-US",
    })
}

/// Records the request, checks auth, the rate limit and queued failures.
/// `Err` is the answer to give instead of the endpoint's.
fn admit(
    state: &Shared,
    method: &str,
    path: &str,
    query: BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<usize, Box<Response>> {
    let mut s = lock(state);
    let at = s.clock.now();
    let request = AircallRequest {
        method: method.into(),
        path: path.into(),
        query,
        authorization: header(headers, "authorization"),
        content_type: header(headers, "content-type"),
        json: serde_json::from_slice(body).unwrap_or(Value::Null),
        at,
        status: 200,
    };
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{API_ID}:{API_TOKEN}"))
    );
    s.requests.push(request);
    let index = s.requests.len() - 1;
    let refuse = |s: &mut FakeState, response: Response| {
        s.requests[index].status = response.status().as_u16();
        Err(Box::new(response))
    };
    if s.requests[index].authorization.as_deref() != Some(basic.as_str()) {
        return refuse(
            &mut s,
            error(401, "Unauthorized", "Check your api_id and api_token"),
        );
    }
    let over_limit = s.limit.is_some_and(|limit| {
        let since = at - Duration::seconds(60);
        s.requests
            .iter()
            .filter(|r| r.at > since && r.status != 429)
            .count()
            > limit
    });
    let queued = if over_limit {
        Some((429, Some(1)))
    } else {
        s.failures.pop_front()
    };
    if let Some((status, retry_after)) = queued {
        let mut response = match status {
            429 => error(
                429,
                "Too Many Requests",
                "Rate limit of requests per minute exceeded",
            ),
            500..=599 => error(status, "Internal Server Error", "Try again later"),
            _ => error(status, "Bad Request", "Failure queued by the test"),
        };
        if status == 429 {
            let headers = response.headers_mut();
            headers.insert("x-aircallapi-limit", s.limit.unwrap_or(60).into());
            headers.insert("x-aircallapi-remaining", 0.into());
            let reset = at.timestamp() + i64::try_from(retry_after.unwrap_or(1)).unwrap_or(1);
            headers.insert("x-aircallapi-reset", reset.into());
        }
        if let Some(secs) = retry_after {
            response.headers_mut().insert("retry-after", secs.into());
        }
        return refuse(&mut s, response);
    }
    Ok(index)
}

fn page_params(
    query: &BTreeMap<String, String>,
    page_size: usize,
) -> Result<(usize, usize), Box<Response>> {
    let page = match query.get("page") {
        None => 1,
        Some(p) => p.parse::<usize>().ok().filter(|p| *p >= 1).ok_or_else(|| {
            Box::new(error(400, "Bad Request", "page must be a positive integer"))
        })?,
    };
    let per_page = match query.get("per_page") {
        None => 20,
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|p| (1..=50).contains(p))
            .ok_or_else(|| {
                Box::new(error(
                    400,
                    "Bad Request",
                    "per_page must be between 1 and 50",
                ))
            })?,
    };
    Ok((page, per_page.min(page_size)))
}

fn paged(base: &str, resource: &str, all: Vec<Value>, page: usize, per_page: usize) -> Response {
    let total = all.len();
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link = |p: usize| format!("{base}/v1/{resource}?page={p}&per_page={per_page}");
    let next = (page * per_page < total).then(|| link(page + 1));
    let previous = (page > 1).then(|| link(page - 1));
    let mut body = json!({
        "meta": {
            "count": items.len(), "total": total, "current_page": page, "per_page": per_page,
            "next_page_link": next, "previous_page_link": previous,
        },
    });
    body[resource] = Value::Array(items);
    Json(body).into_response()
}

#[derive(Clone)]
struct App {
    base: String,
    state: Shared,
}

async fn list_numbers(
    State(app): State<App>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(
        &app.state,
        "GET",
        "/v1/numbers",
        query.clone(),
        &headers,
        b"",
    ) {
        return *r;
    }
    let s = lock(&app.state);
    let (page, per_page) = match page_params(&query, s.page_size) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let all = s
        .numbers
        .iter()
        .map(|n| {
            let mut v = number_json(&app.base, n);
            v["users"] = Value::Array(
                n.users
                    .iter()
                    .filter_map(|id| s.users.iter().find(|u| u.id == *id))
                    .map(|u| user_json(&app.base, u))
                    .collect(),
            );
            v
        })
        .collect();
    paged(&app.base, "numbers", all, page, per_page)
}

async fn list_users(
    State(app): State<App>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&app.state, "GET", "/v1/users", query.clone(), &headers, b"") {
        return *r;
    }
    let s = lock(&app.state);
    let (page, per_page) = match page_params(&query, s.page_size) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let all = s
        .users
        .iter()
        .map(|u| {
            let mut v = user_json(&app.base, u);
            v["numbers"] = Value::Array(
                s.numbers
                    .iter()
                    .filter(|n| n.users.contains(&u.id) || u.extra_numbers.contains(&n.id))
                    .map(|n| number_json(&app.base, n))
                    .collect(),
            );
            v
        })
        .collect();
    paged(&app.base, "users", all, page, per_page)
}

async fn native_send(
    State(app): State<App>,
    Path(number_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/numbers/{number_id}/messages/native/send");
    let index = match admit(&app.state, "POST", &path, BTreeMap::new(), &headers, &body) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let mut s = lock(&app.state);
    let answer = |s: &mut FakeState, response: Response| {
        s.requests[index].status = response.status().as_u16();
        response
    };
    let number = number_id
        .parse::<u64>()
        .ok()
        .and_then(|id| s.numbers.iter().find(|n| n.id == id).cloned());
    let Some(number) = number else {
        return answer(&mut s, error(404, "Not found", "Number not found"));
    };
    let json = s.requests[index].json.clone();
    let to = json.get("to").and_then(Value::as_str).unwrap_or_default();
    let text = json.get("body").and_then(Value::as_str).unwrap_or_default();
    let e164 = to
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    if !e164 || s.refused.iter().any(|r| r == to) {
        return answer(
            &mut s,
            error(
                422,
                "Invalid phone number",
                "`to` must be a valid phone number in E.164 format",
            ),
        );
    }
    if text.is_empty() || text.chars().count() > 1600 {
        return answer(
            &mut s,
            error(422, "Invalid body", "`body` must have 1 to 1600 characters"),
        );
    }
    let message = AircallMessage {
        id: format!("{:032x}", ulid::Ulid::new().0),
        number_id: number.id,
        to: to.to_string(),
        body: text.to_string(),
    };
    let now = s.clock.now().timestamp_millis();
    let out = json!({
        "id": message.id,
        "status": "pending",
        "direct_link": format!("{}/v1/numbers/{}/messages/{}", app.base, number.id, message.id),
        "direction": "outbound",
        "created_at": now, "sent_at": now, "updated_at": now,
        "raw_digits": to,
        "body": text,
        "media_url": [],
        "number": number_json(&app.base, &number),
    });
    s.messages.push(message);
    answer(&mut s, (StatusCode::OK, Json(out)).into_response())
}

async fn create_webhook(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let index = match admit(
        &app.state,
        "POST",
        "/v1/webhooks",
        BTreeMap::new(),
        &headers,
        &body,
    ) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let mut s = lock(&app.state);
    let json = s.requests[index].json.clone();
    let url = json.get("url").and_then(Value::as_str).unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        s.requests[index].status = 400;
        return error(400, "Invalid url", "`url` must be a valid URL");
    }
    let events = json.get("events").cloned().unwrap_or_else(|| json!([]));
    let webhook_id = format!("{:032x}", ulid::Ulid::new().0);
    s.webhooks.push(json.clone());
    (
        StatusCode::CREATED,
        Json(json!({"webhook": {
            "webhook_id": webhook_id,
            "direct_link": format!("{}/v1/webhooks/{webhook_id}", app.base),
            "created_at": s.clock.now().to_rfc3339(),
            "url": url,
            "active": true,
            "token": WEBHOOK_TOKEN,
            "events": events,
            "custom_name": json.get("custom_name").cloned().unwrap_or(Value::Null),
        }})),
    )
        .into_response()
}

impl FakeAircall {
    /// The webhooks registered (`POST /v1/webhooks` bodies), oldest first.
    pub fn webhooks(&self) -> Vec<Value> {
        lock(&self.state).webhooks.clone()
    }

    /// Starts the fake on `127.0.0.1:0`, with no numbers nor users.
    ///
    /// # Panics
    ///
    /// If no local port can be bound.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let base_url = format!("http://{}", listener.local_addr().expect("a bound address"));
        let state = Arc::new(Mutex::new(FakeState {
            clock: Arc::new(SystemClock),
            page_size: 50,
            numbers: Vec::new(),
            users: Vec::new(),
            requests: Vec::new(),
            messages: Vec::new(),
            failures: VecDeque::new(),
            refused: Vec::new(),
            limit: None,
            webhooks: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/numbers", get(list_numbers))
            .route("/v1/users", get(list_users))
            .route("/v1/numbers/{id}/messages/native/send", post(native_send))
            .route("/v1/webhooks", post(create_webhook))
            .with_state(App {
                base: base_url.clone(),
                state: state.clone(),
            });
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake Aircall runs");
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
            "api_id": API_ID, "api_token": API_TOKEN, "webhook_token": WEBHOOK_TOKEN,
            "base_url": self.base_url,
        })
    }

    /// Stamps requests and webhooks with `clock` (the test's) from now on.
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        lock(&self.state).clock = clock;
    }

    /// Serves at most `n` items a page, whatever `per_page` asks.
    pub fn set_page_size(&self, n: usize) {
        lock(&self.state).page_size = n.max(1);
    }

    /// Adds (or replaces) a number with the users linked to it.
    pub fn add_number(&self, id: u64, digits: &str, name: &str, users: &[u64]) {
        let mut s = lock(&self.state);
        s.numbers.retain(|n| n.id != id);
        s.numbers.push(FakeNumber {
            id,
            digits: digits.into(),
            name: name.into(),
            users: users.to_vec(),
        });
        s.numbers.sort_by_key(|n| n.id);
    }

    /// Deletes a number (as when it is released at Aircall).
    pub fn remove_number(&self, id: u64) {
        lock(&self.state).numbers.retain(|n| n.id != id);
    }

    /// Adds (or replaces) a user.
    pub fn add_user(&self, id: u64, name: &str, email: &str) {
        let mut s = lock(&self.state);
        s.users.retain(|u| u.id != id);
        s.users.push(FakeUser {
            id,
            name: name.into(),
            email: email.into(),
            extra_numbers: Vec::new(),
        });
        s.users.sort_by_key(|u| u.id);
    }

    /// Deletes a user and every link to it.
    pub fn remove_user(&self, id: u64) {
        let mut s = lock(&self.state);
        s.users.retain(|u| u.id != id);
        for n in &mut s.numbers {
            n.users.retain(|u| *u != id);
        }
    }

    /// Replaces the users linked to a number.
    pub fn set_number_users(&self, number: u64, users: &[u64]) {
        let mut s = lock(&self.state);
        if let Some(n) = s.numbers.iter_mut().find(|n| n.id == number) {
            n.users = users.to_vec();
        }
    }

    /// Links a user to a number on the user's side only (`numbers[]`), as
    /// an abridged number object might omit it.
    pub fn link_from_user_only(&self, user: u64, number: u64) {
        let mut s = lock(&self.state);
        if let Some(u) = s.users.iter_mut().find(|u| u.id == user) {
            u.extra_numbers.push(number);
        }
    }

    /// The next request answers `status` (429 with `Retry-After`, a 5xx…)
    /// instead of doing its work.
    pub fn fail_next(&self, status: u16, retry_after: Option<u64>) {
        lock(&self.state).failures.push_back((status, retry_after));
    }

    /// Aircall refuses to text `e164` (422 "Invalid phone number").
    pub fn refuse_recipient(&self, e164: &str) {
        lock(&self.state).refused.push(e164.into());
    }

    /// Answers 429 to any request past `n` in a rolling minute.
    pub fn enforce_limit(&self, n: usize) {
        lock(&self.state).limit = Some(n);
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<AircallRequest> {
        lock(&self.state).requests.clone()
    }

    /// Every native send received (accepted or not), oldest first.
    pub fn send_requests(&self) -> Vec<AircallRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/messages/native/send"))
            .collect()
    }

    /// Every message accepted, oldest first.
    pub fn messages(&self) -> Vec<AircallMessage> {
        lock(&self.state).messages.clone()
    }

    /// The most requests received within any 60 seconds (a window that
    /// ends at a request and reaches back just under a minute), by the
    /// fake's clock.
    pub fn max_requests_per_rolling_minute(&self) -> usize {
        let times: Vec<DateTime<Utc>> = self.requests().iter().map(|r| r.at).collect();
        times
            .iter()
            .map(|end| {
                times
                    .iter()
                    .filter(|t| **t <= *end && **t > *end - Duration::seconds(60))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// How many requests were answered 429.
    pub fn rate_limited(&self) -> usize {
        self.requests().iter().filter(|r| r.status == 429).count()
    }

    fn webhook(&self, event: &str, data: Value) -> AircallWebhook {
        let timestamp = lock(&self.state).clock.now().timestamp();
        AircallWebhook {
            body: json!({
                "resource": "message", "event": event, "timestamp": timestamp,
                "token": WEBHOOK_TOKEN, "data": data,
            }),
        }
    }

    fn number_object(&self, id: u64) -> Value {
        let s = lock(&self.state);
        match s.numbers.iter().find(|n| n.id == id) {
            Some(n) => {
                let mut v = number_json(&self.base_url, n);
                let e164: String = n
                    .digits
                    .chars()
                    .filter(|c| *c == '+' || c.is_ascii_digit())
                    .collect();
                v["e164_digits"] = json!(e164);
                v
            }
            None => json!({"id": id}),
        }
    }

    fn message_data(&self, message: &AircallMessage, status: &str) -> Value {
        json!({
            "id": message.id,
            "direct_link": format!("{}/v1/numbers/{}/messages/{}", self.base_url, message.number_id, message.id),
            "direction": "outbound",
            "external_number": message.to,
            "body": message.body,
            "status": status,
            "raw_digits": message.to,
            "media_details": [],
            "created_at": "2026-03-10T18:00:01.000Z",
            "updated_at": "2026-03-10T18:00:02.000Z",
            "sent_at": "2026-03-10T18:00:01.000Z",
            "channel": null,
            "number": self.number_object(message.number_id),
            "contact": null,
        })
    }

    /// `message.status_updated` for a message the fake accepted (`sent`,
    /// `delivered`, `failed`, `undelivered`…).
    pub fn status_updated(&self, message: &AircallMessage, status: &str) -> AircallWebhook {
        self.webhook("message.status_updated", self.message_data(message, status))
    }

    /// `message.sent` for a message the fake accepted.
    pub fn sent(&self, message: &AircallMessage) -> AircallWebhook {
        self.webhook("message.sent", self.message_data(message, "sent"))
    }

    /// `message.received`: `from` (E.164) texted the fake's number
    /// `number_id`.
    pub fn received(&self, from: &str, number_id: u64, body: &str) -> AircallWebhook {
        let id = format!("{:032x}", ulid::Ulid::new().0);
        let data = json!({
            "id": id,
            "direct_link": format!("{}/v1/numbers/{number_id}/messages/{id}", self.base_url),
            "direction": "inbound",
            "external_number": from,
            "body": body,
            "status": "received",
            "raw_digits": from,
            "media_details": [],
            "created_at": "2026-03-10T18:02:00.000Z",
            "updated_at": "2026-03-10T18:02:00.000Z",
            "channel": null,
            "number": self.number_object(number_id),
            "contact": null,
        });
        self.webhook("message.received", data)
    }

    /// A WhatsApp message received on `number_id` (`data.channel` set).
    pub fn whatsapp_received(&self, from: &str, number_id: u64, body: &str) -> AircallWebhook {
        let mut hook = self.received(from, number_id, body);
        hook.body["data"]["channel"] = json!("whatsapp");
        hook
    }
}

/// A webhook as Aircall posts it.
#[derive(Clone, Debug)]
pub struct AircallWebhook {
    pub body: Value,
}

impl AircallWebhook {
    /// The same event carrying another token.
    pub fn with_token(mut self, token: &str) -> Self {
        self.body["token"] = json!(token);
        self
    }

    /// The same event without a token.
    pub fn without_token(mut self) -> Self {
        if let Some(o) = self.body.as_object_mut() {
            o.remove("token");
        }
        self
    }

    /// The message id the event carries.
    pub fn message_id(&self) -> String {
        self.body["data"]["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| self.body["data"]["id"].to_string())
    }

    /// Posts it as Aircall does (JSON, `aircall-origin: webhooks`) to
    /// `post_to`.
    ///
    /// # Panics
    ///
    /// If the server does not answer.
    pub async fn post(&self, client: &reqwest::Client, post_to: &str) -> reqwest::Response {
        client
            .post(post_to)
            .header("content-type", "application/json")
            .header("user-agent", "axios/1.7.7")
            .header("aircall-origin", "webhooks")
            .body(self.body.to_string())
            .send()
            .await
            .expect("the webhook receiver answers")
    }
}
