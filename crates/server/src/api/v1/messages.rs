//! Messages and usage.

use super::views::{List, Message};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ListParams, Paging};
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::json;
use smsflow_core::ids::{ConversationId, MessageId, RecordId, WorkflowId};
use smsflow_core::message::{Direction, MessageStatus};
use smsflow_engine::UsageReport;
use smsflow_store::MessageFilter;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(usage))
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

/// Messages, oldest first, filtered by record, workflow, conversation, status, direction or provider.
#[utoipa::path(
    get,
    path = "/messages",
    tag = "messages",
    operation_id = "messages_list",
    params(Paging, ("record_id" = Option<String>, Query), ("workflow_id" = Option<String>, Query), ("conversation_id" = Option<String>, Query), ("status" = Option<MessageStatus>, Query), ("direction" = Option<Direction>, Query), ("provider" = Option<String>, Query)),
    responses((status = 200, description = "OK", body = List<Message>))
)]
async fn list(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<List<Message>>> {
    let filter = message_filter(&p)?;
    Ok(Json(List::page(
        s.engine
            .list_messages(&a, &filter, p.after.as_deref(), p.limit)
            .await?,
    )))
}

/// One message and its delivery status.
#[utoipa::path(
    get,
    path = "/messages/{id}",
    tag = "messages",
    operation_id = "messages_show",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = Message))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    Ok(Json(Message::from(
        &s.engine
            .get_message(&a, &MessageId::from_string(id))
            .await?,
    )))
}

/// Today's and this month's sends per number and per user, against their limits (R9).
#[utoipa::path(
    get,
    path = "/usage",
    tag = "messages",
    operation_id = "messages_usage",
    responses((status = 200, description = "OK", body = UsageReport))
)]
async fn usage(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<UsageReport>> {
    Ok(Json(s.engine.usage(&a).await?))
}
