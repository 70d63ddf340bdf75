//! Messages and usage.

use super::views;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ListParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use smsflow_core::ids::{ConversationId, MessageId, RecordId, WorkflowId};
use smsflow_core::message::{Direction, MessageStatus};
use smsflow_store::MessageFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/messages", get(list))
        .route("/messages/{id}", get(show))
        .route("/usage", get(usage))
}

pub fn message_filter(p: &ListParams) -> Result<MessageFilter, ApiError> {
    let get = |k: &str| p.rest.get(k).filter(|v| !v.is_empty());
    Ok(MessageFilter {
        record_id: get("record_id").map(|v| RecordId::from(v.as_str())),
        workflow_id: get("workflow_id").map(|v| WorkflowId::from(v.as_str())),
        conversation_id: get("conversation_id").map(|v| ConversationId::from(v.as_str())),
        status: get("status")
            .map(|v| {
                v.parse::<MessageStatus>()
                    .map_err(|e| ApiError::field("status", e.to_string()))
            })
            .transpose()?,
        direction: get("direction")
            .map(|v| {
                serde_json::from_value::<Direction>(json!(v))
                    .map_err(|_| ApiError::field("direction", "must be outbound or inbound"))
            })
            .transpose()?,
        provider: get("provider").cloned(),
    })
}

async fn list(Auth(a): Auth, State(s): State<AppState>, p: ListParams) -> ApiResult<Json<Value>> {
    let filter = message_filter(&p)?;
    Ok(Json(views::list(
        s.engine
            .list_messages(&a, &filter, p.after.as_deref(), p.limit)
            .await?,
        views::message,
    )))
}

async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::message(
        &s.engine
            .get_message(&a, &MessageId::from_string(id))
            .await?,
    )))
}

async fn usage(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(s.engine.usage(&a).await?)))
}
