//! The sandbox provider's control surface: what was "sent", and simulated
//! inbound messages and status callbacks.

use super::messages::message_filter;
use super::views;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, ListParams};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::message::Direction;
use smsflow_engine::InboundInput;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sandbox/outbox", get(outbox))
        .route("/sandbox/inbound", post(inbound))
        .route("/sandbox/status", post(status))
}

/// Outbound messages handed to the sandbox, oldest first.
async fn outbox(Auth(a): Auth, State(s): State<AppState>, p: ListParams) -> ApiResult<Json<Value>> {
    let mut filter = message_filter(&p)?;
    filter.provider = Some("sandbox".into());
    filter.direction = Some(Direction::Outbound);
    let mut page = s
        .engine
        .list_messages(&a, &filter, p.after.as_deref(), p.limit)
        .await?;
    page.results.retain(|m| m.handed_off_at.is_some());
    Ok(Json(views::list(page, views::message)))
}

async fn inbound(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<InboundInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let m = s.engine.sandbox_inbound(&a, input).await?;
    Ok((StatusCode::CREATED, Json(views::message(&m))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    message_id: Option<Value>,
    status: Option<Value>,
}

async fn status(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(b): JsonBody<StatusBody>,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::message(
        &s.engine.sandbox_status(&a, b.message_id, b.status).await?,
    )))
}
