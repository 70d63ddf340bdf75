//! Aircall messaging, native mode ("in agent conversation"): messages sent
//! through the API show in the Aircall app beside the agents' own, and
//! Aircall fires `message.*` webhooks for them.
//!
//! Send: `POST {base}/v1/numbers/{number_id}/messages/native/send`, JSON
//! `{to, body}`, HTTP Basic `api_id:api_token`. Aircall sends by its own
//! number id, not by E.164: the directory sync stores that id on each number
//! (`external_id`) and the dispatcher passes it as
//! [`SendRequest::from_external_id`]. A number that was never synced cannot
//! send: it fails `aircall:number_not_synced` at once. The answer is the
//! message object at top level, `id` (a string; a number is accepted too)
//! and `status: "pending"`, which smsflow records as `sent` (handed off).
//!
//! Errors: 429 is rate limiting (`aircall:429`; `Retry-After`, else
//! `X-AircallApi-Reset`, says until when), 5xx and network failures are
//! transient; every other 4xx (400/404/422: invalid recipient, unknown or
//! non-SMS number…) is permanent. Aircall's error bodies (`{error,
//! troubleshoot}`, or `{code, message}`) are kept: its `code` as
//! `aircall:<code>`, else `aircall:http_<status>`, and its text as the
//! message. A call that may have reached Aircall but got no readable answer
//! is `aircall:timeout` / `aircall:outcome_unknown`: never repeated (R12).
//!
//! Budget (R11): Aircall allows 60 requests a minute per company (sources
//! say 60 or 120; 60 is the safe figure). [`Provider::requests_per_minute`]
//! answers 60, or `config.requests_per_minute`; the dispatcher paces sends
//! to it through the shared bucket of the connection, and the engine charges
//! the directory sync's requests to the same bucket.
//!
//! Webhooks: Aircall posts every subscribed event of the company to one URL,
//! as JSON `{resource, event, timestamp, token, data}`. There is no HMAC:
//! the body's `token` (returned by `POST /v1/webhooks`, kept as
//! `config.webhook_token`) is compared in constant time (R27). Creating a
//! connection without a token registers its webhook URL that way
//! ([`Provider::register_webhook`]) unless `config.register_webhook` is
//! false. Either of the
//! connection's webhook URLs takes any event: `message.received` becomes an
//! inbound message, `message.sent` and `message.status_updated` status
//! events; WhatsApp messages (`data.channel` not null), group messages and
//! other resources are acknowledged and ignored. There is deliberately no
//! timestamp window: `timestamp` is not signed, so it cannot stop a replay
//! (whoever can replay can rewrite it), while Aircall retries failed
//! deliveries for up to 12 hours and a window would drop those for good.
//! Replays are harmless instead: statuses only move forward (R13) and an
//! inbound message already stored under its Aircall id is not stored again.
//!
//! Directory (R3): `GET /v1/numbers` and `GET /v1/users`, page by page
//! (`page`, `per_page` = 50, until `meta.next_page_link` is null), give the
//! numbers (E.164 from `e164_digits` or `digits`), the users, and their
//! links (a number's `users[]` and a user's `numbers[]`, merged). No Aircall
//! field says whether a number can send SMS: every synced number is
//! SMS-capable unless `config.sms_number_ids` lists the Aircall ids of the
//! ones that are; a number that cannot send still fails at Aircall with its
//! error kept.
//!
//! Aircall takes no idempotency key and its API cannot find a message by
//! one, so [`Provider::is_idempotent`] is false and [`Provider::lookup`]
//! answers `None`: a hand-off whose outcome is unknown is marked `unknown`,
//! never sent twice (R12).

use crate::connection::{base_url_or, string, ConfigError};
use crate::{
    Directory, DirectoryError, DirectoryNumber, DirectorySkip, DirectoryUser, Provider, SendError,
    SendReceipt, SendRequest, WebhookError, WebhookEvent, WebhookRequest,
};
use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use smsflow_core::message::MessageStatus;
use smsflow_core::phone::E164;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The public Aircall API root; `config.base_url` replaces it (tests,
/// proxies).
pub const DEFAULT_BASE_URL: &str = "https://api.aircall.io";

/// Aircall's documented budget per company; `config.requests_per_minute`
/// changes it.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 60;

/// The largest page Aircall serves.
pub const PER_PAGE: u32 = 50;

/// A listing longer than this many pages is refused rather than followed
/// for ever (50,000 numbers or users).
const MAX_PAGES: u32 = 1_000;

/// The longest wait a rate-limit answer is taken to ask for.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// A connection's settings (`config` of a `kind: "aircall"` connection).
#[derive(Clone, PartialEq, Eq)]
pub struct AircallConfig {
    /// Without a trailing `/` or `/v1`.
    pub base_url: String,
    pub api_id: String,
    /// Secret.
    pub api_token: String,
    /// Secret: the token Aircall returned when the webhook was created.
    /// Until it is set, every webhook is refused.
    pub webhook_token: Option<String>,
    /// Whether creating the connection registers its webhook at Aircall
    /// (`POST /v1/webhooks`) when no `webhook_token` is given. Default on.
    pub register_webhook: bool,
    pub requests_per_minute: u32,
    /// Aircall ids of the numbers that may send SMS; `None`: all of them.
    pub sms_number_ids: Option<BTreeSet<String>>,
}

impl std::fmt::Debug for AircallConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AircallConfig")
            .field("base_url", &self.base_url)
            .field("api_id", &self.api_id)
            .field("api_token", &"<redacted>")
            .field(
                "webhook_token",
                &self.webhook_token.as_ref().map(|_| "<redacted>"),
            )
            .field("register_webhook", &self.register_webhook)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("sms_number_ids", &self.sms_number_ids)
            .finish()
    }
}

