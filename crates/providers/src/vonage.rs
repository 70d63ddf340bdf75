//! Vonage Messages API (SMS channel).
//!
//! Send: `POST {base}/v1/messages`, JSON `{message_type: "text", channel:
//! "sms", to, from, text, client_ref}` with HTTP Basic auth
//! `api_key:api_secret`; numbers go without the leading `+`, as Vonage
//! writes them. `client_ref` carries the idempotency key so it comes back
//! on status webhooks. The answer is 202 `{message_uuid}`.
//!
//! Errors (RFC 7807 bodies, `type` ending in `#<code>`): 429, 5xx and
//! network failures are transient (`Retry-After` honoured), other 4xx are
//! permanent; the code is kept as `vonage:<code>`.
//!
//! Webhooks are JSON, signed with `Authorization: Bearer <JWT>` — HS256
//! with the account's signature secret, claims `iat` and `payload_hash`
//! (hex SHA-256 of the body). A token that does not verify, whose hash does
//! not match the body, or that is older than five minutes is refused (R27).
//!
//! Vonage does not deduplicate on `client_ref` and cannot be asked for a
//! message by it, so [`Provider::is_idempotent`] is false and
//! [`Provider::lookup`] answers `None`: an unknown hand-off is marked
//! `unknown`, never sent again (R12).

use crate::{
    Provider, SendError, SendReceipt, SendRequest, WebhookError, WebhookEvent, WebhookKind,
    WebhookRequest,
};
use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use smsflow_core::message::MessageStatus;
use smsflow_core::phone::E164;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The public Vonage API; `config.base_url` replaces it (tests, proxies).
pub const DEFAULT_BASE_URL: &str = "https://api.nexmo.com";

/// How old a webhook token may be.
pub const MAX_TOKEN_AGE_SECS: i64 = 300;

#[derive(Clone)]
pub struct Vonage {
    client: reqwest::Client,
    base_url: String,
    api_key: String,
    api_secret: String,
    signature_secret: String,
}

impl std::fmt::Debug for Vonage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vonage")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("api_secret", &"<redacted>")
            .field("signature_secret", &"<redacted>")
            .finish()
    }
}

impl Vonage {
    pub fn new(
        base_url: impl Into<String>,
        api_key: impl Into<String>,
        api_secret: impl Into<String>,
        signature_secret: impl Into<String>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client without custom TLS roots always builds");
        Self {
            client,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            signature_secret: signature_secret.into(),
        }
    }

    /// [`Provider::parse_webhook`] with the current time given, in Unix
    /// seconds.
    pub fn parse_webhook_at(
        &self,
        request: &WebhookRequest,
        now: i64,
    ) -> Result<Vec<WebhookEvent>, WebhookError> {
        self.verify(request, now)?;
        let body: Value = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
        let text = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let require = |name: &str| {
            text(name).ok_or_else(|| WebhookError::Malformed(format!("{name} is missing")))
        };
        let uuid = require("message_uuid")?.to_string();
        match request.kind {
            WebhookKind::Status => {
                let raw = require("status")?.to_string();
                Ok(vec![WebhookEvent::Status {
                    provider_message_id: uuid,
                    status: map_status(&raw),
                    raw_status: raw,
                    error_code: body.get("error").and_then(error_code),
                }])
            }
            WebhookKind::Inbound => {
                if text("channel").is_some_and(|c| c != "sms") {
                    return Ok(Vec::new());
                }
                let phone = |name: &str| {
                    let digits = require(name)?;
                    let e164 = if digits.starts_with('+') {
                        digits.to_string()
                    } else {
                        format!("+{digits}")
                    };
                    E164::parse(&e164, None)
                        .map_err(|e| WebhookError::Malformed(format!("{name}: {e}")))
                };
                Ok(vec![WebhookEvent::Inbound {
                    from: phone("from")?,
                    to: phone("to")?,
                    body: text("text").unwrap_or_default().to_string(),
                    provider_message_id: Some(uuid),
                }])
            }
        }
    }

