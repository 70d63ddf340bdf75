//! The inbox: conversations, their messages, agent replies (R16).

use super::views;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, ListParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use smsflow_core::ids::ConversationId;
use smsflow_engine::ReplyInput;
use smsflow_store::{ConversationRow, MessageFilter};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(reply))
}

fn conversation(c: &ConversationRow) -> Value {
    json!({
        "id": c.id, "number_id": c.number_id, "phone": c.phone, "created_at": c.created_at,
        "last_message_at": c.last_message_at, "needs_attention": c.needs_attention,
    })
}

#[utoipa::path(
    get,
    path = "/conversations",
    tag = "conversations",
    operation_id = "conversations_list",
    params(("limit" = Option<i64>, Query, description = "1–1000, default 100"), ("after" = Option<String>, Query, description = "The next_cursor of the page before"), ("needs_attention" = Option<bool>, Query, description = "Only conversations flagged for an agent")),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn list(Auth(a): Auth, State(s): State<AppState>, p: ListParams) -> ApiResult<Json<Value>> {
    let flagged = p.rest.get("needs_attention").is_some_and(|v| v == "true");
    Ok(Json(views::list(
        s.engine
            .list_conversations(&a, flagged, p.after.as_deref(), p.limit)
            .await?,
        conversation,
    )))
}

/// The conversation with its messages, oldest first (paged by `after`).
#[utoipa::path(
    get,
    path = "/conversations/{id}",
    tag = "conversations",
    operation_id = "conversations_show",
    params(("id" = String, Path), ("limit" = Option<i64>, Query, description = "1–1000, default 100"), ("after" = Option<String>, Query, description = "The next_cursor of the page before")),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: ListParams,
) -> ApiResult<Json<Value>> {
    let id = ConversationId::from_string(id);
    let c = s.engine.get_conversation(&a, &id).await?;
    let filter = MessageFilter {
        conversation_id: Some(id),
        ..Default::default()
    };
    let page = s
        .engine
        .list_messages(&a, &filter, p.after.as_deref(), p.limit)
        .await?;
    let mut body = conversation(&c);
    body["messages"] = views::list(page, views::message);
    Ok(Json(body))
}

#[utoipa::path(
    post,
    path = "/conversations/{id}/messages",
    tag = "conversations",
    operation_id = "conversations_reply",
    params(("id" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 201, description = "Created", body = serde_json::Value))
)]
async fn reply(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ReplyInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let m = s
        .engine
        .agent_reply(&a, &ConversationId::from_string(id), input)
        .await?;
    Ok((StatusCode::CREATED, Json(views::message(&m))))
}
