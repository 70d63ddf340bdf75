//! Reusable SMS messages: draft, save (validated, R5), publish (R22). The
//! resource carries the body's encoding and segment count so editors can
//! show them while drafting (R8).

use super::views;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, ListParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use smsflow_core::encoding::analyze;
use smsflow_core::ids::SmsMessageId;
use smsflow_engine::SmsMessageInput;
use smsflow_store::SmsMessageRow;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
        .routes(routes!(publish))
}

/// The JSON shape of an SMS message (DESIGN §5 "Bodies", plus its encoding
/// and segments as the body stands, before tokens are filled in).
pub fn sms_message(m: &SmsMessageRow) -> Value {
    let c = &m.content;
    let info = analyze(&c.body);
    json!({
        "id": m.id,
        "name": c.name,
        "body": c.body,
        "from_number_id": c.from_number_id,
        "subscription_type_id": c.subscription_type_id,
        "state": m.state.as_str(),
        "revision": m.revision,
        "published_revision": m.published_revision,
        "encoding": info.encoding.as_str(),
        "segments": info.segments,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    })
}

#[utoipa::path(
    post,
    path = "/sms-messages",
    tag = "sms_messages",
    operation_id = "sms_messages_create",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 201, description = "Created", body = serde_json::Value))
)]
async fn create(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<SmsMessageInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let m = s.engine.create_sms_message(&a, input).await?;
    Ok((StatusCode::CREATED, Json(sms_message(&m))))
}

#[utoipa::path(
    get,
    path = "/sms-messages",
    tag = "sms_messages",
    operation_id = "sms_messages_list",
    params(("limit" = Option<i64>, Query, description = "1–1000, default 100"), ("after" = Option<String>, Query, description = "The next_cursor of the page before")),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn list(Auth(a): Auth, State(s): State<AppState>, p: ListParams) -> ApiResult<Json<Value>> {
    let page = s
        .engine
        .list_sms_messages(&a, p.after.as_deref(), p.limit)
        .await?;
    Ok(Json(views::list(page, sms_message)))
}

#[utoipa::path(
    get,
    path = "/sms-messages/{id}",
    tag = "sms_messages",
    operation_id = "sms_messages_show",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let m = s
        .engine
        .get_sms_message(&a, &SmsMessageId::from_string(id))
        .await?;
    Ok(Json(sms_message(&m)))
}

#[utoipa::path(
    put,
    path = "/sms-messages/{id}",
    tag = "sms_messages",
    operation_id = "sms_messages_update",
    params(("id" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn update(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<SmsMessageInput>,
) -> ApiResult<Json<Value>> {
    let m = s
        .engine
        .update_sms_message(&a, &SmsMessageId::from_string(id), input)
        .await?;
    Ok(Json(sms_message(&m)))
}

#[utoipa::path(
    post,
    path = "/sms-messages/{id}/publish",
    tag = "sms_messages",
    operation_id = "sms_messages_publish",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn publish(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let m = s
        .engine
        .publish_sms_message(&a, &SmsMessageId::from_string(id))
        .await?;
    Ok(Json(sms_message(&m)))
}
