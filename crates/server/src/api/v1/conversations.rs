//! The inbox: conversations, their messages, agent replies (R16).

use super::views;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, ListParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use smsflow_core::ids::ConversationId;
use smsflow_engine::ReplyInput;
use smsflow_store::{ConversationRow, MessageFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/conversations", get(list))
        .route("/conversations/{id}", get(show))
        .route("/conversations/{id}/messages", post(reply))
}

fn conversation(c: &ConversationRow) -> Value {
    json!({
        "id": c.id, "number_id": c.number_id, "phone": c.phone, "created_at": c.created_at,
        "last_message_at": c.last_message_at, "needs_attention": c.needs_attention,
    })
}

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