/// An Aircall id as text: ids are integers for numbers and users, strings
/// for messages; either is accepted everywhere.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

impl AircallConfig {
    /// Reads and checks a connection's config; each problem names its field.
    pub fn from_json(config: &Value) -> Result<Self, ConfigError> {
        let field = |name: &str, why: &str| ConfigError::Field(name.into(), why.into());
        let base_url = base_url_or(config, DEFAULT_BASE_URL)?;
        let base_url = base_url.trim_end_matches('/');
        let base_url = base_url.strip_suffix("/v1").unwrap_or(base_url).to_string();
        let webhook_token = match config.get("webhook_token") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(_) => {
                return Err(field(
                    "webhook_token",
                    "must be the token Aircall returned when the webhook was created",
                ))
            }
        };
        let register_webhook = match config.get("register_webhook") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(field("register_webhook", "must be true or false")),
        };
        let requests_per_minute = match config.get("requests_per_minute") {
            None | Some(Value::Null) => DEFAULT_REQUESTS_PER_MINUTE,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=6000).contains(n))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| field("requests_per_minute", "must be an integer from 1 to 6000"))?,
        };
        let sms_number_ids = match config.get("sms_number_ids") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(id_text)
                    .collect::<Option<BTreeSet<_>>>()
                    .ok_or_else(|| {
                        field("sms_number_ids", "must be a list of Aircall number ids")
                    })?,
            ),
            Some(_) => {
                return Err(field(
                    "sms_number_ids",
                    "must be a list of Aircall number ids",
                ))
            }
        };
        Ok(Self {
            base_url,
            api_id: string(config, "api_id")?,
            api_token: string(config, "api_token")?,
            webhook_token,
            register_webhook,
            requests_per_minute,
            sms_number_ids,
        })
    }
}

/// The Aircall adapter of one connection.
#[derive(Clone)]
pub struct Aircall {
    client: reqwest::Client,
    config: AircallConfig,
}

impl std::fmt::Debug for Aircall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aircall")
            .field("config", &self.config)
            .finish()
    }
}

/// Aircall's message status words, normalised (R13). `pending` is the
/// status of a message Aircall has not handed on yet.
pub fn map_status(status: &str) -> MessageStatus {
    match status.trim().to_ascii_lowercase().as_str() {
        "pending" | "queued" | "accepted" | "scheduled" => MessageStatus::Queued,
        "sending" => MessageStatus::Sending,
        "sent" => MessageStatus::Sent,
        "delivered" | "read" => MessageStatus::Delivered,
        "undelivered" => MessageStatus::Undelivered,
        "failed" | "error" | "rejected" | "canceled" | "cancelled" => MessageStatus::Failed,
        "received" => MessageStatus::Received,
        _ => MessageStatus::Unknown,
    }
}

/// Constant-time comparison of a webhook's token with the configured one.
/// Both are hashed first, so not even their lengths are compared directly.
fn token_matches(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    bool::from(given.as_slice().ct_eq(expected.as_slice()))
}

/// An Aircall phone number (`+33 1 76 36 06 95`, `33176360695`, …) in
/// E.164.
fn phone(raw: &str) -> Option<E164> {
    let raw = raw.trim();
    let international = if raw.starts_with('+') {
        raw.to_string()
    } else {
        format!("+{raw}")
    };
    E164::parse(&international, None).ok()
}

/// How long a refusal asks to wait: `Retry-After` (seconds or an HTTP
/// date), else `X-AircallApi-Reset` (a Unix time in seconds or
/// milliseconds, or seconds from now). `now` is the current Unix second.
pub fn retry_after(headers: &HeaderMap, now: i64) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let secs = if let Some(v) = header("retry-after") {
        match v.parse::<i64>() {
            Ok(secs) => secs,
            Err(_) => chrono::DateTime::parse_from_rfc2822(v).ok()?.timestamp() - now,
        }
    } else {
        let reset = header("x-aircallapi-reset")?.parse::<i64>().ok()?;
        if reset > 100_000_000_000 {
            reset / 1000 - now
        } else if reset > 1_000_000_000 {
            reset - now
        } else {
            reset
        }
    };
    let secs = u64::try_from(secs.max(1)).ok()?;
    Some(Duration::from_secs(secs).min(MAX_WAIT))
}

