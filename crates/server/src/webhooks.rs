//! Provider webhooks: `POST /webhooks/{kind}/{account_id}/{connection_id}/{inbound|status}`.
//! No bearer token: the provider's signature scheme authenticates the call
//! (R27), checked by the adapter over the raw request.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use smsflow_core::ids::AccountId;
use smsflow_providers::{WebhookKind, WebhookRequest};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/webhooks/{kind}/{account}/{connection}/{event}",
        post(receive),
    )
}

async fn receive(
    State(s): State<AppState>,
    Path((kind, account, connection, event)): Path<(String, String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let event = match event.as_str() {
        "inbound" => WebhookKind::Inbound,
        "status" => WebhookKind::Status,
        _ => return Err(ApiError::not_found("webhook")),
    };
    // Signatures cover the URL the provider was given: our public URL.
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!(
        "{}{}",
        s.engine.public_url().trim_end_matches('/'),
        path_and_query
    );
    let request = WebhookRequest {
        kind: event,
        url,
        headers: headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))
            })
            .collect(),
        body: body.to_vec(),
    };
    let n = s
        .engine
        .handle_webhook(
            &AccountId::from_string(account),
            &kind,
            &connection,
            request,
        )
        .await?;
    if kind == "twilio" {
        // Twilio expects TwiML; an empty response sends no auto-reply
        // (ours, if any, goes through the outbox).
        return Ok((
            [(axum::http::header::CONTENT_TYPE, "text/xml")],
            "<Response/>",
        )
            .into_response());
    }
    Ok(Json(json!({"received": n})).into_response())
}
