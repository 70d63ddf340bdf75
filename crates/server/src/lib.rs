//! The smsflow HTTP API. [`router`] builds the whole application so tests
//! can drive it over a real socket or with `oneshot`; handlers are thin:
//! extract, parse, call the engine, answer.
#![forbid(unsafe_code)]

mod api;
mod error;
mod extract;
mod hubspot;
mod webhooks;

pub use error::ApiError;

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
    Router::new()
        .nest("/api/v1", api::v1::router())
        .merge(webhooks::router())
        .merge(hubspot::router())
        .route("/healthz", get(|| async { "ok" }))
        .fallback(no_such_path)
        .method_not_allowed_fallback(no_such_method)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(json_payload_too_large))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// An unknown path answers our JSON error shape (R28), not axum's empty 404.
async fn no_such_path(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint {method} {}", uri.path()),
    )
}

/// A known path asked with a method it does not take: 405 in our JSON error
/// shape; axum still adds the `Allow` header.
async fn no_such_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}", uri.path()),
    )
}

/// The body limit layer answers an oversized request (one whose
/// `Content-Length` is over the limit) with plain text before any handler
/// runs; R28 wants our JSON error shape for every 4xx.
async fn json_payload_too_large(response: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() != axum::http::StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return response;
    }
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "request body is too large; the limit is {} MiB",
            MAX_BODY_BYTES / (1024 * 1024)
        ),
    )
    .into_response()
}