/// `(code, message)` of an Aircall error answer. v1 answers `{"error":
/// "...", "troubleshoot": "..."}`; other endpoints `{"code", "message"}` or
/// an `error` object: every shape is read, and a body that is not JSON is
/// kept as text.
fn api_error(status: u16, text: &str) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let root = parsed.as_ref();
    let nested = root.and_then(|p| p.get("error")).filter(|e| e.is_object());
    let get = |name: &str| {
        nested
            .and_then(|e| e.get(name))
            .or_else(|| root.and_then(|p| p.get(name)))
    };
    let code = if status == 429 {
        "aircall:429".to_string()
    } else {
        match get("code").and_then(id_text) {
            Some(c) => format!("aircall:{c}"),
            None => format!("aircall:http_{status}"),
        }
    };
    let parts: Vec<&str> = ["message", "error", "troubleshoot"]
        .iter()
        .filter_map(|name| get(name).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let message = if parts.is_empty() {
        let text: String = text.trim().chars().take(500).collect();
        if text.is_empty() {
            format!("HTTP {status}")
        } else {
            text
        }
    } else {
        parts.join(": ")
    };
    (code, message)
}

/// A path segment Aircall could have issued as an id.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The users a number or user object names (`users[]` / `numbers[]`:
/// objects with an `id`, or bare ids).
fn linked_ids(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| id_text(item.get("id").unwrap_or(item)))
                .collect()
        })
        .unwrap_or_default()
}

impl Aircall {
    pub fn new(config: AircallConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client without custom TLS roots always builds");
        Self { client, config }
    }

    pub fn config(&self) -> &AircallConfig {
        &self.config
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.config.base_url)
    }

    /// Every item of a paged listing (`numbers`, `users`); counts the
    /// requests made in `requests`.
    async fn list(&self, resource: &str, requests: &mut u32) -> Result<Vec<Value>, DirectoryError> {
        let mut items = Vec::new();
        for page in 1..=MAX_PAGES {
            *requests += 1;
            let response = self
                .client
                .get(self.url(&format!("{resource}?page={page}&per_page={PER_PAGE}")))
                .basic_auth(&self.config.api_id, Some(&self.config.api_token))
                .send()
                .await
                .map_err(|e| unreachable_error(&e))?;
            let response = admin_answer(response).await?;
            let body: Value = response.json().await.map_err(|e| DirectoryError::Failed {
                code: "aircall:bad_response".into(),
                message: format!("GET /v1/{resource}: {e}"),
            })?;
            let Some(list) = body.get(resource).and_then(Value::as_array) else {
                return Err(DirectoryError::Failed {
                    code: "aircall:bad_response".into(),
                    message: format!("GET /v1/{resource} answered without a `{resource}` list"),
                });
            };
            items.extend(list.iter().cloned());
            let more = body
                .get("meta")
                .and_then(|m| m.get("next_page_link"))
                .and_then(Value::as_str)
                .is_some_and(|link| !link.trim().is_empty());
            // The page number is followed rather than the link itself, so a
            // `base_url` override (a proxy, a test server) stays in use.
            if !more || list.is_empty() {
                return Ok(items);
            }
        }
        Err(DirectoryError::Failed {
            code: "aircall:too_many_pages".into(),
            message: format!("GET /v1/{resource} has more than {MAX_PAGES} pages"),
        })
    }

    fn status_event(data: &Value, id: String) -> WebhookEvent {
        let raw = data
            .get("status")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .unwrap_or("sent")
            .to_string();
        WebhookEvent::Status {
            provider_message_id: id,
            status: map_status(&raw),
            raw_status: raw,
            error_code: data
                .get("error_code")
                .and_then(id_text)
                .map(|c| format!("aircall:{c}")),
        }
    }

    fn inbound_event(data: &Value, id: String) -> Result<WebhookEvent, WebhookError> {
        let malformed = |why: &str| WebhookError::Malformed(why.to_string());
        let from = data
            .get("external_number")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("data.external_number is missing"))?;
        let from = phone(from).ok_or_else(|| {
            malformed(&format!(
                "data.external_number: `{from}` is not a phone number"
            ))
        })?;
        let number = data
            .get("number")
            .filter(|n| n.is_object())
            .ok_or_else(|| malformed("data.number is missing"))?;
        let to = ["e164_digits", "digits"]
            .iter()
            .find_map(|f| number.get(*f).and_then(Value::as_str))
            .ok_or_else(|| malformed("data.number.digits is missing"))?;
        let to = phone(to).ok_or_else(|| {
            malformed(&format!("data.number.digits: `{to}` is not a phone number"))
        })?;
        Ok(WebhookEvent::Inbound {
            from,
            to,
            body: data
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            provider_message_id: Some(id),
        })
    }
}

