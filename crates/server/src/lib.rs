//! The smsflow HTTP API. [`router`] builds the whole application so tests
//! can drive it over a real socket or with `oneshot`; handlers are thin:
//! extract, parse, call the engine, answer.
#![forbid(unsafe_code)]

mod api;
mod error;
mod extract;
mod hubspot;
mod openapi;
mod webhooks;

pub use error::ApiError;

use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use smsflow_engine::Engine;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// Request bodies above this are refused with 413 (R28).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// SHA-256 of the server admin token.
    admin_token_hash: Arc<[u8; 32]>,
}

impl AppState {
    pub fn new(engine: Engine, admin_token: &str) -> Self {
        Self {
            engine,
            admin_token_hash: Arc::new(Sha256::digest(admin_token.as_bytes()).into()),
        }
    }

    fn is_admin(&self, token: &str) -> bool {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        hash.ct_eq(&*self.admin_token_hash).into()
    }
}

pub fn router(state: AppState) -> Router {
    let (api, description) = utoipa_axum::router::OpenApiRouter::default()
        .nest("/api/v1", api::v1::router())
        .split_for_parts();
    let description = axum::Json(openapi::finish(description));
    Router::new()
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move || std::future::ready(description.clone())),
        )
        .merge(webhooks::router())
        .merge(hubspot::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(json_client_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// This node's counters for Prometheus. Served without a token, like
/// `/healthz`: no metric names an account, record or phone.
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.engine.metrics_text(),
    )
        .into_response()
}

/// Rejections made outside our handlers answer empty or plain text: axum's
/// 404 for an unknown path and 405 for a method a path does not take, the
/// body limit layer refusing a request by its `Content-Length`, axum's
/// extractors refusing a path segment that is not UTF-8, … R28 wants our
/// JSON error shape for every 4xx, so any other 4xx is rewritten into it,
/// keeping its status, its text as the message and its other headers
/// (`Allow`).
async fn json_client_errors(request: axum::extract::Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "request body is too large; the limit is {} MiB",
            MAX_BODY_BYTES / (1024 * 1024)
        ),
        StatusCode::NOT_FOUND if text.is_empty() => format!("no endpoint {method} {path}"),
        StatusCode::METHOD_NOT_ALLOWED if text.is_empty() => {
            format!("{path} does not take {method}")
        }
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("client error")
            .to_string(),
        _ => text,
    };
    let mut answer = ApiError::new(status, error_code(status), message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

/// The error code of a 4xx made outside our handlers.
fn error_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        _ => "bad_request",
    }
}
