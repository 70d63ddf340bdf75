//! The sandbox provider's control surface: what was "sent", and simulated
//! inbound messages and status callbacks.

use super::messages::message_filter;
use super::views::{List, Message};
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, ListParams, Paging};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::message::Direction;
use smsflow_engine::InboundInput;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(outbox))
        .routes(routes!(inbound))
        .routes(routes!(status))
}

/// Outbound messages handed to the sandbox provider, oldest first.
#[utoipa::path(
    get,
    path = "/sandbox/outbox",
    tag = "sandbox",
    operation_id = "sandbox_outbox",
    params(Paging),
    responses((status = 200, description = "OK", body = List<Message>))
)]
async fn outbox(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<List<Message>>> {
    let mut filter = message_filter(&p)?;
    filter.provider = Some("sandbox".into());
    filter.direction = Some(Direction::Outbound);
    let mut page = s
        .engine
        .list_messages(&a, &filter, p.after.as_deref(), p.limit)
        .await?;
    page.results.retain(|m| m.handed_off_at.is_some());
    Ok(Json(List::page(page)))
}

/// Simulates an inbound SMS to one of the account's numbers (STOP, replies, triggers).
#[utoipa::path(
    post,
    path = "/sandbox/inbound",
    tag = "sandbox",
    operation_id = "sandbox_inbound",
    request_body(content = InboundInput, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Message))
)]
async fn inbound(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<InboundInput>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let m = s.engine.sandbox_inbound(&a, input).await?;
    Ok((StatusCode::CREATED, Json(Message::from(&m))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    #[schema(value_type = Option<String>)]
    message_id: Option<Value>,
    /// The status the provider reports: sent, delivered, undelivered, failed.
    #[schema(value_type = Option<String>)]
    status: Option<Value>,
}

/// Simulates a provider status callback for a sandbox message (R13).
#[utoipa::path(
    post,
    path = "/sandbox/status",
    tag = "sandbox",
    operation_id = "sandbox_status",
    request_body(content = StatusBody, content_type = "application/json"),
    responses((status = 200, description = "OK", body = Message))
)]
async fn status(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(b): JsonBody<StatusBody>,
) -> ApiResult<Json<Message>> {
    Ok(Json(Message::from(
        &s.engine.sandbox_status(&a, b.message_id, b.status).await?,
    )))
}
