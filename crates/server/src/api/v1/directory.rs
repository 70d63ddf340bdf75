//! Users, numbers, their links, properties, and the form options (R1–R3).

use super::views;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, ListParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use smsflow_core::ids::NumberId;
use smsflow_core::object::ObjectType;
use smsflow_engine::{NumberInput, UserInput};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/numbers", get(list_numbers).post(create_number))
        .route("/numbers/{id}", get(show_number).patch(update_number))
        .route("/numbers/{id}/users", put(set_number_users))
        .route(
            "/properties/{object_type}",
            get(list_properties).post(create_property),
        )
        .route("/options/numbers", get(number_options))
        .route("/options/users", get(user_options))
        .route("/options/recipient-properties", get(recipient_options))
}

pub fn object_type(raw: &str) -> Result<ObjectType, ApiError> {
    raw.parse::<ObjectType>()
        .map_err(|_| ApiError::not_found("object type"))
}

async fn list_users(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::list(
        s.engine.list_users(&a, p.after.as_deref(), p.limit).await?,
        views::user,
    )))
}

async fn create_user(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<UserInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    Ok((
        StatusCode::CREATED,
        Json(views::user(&s.engine.create_user(&a, input).await?)),
    ))
}

async fn list_numbers(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(views::all(
        &s.engine.list_numbers(&a).await?,
        views::number,
    )))
}

async fn create_number(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<NumberInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    Ok((
        StatusCode::CREATED,
        Json(views::number(&s.engine.create_number(&a, input).await?)),
    ))
}

async fn show_number(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::number(
        &s.engine.get_number(&a, &NumberId::from_string(id)).await?,
    )))
}

async fn update_number(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<NumberInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::number(
        &s.engine
            .update_number(&a, &NumberId::from_string(id), input)
            .await?,
    )))
}

/// Body: `{"user_ids": [...]}` or the bare list.
async fn set_number_users(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?;
    let ids = match value {
        Value::Object(mut o) => o.remove("user_ids").unwrap_or(Value::Null),
        other => other,
    };
    Ok(Json(views::number(
        &s.engine
            .set_number_users(&a, &NumberId::from_string(id), ids)
            .await?,
    )))
}

async fn list_properties(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> ApiResult<Json<Value>> {
    let schema = s.engine.schema(&a, object_type(&t)?).await?;
    Ok(Json(views::all(schema.defs(), |d| json!(d))))
}

async fn create_property(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
    JsonBody(input): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let def = s
        .engine
        .create_property(&a, object_type(&t)?, input)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(def))))
}

async fn number_options(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let numbers = s.engine.number_options(&a).await?;
    Ok(Json(views::all(
        &numbers,
        |n| json!({"value": n.id, "label": format!("{} ({})", n.label, n.e164), "e164": n.e164}),
    )))
}

async fn user_options(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<Value>> {
    let number = p
        .rest
        .get("number_id")
        .ok_or_else(|| ApiError::field("number_id", "is required"))?;
    let users = s
        .engine
        .user_options(&a, &NumberId::from(number.as_str()))
        .await?;
    Ok(Json(views::all(
        &users,
        |u| json!({"value": u.id, "label": u.name}),
    )))
}

async fn recipient_options(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<Value>> {
    let raw = p
        .rest
        .get("object_type")
        .ok_or_else(|| ApiError::field("object_type", "is required"))?;
    let t = raw
        .parse::<ObjectType>()
        .map_err(|e| ApiError::field("object_type", e.to_string()))?;
    let options = s.engine.recipient_property_options(&a, t).await?;
    Ok(Json(views::all(
        &options,
        |(value, label)| json!({"value": value, "label": label}),
    )))
}
