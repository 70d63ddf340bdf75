//! Twilio Programmable Messaging.
//!
//! Send: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! form-encoded `To`, `From` (or `MessagingServiceSid`), `Body` and
//! `StatusCallback` (this connection's status webhook), HTTP Basic auth
//! `AccountSid:AuthToken`. The answer is JSON with the message `sid`.
//!
//! Errors: 429, 5xx and network failures are transient (`Retry-After`
//! honoured); any other 4xx is permanent. Twilio's own error `code` is kept
//! as `twilio:<code>` (21211 invalid `To`, 21610 unsubscribed recipient, …).
//!
//! Webhooks (status callbacks and inbound messages) are form POSTs signed
//! with `X-Twilio-Signature` = base64(HMAC-SHA1(AuthToken, URL as called +
//! every POST parameter sorted by name, as `name` + `value`)), compared in
//! constant time (R27). Parameters Twilio adds later are signed too, so the
//! signature covers whatever was posted, not a fixed list.
//!
//! Twilio takes no idempotency key and cannot be asked "did you get the
//! message with key K?": a listing by `To`/`From`/date cannot tell two
//! messages with the same body apart. So [`Provider::is_idempotent`] is
//! false and [`Provider::lookup`] answers `None`: a hand-off whose outcome
//! is unknown is marked `unknown`, never sent again (R12).

use crate::{
    Provider, SendError, SendReceipt, SendRequest, WebhookError, WebhookEvent, WebhookKind,
    WebhookRequest,
};
use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use smsflow_core::message::MessageStatus;
use smsflow_core::phone::E164;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The public Twilio API; `config.base_url` replaces it (tests, proxies).
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

#[derive(Clone)]
pub struct Twilio {
    client: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: String,
    messaging_service_sid: Option<String>,
    status_callback: String,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("status_callback", &self.status_callback)
            .finish()
    }
}

impl Twilio {
    /// `webhook_base` is the connection's webhook prefix; status callbacks
    /// go to `{webhook_base}/status`.
    pub fn new(
        base_url: impl Into<String>,
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
        messaging_service_sid: Option<String>,
        webhook_base: &str,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client without custom TLS roots always builds");
        Self {
            client,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            messaging_service_sid,
            status_callback: format!("{}/status", webhook_base.trim_end_matches('/')),
        }
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url, self.account_sid
        )
    }
}

/// Twilio's message status words, normalised.
pub fn map_status(status: &str) -> MessageStatus {
    match status {
        "queued" | "accepted" | "scheduled" => MessageStatus::Queued,
        "sending" => MessageStatus::Sending,
        "sent" => MessageStatus::Sent,
        "delivered" | "read" => MessageStatus::Delivered,
        "undelivered" => MessageStatus::Undelivered,
        "failed" | "canceled" => MessageStatus::Failed,
        "receiving" | "received" => MessageStatus::Received,
        _ => MessageStatus::Unknown,
    }
}

/// The `X-Twilio-Signature` of a form POST to `url`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(serde::Deserialize)]
struct Created {
    sid: String,
    #[serde(default)]
    status: Option<String>,
}

#[derive(serde::Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

fn transport_error(e: &reqwest::Error) -> SendError {
    SendError::Transient {
        code: if e.is_timeout() {
            "twilio:timeout".into()
        } else {
            "twilio:connect".into()
        },
        message: e.to_string(),
        retry_after: None,
    }
}