/// A failed hand-off's transport error. Only a connection that was never
/// made is sure not to have reached Aircall; anything later (a timeout, a
/// reset) may have sent the message, so its outcome is unknown.
/// A directory or webhook-registration call that reached no answer.
fn unreachable_error(e: &reqwest::Error) -> DirectoryError {
    DirectoryError::Unavailable {
        code: if e.is_timeout() {
            "aircall:timeout".into()
        } else {
            "aircall:connect".into()
        },
        message: e.to_string(),
        retry_after: None,
    }
}

/// The answer to a directory or webhook-registration call, or what its
/// error status means: refused credentials, worth retrying, or refused.
async fn admin_answer(response: reqwest::Response) -> Result<reqwest::Response, DirectoryError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let wait = retry_after(response.headers(), chrono::Utc::now().timestamp());
    let text = response.text().await.unwrap_or_default();
    let (code, message) = api_error(status.as_u16(), &text);
    Err(match status.as_u16() {
        401 | 403 => DirectoryError::Unauthorized { code, message },
        429 | 500..=599 => DirectoryError::Unavailable {
            code,
            message,
            retry_after: wait,
        },
        _ => DirectoryError::Failed { code, message },
    })
}

fn transport_error(e: &reqwest::Error) -> SendError {
    SendError::Transient {
        code: if e.is_connect() {
            "aircall:connect".into()
        } else {
            "aircall:timeout".into()
        },
        message: e.to_string(),
        retry_after: None,
    }
}

