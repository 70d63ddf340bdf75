//! Subscription types and per-phone SMS consent with its ledger (R18–R20).

use super::views;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use smsflow_engine::{ConsentInput, ConsentView, SubscriptionTypeInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/subscription-types", get(list_types).post(create_type))
        .route("/consent/{e164}", get(show).put(update))
}

async fn list_types(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(views::all(
        &s.engine.list_subscription_types(&a).await?,
        views::subscription_type,
    )))
}

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

async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(phone): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(consent_view(&s.engine.get_consent(&a, &phone).await?)))
}

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