#[async_trait]
impl Provider for Twilio {
    fn kind(&self) -> &str {
        "twilio"
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, SendError> {
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("To", request.to.as_str());
            match &self.messaging_service_sid {
                Some(service) => form.append_pair("MessagingServiceSid", service),
                None => form.append_pair("From", request.from.as_str()),
            };
            form.append_pair("Body", &request.body);
            form.append_pair("StatusCallback", &self.status_callback);
            form.finish()
        };
        let response = self
            .client
            .post(self.messages_url())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            let created: Created = response.json().await.map_err(|e| SendError::Transient {
                code: "twilio:bad_response".into(),
                message: e.to_string(),
                retry_after: None,
            })?;
            // Twilio answers `queued`/`accepted`; the message has been
            // handed off, which smsflow calls `sent` until a callback says
            // more. A `failed` answer is kept as such.
            let status = match created.status.as_deref().map(map_status) {
                Some(MessageStatus::Failed) => MessageStatus::Failed,
                Some(MessageStatus::Delivered) => MessageStatus::Delivered,
                _ => MessageStatus::Sent,
            };
            return Ok(SendReceipt {
                provider_message_id: created.sid,
                status,
            });
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let parsed: Option<ApiError> = serde_json::from_str(&text).ok();
        let code = match parsed.as_ref().and_then(|e| e.code) {
            Some(c) => format!("twilio:{c}"),
            None => format!("twilio:http_{}", status.as_u16()),
        };
        let message = parsed.and_then(|e| e.message).unwrap_or(text);
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
        let given = request
            .header("x-twilio-signature")
            .ok_or(WebhookError::BadSignature)?;
        let params: Vec<(String, String)> = form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let expected = signature(&self.auth_token, &request.url, &params);
        if !bool::from(expected.as_bytes().ct_eq(given.trim().as_bytes())) {
            return Err(WebhookError::BadSignature);
        }
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let require = |name: &str| {
            get(name).ok_or_else(|| WebhookError::Malformed(format!("{name} is missing")))
        };
        let sid = require("MessageSid")
            .or_else(|_| require("SmsSid"))?
            .to_string();
        match request.kind {
            WebhookKind::Status => {
                let raw = require("MessageStatus")
                    .or_else(|_| require("SmsStatus"))?
                    .to_string();
                Ok(vec![WebhookEvent::Status {
                    provider_message_id: sid,
                    status: map_status(&raw),
                    raw_status: raw,
                    error_code: get("ErrorCode")
                        .filter(|c| *c != "0")
                        .map(|c| format!("twilio:{c}")),
                }])
            }
            WebhookKind::Inbound => {
                let phone = |name: &str| {
                    E164::parse(require(name)?, None)
                        .map_err(|e| WebhookError::Malformed(format!("{name}: {e}")))
                };
                Ok(vec![WebhookEvent::Inbound {
                    from: phone("From")?,
                    to: phone("To")?,
                    body: get("Body").unwrap_or_default().to_string(),
                    provider_message_id: Some(sid),
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_twilios_documented_example() {
        // The example from Twilio's "Webhooks security" page.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    fn request() -> SendRequest {
        SendRequest {
            idempotency_key: "key-1".into(),
            from: E164::parse("+14155550100", None).unwrap(),
            from_external_id: None,
            to: E164::parse("+14155550101", None).unwrap(),
            body: "Hello & welcome".into(),
            segments: 1,
        }
    }

    #[tokio::test]
    async fn r12_429_and_5xx_are_transient_with_retry_after_and_4xx_permanent_with_twilios_code() {
        use smsflow_testkit::fakes::twilio::{FakeTwilio, ACCOUNT_SID, AUTH_TOKEN};
        let fake = FakeTwilio::start().await;
        let twilio = Twilio::new(
            fake.base_url.clone(),
            ACCOUNT_SID,
            AUTH_TOKEN,
            None,
            "https://x.example/wh",
        );
        fake.fail_next(429, 20429, Some(7));
        let err = twilio.send(&request()).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Transient { code, retry_after: Some(d), .. } if code == "twilio:20429" && *d == Duration::from_secs(7)),
            "{err:?}"
        );
        fake.fail_next(503, 20500, None);
        assert!(matches!(
            twilio.send(&request()).await,
            Err(SendError::Transient { .. })
        ));
        fake.fail_next(400, 21211, None);
        let err = twilio.send(&request()).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent { code, .. } if code == "twilio:21211"),
            "{err:?}"
        );
        let wrong = Twilio::new(
            fake.base_url.clone(),
            ACCOUNT_SID,
            "wrong",
            None,
            "https://x.example/wh",
        );
        let err = wrong.send(&request()).await.unwrap_err();
        assert!(
            matches!(&err, SendError::Permanent { code, .. } if code == "twilio:20003"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_messaging_service_sends_instead_of_from() {
        use smsflow_testkit::fakes::twilio::{FakeTwilio, ACCOUNT_SID, AUTH_TOKEN};
        let fake = FakeTwilio::start().await;
        let service = Some("MG0123456789abcdef0123456789abcdef".to_string());
        let twilio = Twilio::new(
            fake.base_url.clone(),
            ACCOUNT_SID,
            AUTH_TOKEN,
            service,
            "https://x.example/wh/",
        );
        let receipt = twilio.send(&request()).await.unwrap();
        assert_eq!(receipt.status, MessageStatus::Sent);
        let sent = &fake.requests()[0];
        assert_eq!(
            sent.field_names(),
            vec!["Body", "MessagingServiceSid", "StatusCallback", "To"]
        );
        assert_eq!(sent.field("Body"), Some("Hello & welcome"));
        assert_eq!(
            sent.field("StatusCallback"),
            Some("https://x.example/wh/status")
        );
        assert_eq!(receipt.provider_message_id, fake.messages()[0].sid);
    }

    #[test]
    fn statuses_are_normalised() {
        for (raw, want) in [
            ("accepted", MessageStatus::Queued),
            ("scheduled", MessageStatus::Queued),
            ("sending", MessageStatus::Sending),
            ("sent", MessageStatus::Sent),
            ("read", MessageStatus::Delivered),
            ("undelivered", MessageStatus::Undelivered),
            ("canceled", MessageStatus::Failed),
            ("something_new", MessageStatus::Unknown),
        ] {
            assert_eq!(map_status(raw), want, "{raw}");
        }
    }
}
