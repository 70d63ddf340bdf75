//! Subscription types and per-phone SMS consent with its ledger (R18–R20).

use super::views;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use smsflow_engine::{ConsentInput, ConsentView, SubscriptionTypeInput};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_types, create_type))
        .routes(routes!(show, update))
}

#[utoipa::path(
    get,
    path = "/subscription-types",
    tag = "consent",
    operation_id = "consent_list_types",
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn list_types(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(views::all(
        &s.engine.list_subscription_types(&a).await?,
        views::subscription_type,
    )))
}

#[utoipa::path(
    post,
    path = "/subscription-types",
    tag = "consent",
    operation_id = "consent_create_type",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 201, description = "Created", body = serde_json::Value))
)]
async fn create_type(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<SubscriptionTypeInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    Ok((
        StatusCode::CREATED,
        Json(views::subscription_type(
            &s.engine.create_subscription_type(&a, input).await?,
        )),
    ))
}

fn consent_view(v: &ConsentView) -> Value {
    json!({
        "phone": v.phone,
        "subscriptions": v.current.iter().map(|c| json!({
            "subscription_type_id": c.subscription_type_id, "status": c.status, "legal_basis": c.legal_basis,
            "explanation": c.explanation, "source": c.source, "updated_at": c.updated_at,
        })).collect::<Vec<_>>(),
        "ledger": v.ledger.iter().map(|c| json!({
            "id": c.id, "subscription_type_id": c.subscription_type_id, "status": c.status,
            "legal_basis": c.legal_basis, "explanation": c.explanation, "source": c.source,
            "wording": c.wording, "record_id": c.record_id, "message_id": c.message_id, "at": c.at,
        })).collect::<Vec<_>>(),
    })
}

#[utoipa::path(
    get,
    path = "/consent/{e164}",
    tag = "consent",
    operation_id = "consent_show",
    params(("e164" = String, Path)),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(phone): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(consent_view(&s.engine.get_consent(&a, &phone).await?)))
}

#[utoipa::path(
    put,
    path = "/consent/{e164}",
    tag = "consent",
    operation_id = "consent_update",
    params(("e164" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn update(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(phone): Path<String>,
    JsonBody(input): JsonBody<ConsentInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(consent_view(
        &s.engine.put_consent(&a, &phone, input).await?,
    )))
}
