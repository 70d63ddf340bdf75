//! The inbox: conversations, their messages, agent replies (R16).

use super::views::{Conversation, List, Message};
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, ListParams, Paging};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use smsflow_core::ids::ConversationId;
use smsflow_engine::ReplyInput;
use smsflow_store::MessageFilter;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(reply))
}

/// A conversation and a page of its messages, oldest first.
#[derive(Serialize, ToSchema)]
struct ConversationWithMessages {
    #[serde(flatten)]
    conversation: Conversation,
    messages: List<Message>,
}

/// Conversations, oldest first; `needs_attention=true` for an agent's inbox.
#[utoipa::path(
    get,
    path = "/conversations",
    tag = "conversations",
    operation_id = "conversations_list",
    params(Paging, ("needs_attention" = Option<bool>, Query, description = "Only conversations flagged for an agent")),
    responses((status = 200, description = "OK", body = List<Conversation>))
)]
async fn list(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<List<Conversation>>> {
    let flagged = p.rest.get("needs_attention").is_some_and(|v| v == "true");
    Ok(Json(List::page(
        s.engine
            .list_conversations(&a, flagged, p.after.as_deref(), p.limit)
            .await?,
    )))
}

/// A conversation with a page of its messages, oldest first.
#[utoipa::path(
    get,
    path = "/conversations/{id}",
    tag = "conversations",
    operation_id = "conversations_show",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "OK", body = ConversationWithMessages))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: ListParams,
) -> ApiResult<Json<ConversationWithMessages>> {
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
    Ok(Json(ConversationWithMessages {
        conversation: Conversation::from(&c),
        messages: List::page(page),
    }))
}

/// Sends an agent's reply in a conversation, from its number on behalf of a linked user (R16).
#[utoipa::path(
    post,
    path = "/conversations/{id}/messages",
    tag = "conversations",
    operation_id = "conversations_reply",
    params(("id" = String, Path)),
    request_body(content = ReplyInput, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Message))
)]
async fn reply(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ReplyInput>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let m = s
        .engine
        .agent_reply(&a, &ConversationId::from_string(id), input)
        .await?;
    Ok((StatusCode::CREATED, Json(Message::from(&m))))
}
