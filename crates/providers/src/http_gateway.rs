//! A generic HTTP SMS gateway: one JSON POST per message, for self-hosted
//! gateways and for load tests against a local server.
//!
//! Request: `POST {url}` with header `Idempotency-Key` and body
//! `{"idempotency_key", "from", "to", "body", "segments"}`; optional bearer
//! token. Response 2xx `{"id": "...", "status"?: "sent"|"queued"}`. 429 and
//! 5xx are transient (Retry-After honoured), other 4xx permanent.

use crate::{Provider, SendError, SendReceipt, SendRequest};
use async_trait::async_trait;
use reqwest::Url;
use smsflow_core::message::MessageStatus;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct HttpGateway {
    client: reqwest::Client,
    /// Parsed once: parsing it for every request was ~2 % of a hand-off's
    /// instructions.
    url: Url,
    token: Option<String>,
}

impl HttpGateway {
    pub fn new(url: Url, token: Option<String>) -> Self {
        Self::with_timeout(url, token, Duration::from_secs(30))
    }

    /// A gateway whose requests give up after `timeout` (reported as a
    /// transient `timeout`; the idempotency key makes the retry safe).
    pub fn with_timeout(url: Url, token: Option<String>, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(256)
            .build()
            .expect("a client without custom TLS roots always builds");
        Self { client, url, token }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// `text` as a gateway URL: http or https, with a host.
pub fn http_url(text: &str) -> Option<Url> {
    Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

#[derive(serde::Deserialize)]
struct Accepted {
    id: String,
    #[serde(default)]
    status: Option<String>,
}

#[async_trait]
impl Provider for HttpGateway {
    fn kind(&self) -> &str {
        "http"
    }

    /// The gateway contract asks servers to deduplicate on the
    /// `Idempotency-Key` header.
    fn is_idempotent(&self) -> bool {
        true
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, SendError> {
        let mut call = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", &request.idempotency_key)
            .json(&serde_json::json!({
                "idempotency_key": request.idempotency_key,
                "from": request.from.as_str(),
                "to": request.to.as_str(),
                "body": request.body,
                "segments": request.segments,
            }));
        if let Some(token) = &self.token {
            call = call.bearer_auth(token);
        }
        let response = call.send().await.map_err(|e| SendError::Transient {
            code: if e.is_timeout() {
                "timeout".into()
            } else {
                "connect".into()
            },
            message: e.to_string(),
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            let accepted: Accepted = response.json().await.map_err(|e| SendError::Transient {
                code: "bad_response".into(),
                message: e.to_string(),
                retry_after: None,
            })?;
            let status = match accepted.status.as_deref() {
                Some("queued") => MessageStatus::Queued,
                Some("delivered") => MessageStatus::Delivered,
                _ => MessageStatus::Sent,
            };
            return Ok(SendReceipt {
                provider_message_id: accepted.id,
                status,
            });
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let code = status.as_u16().to_string();
        let message = response.text().await.unwrap_or_default();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::{Json, Router};
    use smsflow_core::phone::E164;

    async fn serve(router: Router) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Url::parse(&format!("http://{addr}/send")).unwrap()
    }

    fn req() -> SendRequest {
        SendRequest {
            idempotency_key: "key-1".into(),
            from: E164::parse("+14155550100", None).unwrap(),
            from_external_id: None,
            to: E164::parse("+14155550101", None).unwrap(),
            body: "Hello".into(),
            segments: 1,
        }
    }

    #[tokio::test]
    async fn sends_json_with_idempotency_key_and_reads_the_id() {
        let url = serve(Router::new().route(
            "/send",
            post(
                |headers: HeaderMap, Json(body): Json<serde_json::Value>| async move {
                    assert_eq!(headers["idempotency-key"], "key-1");
                    assert_eq!(headers["authorization"], "Bearer secret");
                    assert_eq!(body["to"], "+14155550101");
                    assert_eq!(body["body"], "Hello");
                    Json(serde_json::json!({"id": "gw-1"}))
                },
            ),
        ))
        .await;
        let receipt = HttpGateway::new(url, Some("secret".into()))
            .send(&req())
            .await
            .unwrap();
        assert_eq!(receipt.provider_message_id, "gw-1");
        assert_eq!(receipt.status, MessageStatus::Sent);
    }

    #[tokio::test]
    async fn r12_429_is_transient_with_retry_after_and_400_is_permanent() {
        let url = serve(Router::new().route(
            "/send",
            post(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "7")],
                    "slow down",
                )
            }),
        ))
        .await;
        let err = HttpGateway::new(url, None).send(&req()).await.unwrap_err();
        assert_eq!(
            err,
            SendError::Transient {
                code: "429".into(),
                message: "slow down".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let url = serve(Router::new().route(
            "/send",
            post(|| async { (StatusCode::BAD_REQUEST, "bad number") }),
        ))
        .await;
        let err = HttpGateway::new(url, None).send(&req()).await.unwrap_err();
        assert!(matches!(err, SendError::Permanent { code, .. } if code == "400"));
    }
}