#[async_trait]
impl Provider for Aircall {
    fn kind(&self) -> &str {
        "aircall"
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, SendError> {
        let number_id = match request.from_external_id.as_deref() {
            Some(id) if valid_id(id) => id,
            Some(id) => {
                return Err(SendError::Permanent {
                    code: "aircall:invalid_number_id".into(),
                    message: format!("`{id}` is not an Aircall number id"),
                })
            }
            None => {
                return Err(SendError::Permanent {
                    code: "aircall:number_not_synced".into(),
                    message: format!(
                        "{} has no Aircall number id: sync the connection \
                         (POST /api/v1/providers/{{id}}/sync) so its numbers carry Aircall's ids",
                        request.from
                    ),
                })
            }
        };
        let response = self
            .client
            .post(self.url(&format!("numbers/{number_id}/messages/native/send")))
            .basic_auth(&self.config.api_id, Some(&self.config.api_token))
            .json(&json!({"to": request.to.as_str(), "body": request.body}))
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            // Accepted: from here on a failure to read the answer must not
            // lead to a second send.
            let unreadable = |why: String| SendError::Transient {
                code: "aircall:outcome_unknown".into(),
                message: format!(
                    "Aircall accepted the message but its answer is unreadable: {why}"
                ),
                retry_after: None,
            };
            let body: Value = response
                .json()
                .await
                .map_err(|e| unreadable(e.to_string()))?;
            let id = body
                .get("id")
                .and_then(id_text)
                .ok_or_else(|| unreadable("no message `id`".into()))?;
            // `pending`: handed off, which smsflow calls `sent` until a
            // webhook says more.
            let status = match body.get("status").and_then(Value::as_str).map(map_status) {
                Some(s @ (MessageStatus::Failed | MessageStatus::Delivered)) => s,
                _ => MessageStatus::Sent,
            };
            return Ok(SendReceipt {
                provider_message_id: id,
                status,
            });
        }
        let wait = retry_after(response.headers(), chrono::Utc::now().timestamp());
        let text = response.text().await.unwrap_or_default();
        let (code, message) = api_error(status.as_u16(), &text);
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Transient {
                code,
                message,
                retry_after: wait,
            })
        } else {
            Err(SendError::Permanent { code, message })
        }
    }

    /// Aircall cannot be asked "did you get the message with key K?": the
    /// native send takes no client reference, and a message cannot be found
    /// by recipient and body without listing whole conversations (which
    /// cannot tell two equal texts apart and spends the API budget). So the
    /// answer is always "cannot tell", and the reaper marks the message
    /// `unknown` instead of sending it again (R12).
    async fn lookup(&self, request: &SendRequest) -> Result<Option<SendReceipt>, SendError> {
        let _ = request;
        Ok(None)
    }

    /// Aircall has no idempotency key.
    fn is_idempotent(&self) -> bool {
        false
    }

    fn requests_per_minute(&self) -> Option<u32> {
        Some(self.config.requests_per_minute)
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<WebhookEvent>, WebhookError> {
        // Authenticate before reading anything else: a body that is not
        // JSON, or has no token, cannot prove it comes from Aircall.
        let envelope: Value =
            serde_json::from_slice(&request.body).map_err(|_| WebhookError::BadSignature)?;
        let given = envelope
            .get("token")
            .and_then(Value::as_str)
            .ok_or(WebhookError::BadSignature)?;
        let Some(expected) = self.config.webhook_token.as_deref() else {
            tracing::warn!(
                "Aircall webhook refused: the connection has no config.webhook_token yet"
            );
            return Err(WebhookError::BadSignature);
        };
        if !token_matches(given, expected) {
            return Err(WebhookError::BadSignature);
        }
        let event = envelope
            .get("event")
            .and_then(Value::as_str)
            .ok_or_else(|| WebhookError::Malformed("event is missing".into()))?;
        if !matches!(
            event,
            "message.received" | "message.sent" | "message.status_updated"
        ) {
            // Calls, users, group messages…: nothing for smsflow, but
            // answered 200 so Aircall does not count failures and disable
            // the webhook.
            return Ok(Vec::new());
        }
        let data = envelope
            .get("data")
            .filter(|d| d.is_object())
            .ok_or_else(|| WebhookError::Malformed("data is missing".into()))?;
        if data.get("channel").is_some_and(|c| !c.is_null()) {
            // WhatsApp and other non-SMS channels.
            return Ok(Vec::new());
        }
        let id = data
            .get("id")
            .and_then(id_text)
            .ok_or_else(|| WebhookError::Malformed("data.id is missing".into()))?;
        let direction = data.get("direction").and_then(Value::as_str);
        match event {
            "message.received" if direction.is_none_or(|d| d == "inbound") => {
                Ok(vec![Self::inbound_event(data, id)?])
            }
            "message.sent" | "message.status_updated" if direction != Some("inbound") => {
                Ok(vec![Self::status_event(data, id)])
            }
            _ => Ok(Vec::new()),
        }
    }

    /// `POST /v1/webhooks {custom_name, url, events}`: Aircall answers the
    /// webhook with the `token` it will put in every event's body, which
    /// becomes `config.webhook_token`. Nothing to do when a token was given
    /// or `register_webhook` is false.
    async fn register_webhook(
        &self,
        url: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, DirectoryError> {
        if self.config.webhook_token.is_some() || !self.config.register_webhook {
            return Ok(None);
        }
        let response = self
            .client
            .post(self.url("webhooks"))
            .basic_auth(&self.config.api_id, Some(&self.config.api_token))
            .json(&json!({
                "custom_name": "smsflow",
                "url": url,
                "events": ["message.sent", "message.received", "message.status_updated"],
            }))
            .send()
            .await
            .map_err(|e| unreachable_error(&e))?;
        let response = admin_answer(response).await?;
        let body: Value = response.json().await.unwrap_or(Value::Null);
        // The webhook object sits under `webhook`; accept it at top level too.
        let webhook = body.get("webhook").unwrap_or(&body);
        let token = webhook
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| DirectoryError::Failed {
                code: "aircall:bad_response".into(),
                message: "POST /v1/webhooks answered without a token".into(),
            })?;
        let mut config = serde_json::Map::new();
        config.insert("webhook_token".into(), json!(token.trim()));
        if let Some(id) = webhook.get("webhook_id").and_then(id_text) {
            config.insert("webhook_id".into(), json!(id));
        }
        Ok(Some(config))
    }

    async fn directory(&self) -> Result<Directory, DirectoryError> {
        let mut requests = 0;
        let numbers = self.list("numbers", &mut requests).await?;
        let users = self.list("users", &mut requests).await?;
        let mut directory = Directory {
            requests,
            ..Directory::default()
        };

        // Links from both sides: a number's `users[]` and a user's
        // `numbers[]` (the v1 user carries it; either may be abridged).
        let mut links: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut seen_users = BTreeSet::new();
        for user in &users {
            let Some(id) = user.get("id").and_then(id_text) else {
                directory.skipped.push(DirectorySkip {
                    external_id: String::new(),
                    reason: "a user without an id".into(),
                });
                continue;
            };
            if !seen_users.insert(id.clone()) {
                continue;
            }
            for number in linked_ids(user, "numbers") {
                links.entry(number).or_default().insert(id.clone());
            }
            let text = |name: &str| {
                user.get(name)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let name = text("name")
                .or_else(|| {
                    let full = format!(
                        "{} {}",
                        text("first_name").unwrap_or_default(),
                        text("last_name").unwrap_or_default()
                    );
                    Some(full.trim().to_string()).filter(|s| !s.is_empty())
                })
                .or_else(|| text("email"))
                .unwrap_or_else(|| format!("Aircall user {id}"));
            directory.users.push(DirectoryUser {
                external_id: id,
                name,
                email: text("email").unwrap_or_default(),
            });
        }

        let mut seen_numbers = BTreeSet::new();
        for number in &numbers {
            let Some(id) = number.get("id").and_then(id_text) else {
                directory.skipped.push(DirectorySkip {
                    external_id: String::new(),
                    reason: "a number without an id".into(),
                });
                continue;
            };
            if !seen_numbers.insert(id.clone()) {
                continue;
            }
            let digits = ["e164_digits", "digits"]
                .iter()
                .find_map(|f| number.get(*f).and_then(Value::as_str))
                .unwrap_or_default();
            let Some(e164) = phone(digits) else {
                directory.skipped.push(DirectorySkip {
                    external_id: id,
                    reason: format!("`{digits}` is not a valid phone number"),
                });
                continue;
            };
            let mut user_ids = links.remove(&id).unwrap_or_default();
            user_ids.extend(linked_ids(number, "users"));
            let user_ids = user_ids
                .into_iter()
                .filter(|u| seen_users.contains(u))
                .collect();
            let name = number
                .get("name")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map_or_else(|| e164.to_string(), str::to_string);
            let sms = self
                .config
                .sms_number_ids
                .as_ref()
                .is_none_or(|allowed| allowed.contains(&id));
            directory.numbers.push(DirectoryNumber {
                external_id: id,
                e164,
                name,
                sms,
                user_ids,
            });
        }
        Ok(directory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WebhookKind;

    fn config(extra: Value) -> Value {
        let mut c = json!({"api_id": "id-1", "api_token": "tok-1", "webhook_token": "hook-1"});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    }

    fn adapter(extra: Value) -> Aircall {
        Aircall::new(AircallConfig::from_json(&config(extra)).unwrap())
    }

    #[test]
    fn config_requires_credentials_and_names_each_bad_field() {
        assert_eq!(
            AircallConfig::from_json(&json!({"api_token": "t"})),
            Err(ConfigError::Field("api_id".into(), "is required".into()))
        );
        assert_eq!(
            AircallConfig::from_json(&json!({"api_id": "i"})),
            Err(ConfigError::Field("api_token".into(), "is required".into()))
        );
        for (extra, field) in [
            (json!({"requests_per_minute": 0}), "requests_per_minute"),
            (json!({"requests_per_minute": "60"}), "requests_per_minute"),
            (json!({"sms_number_ids": "1"}), "sms_number_ids"),
            (json!({"sms_number_ids": [true]}), "sms_number_ids"),
            (json!({"webhook_token": 7}), "webhook_token"),
            (json!({"base_url": "ftp://x"}), "base_url"),
        ] {
            match AircallConfig::from_json(&config(extra.clone())) {
                Err(ConfigError::Field(f, _)) => assert_eq!(f, field, "{extra}"),
                other => panic!("{extra}: {other:?}"),
            }
        }
        let c = AircallConfig::from_json(&config(
            json!({"base_url": "http://127.0.0.1:9/v1/", "sms_number_ids": [12, "13"]}),
        ))
        .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert_eq!(c.requests_per_minute, 60);
        assert_eq!(
            c.sms_number_ids,
            Some(["12".to_string(), "13".to_string()].into())
        );
        let shown = format!("{:?}", Aircall::new(c));
        assert!(
            !shown.contains("tok-1") && !shown.contains("hook-1"),
            "{shown}"
        );
    }

    #[test]
    fn r11_the_budget_is_60_requests_a_minute_unless_configured() {
        assert_eq!(adapter(json!({})).requests_per_minute(), Some(60));
        assert_eq!(
            adapter(json!({"requests_per_minute": 120})).requests_per_minute(),
            Some(120)
        );
        assert!(!adapter(json!({})).is_idempotent());
    }

    fn hook(body: Value) -> WebhookRequest {
        WebhookRequest {
            kind: WebhookKind::Status,
            url: "https://smsflow.example/webhooks/aircall/a/c/status".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn envelope(event: &str, token: &str, data: Value) -> Value {
        json!({"resource": "message", "event": event, "timestamp": 1_773_165_600, "token": token, "data": data})
    }

    #[test]
    fn r27_only_the_configured_token_is_accepted() {
        let a = adapter(json!({}));
        let data = json!({"id": "m1", "status": "delivered", "direction": "outbound"});
        assert_eq!(
            a.parse_webhook(&hook(envelope(
                "message.status_updated",
                "hook-1",
                data.clone()
            )))
            .unwrap()
            .len(),
            1
        );
        for token in ["hook-2", "hook-1 ", "", "HOOK-1"] {
            assert_eq!(
                a.parse_webhook(&hook(envelope(
                    "message.status_updated",
                    token,
                    data.clone()
                ))),
                Err(WebhookError::BadSignature),
                "{token:?}"
            );
        }
        let mut no_token = envelope("message.status_updated", "x", data.clone());
        no_token.as_object_mut().unwrap().remove("token");
        assert_eq!(
            a.parse_webhook(&hook(no_token)),
            Err(WebhookError::BadSignature)
        );
        let mut not_json = hook(json!({}));
        not_json.body = b"token=hook-1".to_vec();
        assert_eq!(a.parse_webhook(&not_json), Err(WebhookError::BadSignature));
        // No token configured yet: everything is refused.
        let unset = Aircall::new(
            AircallConfig::from_json(&json!({"api_id": "i", "api_token": "t"})).unwrap(),
        );
        assert_eq!(
            unset.parse_webhook(&hook(envelope("message.status_updated", "hook-1", data))),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn message_events_map_to_inbound_and_status_and_the_rest_is_ignored() {
        let a = adapter(json!({}));
        let inbound = envelope(
            "message.received",
            "hook-1",
            json!({
                "id": 987, "direction": "inbound", "external_number": "+1 415-555-0123",
                "body": "STOP", "channel": null, "status": "received",
                "number": {"id": 1, "digits": "+1 415-555-0100", "e164_digits": "+14155550100"},
            }),
        );
        assert_eq!(
            a.parse_webhook(&hook(inbound)).unwrap(),
            vec![WebhookEvent::Inbound {
                from: E164::parse("+14155550123", None).unwrap(),
                to: E164::parse("+14155550100", None).unwrap(),
                body: "STOP".into(),
                provider_message_id: Some("987".into()),
            }]
        );
        let sent = envelope(
            "message.sent",
            "hook-1",
            json!({"id": "m1", "direction": "outbound", "channel": null}),
        );
        assert_eq!(
            a.parse_webhook(&hook(sent)).unwrap(),
            vec![WebhookEvent::Status {
                provider_message_id: "m1".into(),
                status: MessageStatus::Sent,
                raw_status: "sent".into(),
                error_code: None,
            }]
        );
        let failed = envelope(
            "message.status_updated",
            "hook-1",
            json!({"id": "m1", "status": "failed", "error_code": 30003}),
        );
        assert!(matches!(
            &a.parse_webhook(&hook(failed)).unwrap()[0],
            WebhookEvent::Status { status: MessageStatus::Failed, error_code: Some(c), .. } if c == "aircall:30003"
        ));
        for ignored in [
            envelope(
                "message.received",
                "hook-1",
                json!({"id": "w1", "channel": "whatsapp", "external_number": "+14155550123"}),
            ),
            envelope("group_message.received", "hook-1", json!({"id": "g1"})),
            json!({"resource": "call", "event": "call.created", "timestamp": 1, "token": "hook-1", "data": {"id": 1}}),
        ] {
            assert_eq!(
                a.parse_webhook(&hook(ignored.clone())).unwrap(),
                vec![],
                "{ignored}"
            );
        }
        let broken = envelope("message.received", "hook-1", json!({"id": "m2"}));
        assert!(matches!(
            a.parse_webhook(&hook(broken)),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn statuses_are_normalised() {
        for (raw, want) in [
            ("pending", MessageStatus::Queued),
            ("sending", MessageStatus::Sending),
            ("sent", MessageStatus::Sent),
            ("delivered", MessageStatus::Delivered),
            ("Delivered", MessageStatus::Delivered),
            ("undelivered", MessageStatus::Undelivered),
            ("failed", MessageStatus::Failed),
            ("received", MessageStatus::Received),
            ("something_new", MessageStatus::Unknown),
        ] {
            assert_eq!(map_status(raw), want, "{raw}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_aircalls_reset_header() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        let now = 1_773_165_600;
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                &headers(&[("x-aircallapi-reset", &(now + 42).to_string())]),
                now
            ),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            retry_after(
                &headers(&[("x-aircallapi-reset", &((now + 3) * 1000).to_string())]),
                now
            ),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&headers(&[("x-aircallapi-reset", "12")]), now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(retry_after(&headers(&[]), now), None);
    }

    #[test]
    fn error_bodies_keep_aircalls_code_and_text() {
        assert_eq!(
            api_error(
                422,
                r#"{"error":"Invalid phone number","troubleshoot":"`to` must be E.164"}"#
            ),
            (
                "aircall:http_422".to_string(),
                "Invalid phone number: `to` must be E.164".to_string()
            )
        );
        assert_eq!(
            api_error(400, r#"{"code":"invalid_recipient","message":"bad to"}"#),
            (
                "aircall:invalid_recipient".to_string(),
                "bad to".to_string()
            )
        );
        assert_eq!(
            api_error(400, r#"{"error":{"code":"E12","message":"nope"}}"#),
            ("aircall:E12".to_string(), "nope".to_string())
        );
        assert_eq!(
            api_error(429, "slow down"),
            ("aircall:429".to_string(), "slow down".to_string())
        );
        assert_eq!(
            api_error(502, ""),
            ("aircall:http_502".to_string(), "HTTP 502".to_string())
        );
    }

    fn request(number_id: Option<&str>) -> SendRequest {
        SendRequest {
            idempotency_key: "key-1".into(),
            from: E164::parse("+14155550100", None).unwrap(),
            from_external_id: number_id.map(str::to_string),
            to: E164::parse("+14155550101", None).unwrap(),
            body: "Hello".into(),
            segments: 1,
        }
    }

    #[tokio::test]
    async fn r12_429_and_5xx_are_transient_4xx_permanent_and_an_unsynced_number_never_sends() {
        use smsflow_testkit::fakes::aircall::FakeAircall;
        let fake = FakeAircall::start().await;
        fake.add_number(101, "+1 415-555-0100", "Main line", &[]);
        let a = Aircall::new(AircallConfig::from_json(&fake.connection_config()).unwrap());

        let receipt = a.send(&request(Some("101"))).await.unwrap();
        assert_eq!(receipt.status, MessageStatus::Sent);
        assert_eq!(receipt.provider_message_id, fake.messages()[0].id);

        fake.fail_next(429, Some(7));
        let err = a.send(&request(Some("101"))).await.unwrap_err();
        assert!(err.is_rate_limited(), "{err:?}");
        assert!(
            matches!(&err, SendError::Transient { retry_after: Some(d), .. } if *d == Duration::from_secs(7)),
            "{err:?}"
        );
        fake.fail_next(503, None);
        let err = a.send(&request(Some("101"))).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Transient { code, .. } if code == "aircall:http_503"),
            "{err:?}"
        );
        assert!(!err.is_rate_limited() && !err.is_in_doubt());

        // Aircall's own 404 for a number it does not know.
        let err = a.send(&request(Some("999"))).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent { code, .. } if code == "aircall:http_404"),
            "{err:?}"
        );
        let err = a.send(&request(None)).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent { code, .. } if code == "aircall:number_not_synced"),
            "{err:?}"
        );
        let err = a.send(&request(Some("../users"))).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent { code, .. } if code == "aircall:invalid_number_id")
        );

        let mut wrong = fake.connection_config();
        wrong["api_token"] = json!("wrong");
        let wrong = Aircall::new(AircallConfig::from_json(&wrong).unwrap());
        let err = wrong.send(&request(Some("101"))).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent { code, .. } if code == "aircall:http_401"),
            "{err:?}"
        );
        assert_eq!(fake.messages().len(), 1, "only the first send went through");
    }

    #[tokio::test]
    async fn r12_an_accepted_send_whose_answer_is_unreadable_is_in_doubt_not_retried() {
        use axum::routing::post;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/v1/numbers/{id}/messages/native/send",
            post(|| async { "<html>OK</html>" }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let a = Aircall::new(
            AircallConfig::from_json(&json!({"api_id": "i", "api_token": "t", "base_url": base}))
                .unwrap(),
        );
        let err = a.send(&request(Some("101"))).await.unwrap_err();
        assert!(err.is_in_doubt(), "{err:?}");
        assert!(
            matches!(&err, SendError::Transient { code, .. } if code == "aircall:outcome_unknown")
        );
    }

    #[tokio::test]
    async fn r3_the_directory_follows_every_page_and_merges_links_from_both_sides() {
        use smsflow_testkit::fakes::aircall::FakeAircall;
        let fake = FakeAircall::start().await;
        fake.set_page_size(2);
        for (id, name) in [(1, "Ada"), (2, "Bob"), (3, "Cy")] {
            fake.add_user(id, name, &format!("{}@example.com", name.to_lowercase()));
        }
        fake.add_number(101, "+1 415-555-0100", "Main", &[1]);
        fake.add_number(102, "+1 415-555-0102", "Support", &[2, 3]);
        fake.add_number(103, "+1 415-555-0103", "Sales", &[]);
        fake.add_number(104, "not a number", "Broken", &[]);
        // Linked from the user's side only.
        fake.link_from_user_only(3, 103);

        let mut config = fake.connection_config();
        config["sms_number_ids"] = json!([101, 102, 103]);
        let a = Aircall::new(AircallConfig::from_json(&config).unwrap());
        let d = a.directory().await.unwrap();
        assert_eq!(d.requests, 4, "two pages of numbers, two of users");
        assert_eq!(
            d.numbers
                .iter()
                .map(|n| (
                    n.external_id.as_str(),
                    n.e164.as_str(),
                    n.sms,
                    n.user_ids.clone()
                ))
                .collect::<Vec<_>>(),
            vec![
                ("101", "+14155550100", true, vec!["1".to_string()]),
                (
                    "102",
                    "+14155550102",
                    true,
                    vec!["2".to_string(), "3".to_string()]
                ),
                ("103", "+14155550103", true, vec!["3".to_string()]),
            ]
        );
        assert_eq!(d.users.len(), 3);
        assert_eq!(d.users[0].email, "ada@example.com");
        assert_eq!(d.skipped.len(), 1);
        assert_eq!(d.skipped[0].external_id, "104");

        config["sms_number_ids"] = json!([101]);
        let only_one = Aircall::new(AircallConfig::from_json(&config).unwrap());
        let d = only_one.directory().await.unwrap();
        assert_eq!(
            d.numbers.iter().filter(|n| n.sms).count(),
            1,
            "only the listed number is SMS-capable"
        );

        let mut wrong = fake.connection_config();
        wrong["api_token"] = json!("wrong");
        let err = Aircall::new(AircallConfig::from_json(&wrong).unwrap())
            .directory()
            .await
            .unwrap_err();
        assert!(
            matches!(err, DirectoryError::Unauthorized { .. }),
            "{err:?}"
        );
    }
}