    /// Checks the bearer JWT: HS256 signature, `payload_hash`, `iat` age.
    fn verify(&self, request: &WebhookRequest, now: i64) -> Result<(), WebhookError> {
        let auth = request
            .header("authorization")
            .ok_or(WebhookError::BadSignature)?;
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
            .ok_or(WebhookError::BadSignature)?
            .trim();
        let claims =
            verify_hs256(&self.signature_secret, token).ok_or(WebhookError::BadSignature)?;
        let hash = hex::encode(Sha256::digest(&request.body));
        let claimed = claims
            .get("payload_hash")
            .and_then(Value::as_str)
            .ok_or(WebhookError::BadSignature)?;
        if !bool::from(
            claimed
                .to_ascii_lowercase()
                .as_bytes()
                .ct_eq(hash.as_bytes()),
        ) {
            return Err(WebhookError::BadSignature);
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(WebhookError::BadSignature)?;
        // Stale, or from a clock far in the future.
        if now - iat > MAX_TOKEN_AGE_SECS || iat - now > MAX_TOKEN_AGE_SECS {
            return Err(WebhookError::BadSignature);
        }
        Ok(())
    }
}

/// The claims of an HS256 JWT signed with `secret`, or `None` when the
/// token is malformed, uses another algorithm or does not verify.
fn verify_hs256(secret: &str, token: &str) -> Option<serde_json::Map<String, Value>> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let decoded: Value = serde_json::from_slice(&b64.decode(header).ok()?).ok()?;
    if decoded.get("alg").and_then(Value::as_str) != Some("HS256") {
        return None;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(format!("{header}.{claims}").as_bytes());
    mac.verify_slice(&b64.decode(signature.trim_end_matches('=')).ok()?)
        .ok()?;
    match serde_json::from_slice(&b64.decode(claims).ok()?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Vonage's message status words, normalised.
pub fn map_status(status: &str) -> MessageStatus {
    match status {
        "submitted" => MessageStatus::Sent,
        "delivered" | "read" => MessageStatus::Delivered,
        "undeliverable" => MessageStatus::Undelivered,
        "rejected" => MessageStatus::Failed,
        _ => MessageStatus::Unknown,
    }
}

/// `vonage:<code>` from a status webhook's `error`: either
/// `{type: ".../errors#1320", title}` or the older `{code, reason}`.
fn error_code(error: &Value) -> Option<String> {
    if let Some(code) = error.get("code") {
        let code = code
            .as_i64()
            .map(|c| c.to_string())
            .or_else(|| code.as_str().map(str::to_string))?;
        return Some(format!("vonage:{code}"));
    }
    let kind = error.get("type").and_then(Value::as_str)?;
    Some(format!(
        "vonage:{}",
        kind.rsplit('#').next().unwrap_or(kind)
    ))
}

/// Digits only, as Vonage writes numbers.
fn digits(e164: &E164) -> &str {
    e164.as_str().trim_start_matches('+')
}

#[derive(Deserialize)]
struct Accepted {
    message_uuid: String,
}

#[async_trait]
impl Provider for Vonage {
    fn kind(&self) -> &str {
        "vonage"
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, SendError> {
        let response = self
            .client
            .post(format!("{}/v1/messages", self.base_url))
            .basic_auth(&self.api_key, Some(&self.api_secret))
            .json(&serde_json::json!({
                "message_type": "text",
                "channel": "sms",
                "to": digits(&request.to),
                "from": digits(&request.from),
                "text": request.body,
                "client_ref": request.idempotency_key,
            }))
            .send()
            .await
            .map_err(|e| SendError::Transient {
                code: if e.is_timeout() {
                    "vonage:timeout".into()
                } else {
                    "vonage:connect".into()
                },
                message: e.to_string(),
                retry_after: None,
            })?;
        let status = response.status();
        if status.is_success() {
            let accepted: Accepted = response.json().await.map_err(|e| SendError::Transient {
                code: "vonage:bad_response".into(),
                message: e.to_string(),
                retry_after: None,
            })?;
            return Ok(SendReceipt {
                provider_message_id: accepted.message_uuid,
                status: MessageStatus::Sent,
            });
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let problem: Option<Value> = serde_json::from_str(&text).ok();
        let code = problem
            .as_ref()
            .and_then(|p| p.get("type").and_then(Value::as_str))
            .and_then(|t| t.rsplit_once('#').map(|(_, c)| c.to_string()))
            .map(|c| format!("vonage:{c}"))
            .unwrap_or_else(|| format!("vonage:http_{}", status.as_u16()));
        let message = problem
            .as_ref()
            .and_then(|p| {
                let title = p.get("title").and_then(Value::as_str)?;
                Some(match p.get("detail").and_then(Value::as_str) {
                    Some(detail) => format!("{title}: {detail}"),
                    None => title.to_string(),
                })
            })
            .unwrap_or(text);
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Transient {
                code,
                message,
                retry_after,
            })
        } else {
            Err(SendError::Permanent { code, message })
        }
    }

    fn parse_webhook(&self, request: &WebhookRequest) -> Result<Vec<WebhookEvent>, WebhookError> {
        self.parse_webhook_at(request, chrono::Utc::now().timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(secret: &str, claims: &Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let head = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = b64.encode(claims.to_string());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{head}.{body}").as_bytes());
        format!("{head}.{body}.{}", b64.encode(mac.finalize().into_bytes()))
    }

    fn status_request(token: &str, body: &str) -> WebhookRequest {
        WebhookRequest {
            kind: WebhookKind::Status,
            url: "https://smsflow.example/webhooks/vonage/a/c/status".into(),
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            body: body.as_bytes().to_vec(),
        }
    }

    const NOW: i64 = 1_773_165_600;

    #[test]
    fn r27_a_fresh_token_over_the_body_verifies_and_a_stale_or_foreign_one_does_not() {
        let v = Vonage::new(DEFAULT_BASE_URL, "key", "secret", "sigsecret");
        let body = r#"{"message_uuid":"m-1","status":"rejected","error":{"type":"https://developer.vonage.com/api-errors/messages#1320","title":"Not enough credit"}}"#;
        let hash = hex::encode(Sha256::digest(body.as_bytes()));
        let good = jwt(
            "sigsecret",
            &serde_json::json!({"iat": NOW - 10, "payload_hash": hash}),
        );
        let events = v
            .parse_webhook_at(&status_request(&good, body), NOW)
            .unwrap();
        assert_eq!(
            events,
            vec![WebhookEvent::Status {
                provider_message_id: "m-1".into(),
                status: MessageStatus::Failed,
                raw_status: "rejected".into(),
                error_code: Some("vonage:1320".into()),
            }]
        );
        let stale = jwt(
            "sigsecret",
            &serde_json::json!({"iat": NOW - 301, "payload_hash": hash}),
        );
        let foreign = jwt(
            "other",
            &serde_json::json!({"iat": NOW, "payload_hash": hash}),
        );
        let other_body = jwt(
            "sigsecret",
            &serde_json::json!({"iat": NOW, "payload_hash": hex::encode(Sha256::digest(b"{}"))}),
        );
        for token in [stale, foreign, other_body, "not.a.jwt".to_string()] {
            assert_eq!(
                v.parse_webhook_at(&status_request(&token, body), NOW),
                Err(WebhookError::BadSignature),
                "{token}"
            );
        }
    }

    #[tokio::test]
    async fn r12_429_is_transient_with_retry_after_and_4xx_permanent_with_vonages_code() {
        use smsflow_testkit::fakes::vonage::{FakeVonage, API_KEY, API_SECRET};
        let fake = FakeVonage::start().await;
        let vonage = Vonage::new(fake.base_url.clone(), API_KEY, API_SECRET, "s");
        let request = SendRequest {
            idempotency_key: "key-1".into(),
            from: E164::parse("+14155550100", None).unwrap(),
            from_external_id: None,
            to: E164::parse("+14155550101", None).unwrap(),
            body: "Hello".into(),
            segments: 1,
        };
        fake.fail_next(429, 1000, Some(3));
        let err = vonage.send(&request).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Transient { code, retry_after: Some(d), .. } if code == "vonage:1000" && *d == Duration::from_secs(3)),
            "{err:?}"
        );
        let wrong = Vonage::new(fake.base_url.clone(), API_KEY, "wrong", "s");
        let err = wrong.send(&request).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent { code, .. } if code == "vonage:1010"),
            "{err:?}"
        );
        let receipt = vonage.send(&request).await.unwrap();
        assert_eq!(receipt.provider_message_id, fake.messages()[0].message_uuid);
        assert_eq!(fake.messages()[0].client_ref.as_deref(), Some("key-1"));
    }

    #[test]
    fn statuses_are_normalised() {
        assert_eq!(map_status("submitted"), MessageStatus::Sent);
        assert_eq!(map_status("delivered"), MessageStatus::Delivered);
        assert_eq!(map_status("undeliverable"), MessageStatus::Undelivered);
        assert_eq!(map_status("rejected"), MessageStatus::Failed);
    }
}
