//! Reusable SMS messages: draft, save (validated, R5), publish (R22). The
//! resource carries the body's encoding and segment count so editors can
//! show them while drafting (R8).

use super::views::List;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody, ListParams, Paging};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use smsflow_core::encoding::{analyze, Encoding};
use smsflow_core::ids::{NumberId, SmsMessageId, SubscriptionTypeId};
use smsflow_engine::SmsMessageInput;
use smsflow_store::SmsMessageRow;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
        .routes(routes!(publish))
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // describes `SmsMessage::state`
enum SmsMessageState {
    Draft,
    Published,
}

/// A reusable SMS message (DESIGN §5 "Bodies"), with the encoding and
/// segments of its body as it stands, before tokens are filled in.
#[derive(Serialize, ToSchema)]
pub struct SmsMessage {
    id: SmsMessageId,
    name: String,
    body: String,
    from_number_id: NumberId,
    subscription_type_id: Option<SubscriptionTypeId>,
    /// `draft` while the latest revision is unpublished (a published
    /// revision may still apply).
    #[schema(value_type = SmsMessageState)]
    state: &'static str,
    revision: i64,
    published_revision: Option<i64>,
    encoding: Encoding,
    segments: u32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&SmsMessageRow> for SmsMessage {
    fn from(m: &SmsMessageRow) -> Self {
        let c = &m.content;
        let info = analyze(&c.body);
        Self {
            id: m.id.clone(),
            name: c.name.clone(),
            body: c.body.clone(),
            from_number_id: c.from_number_id.clone(),
            subscription_type_id: c.subscription_type_id.clone(),
            state: m.state.as_str(),
            revision: m.revision,
            published_revision: m.published_revision,
            encoding: info.encoding,
            segments: info.segments,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Saves a reusable SMS message as a draft (R5, R22).
#[utoipa::path(
    post,
    path = "/sms-messages",
    tag = "sms_messages",
    operation_id = "sms_messages_create",
    request_body(content = SmsMessageInput, content_type = "application/json"),
    responses((status = 201, description = "Created", body = SmsMessage))
)]
async fn create(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<SmsMessageInput>,
) -> ApiResult<(StatusCode, Json<SmsMessage>)> {
    let m = s.engine.create_sms_message(&a, input).await?;
    Ok((StatusCode::CREATED, Json(SmsMessage::from(&m))))
}

/// The account's reusable SMS messages.
#[utoipa::path(
    get,
    path = "/sms-messages",
    tag = "sms_messages",
    operation_id = "sms_messages_list",
    params(Paging),
    responses((status = 200, description = "OK", body = List<SmsMessage>))
)]
async fn list(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<List<SmsMessage>>> {
    let page = s
        .engine
        .list_sms_messages(&a, p.after.as_deref(), p.limit)
        .await?;
    Ok(Json(List::page(page)))
}

/// A reusable SMS message with its body's encoding and segments (R8).
#[utoipa::path(
    get,
    path = "/sms-messages/{id}",
    tag = "sms_messages",
    operation_id = "sms_messages_show",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = SmsMessage))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SmsMessage>> {
    let m = s
        .engine
        .get_sms_message(&a, &SmsMessageId::from_string(id))
        .await?;
    Ok(Json(SmsMessage::from(&m)))
}

/// Saves a new revision of a reusable SMS message.
#[utoipa::path(
    put,
    path = "/sms-messages/{id}",
    tag = "sms_messages",
    operation_id = "sms_messages_update",
    params(("id" = String, Path)),
    request_body(content = SmsMessageInput, content_type = "application/json"),
    responses((status = 200, description = "OK", body = SmsMessage))
)]
async fn update(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<SmsMessageInput>,
) -> ApiResult<Json<SmsMessage>> {
    let m = s
        .engine
        .update_sms_message(&a, &SmsMessageId::from_string(id), input)
        .await?;
    Ok(Json(SmsMessage::from(&m)))
}

/// Publishes the latest revision; workflows that use it send it from then on (R22).
#[utoipa::path(
    post,
    path = "/sms-messages/{id}/publish",
    tag = "sms_messages",
    operation_id = "sms_messages_publish",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = SmsMessage))
)]
async fn publish(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SmsMessage>> {
    let m = s
        .engine
        .publish_sms_message(&a, &SmsMessageId::from_string(id))
        .await?;
    Ok(Json(SmsMessage::from(&m)))
}
