//! Users, numbers, their links, properties, and the form options (R1–R3).

use super::views;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, ListParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use smsflow_core::ids::NumberId;
use smsflow_core::object::ObjectType;
use smsflow_engine::{NumberInput, UserInput};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(list_numbers, create_number))
        .routes(routes!(show_number, update_number))
        .routes(routes!(set_number_users))
        .routes(routes!(list_properties, create_property))
        .routes(routes!(number_options))
        .routes(routes!(user_options))
        .routes(routes!(recipient_options))
}

pub fn object_type(raw: &str) -> Result<ObjectType, ApiError> {
    raw.parse::<ObjectType>()
        .map_err(|_| ApiError::not_found("object type"))
}

#[utoipa::path(
    get,
    path = "/users",
    tag = "directory",
    operation_id = "directory_list_users",
    params(("limit" = Option<i64>, Query, description = "1–1000, default 100"), ("after" = Option<String>, Query, description = "The next_cursor of the page before")),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
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

#[utoipa::path(
    post,
    path = "/users",
    tag = "directory",
    operation_id = "directory_create_user",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 201, description = "Created", body = serde_json::Value))
)]
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

#[utoipa::path(
    get,
    path = "/numbers",
    tag = "directory",
    operation_id = "directory_list_numbers",
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn list_numbers(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(views::all(
        &s.engine.list_numbers(&a).await?,
        views::number,
    )))
}

#[utoipa::path(
    post,
    path = "/numbers",
    tag = "directory",
    operation_id = "directory_create_number",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 201, description = "Created", body = serde_json::Value))
)]
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

#[utoipa::path(
    get,
    path = "/numbers/{id}",
    tag = "directory",
    operation_id = "directory_show_number",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn show_number(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::number(
        &s.engine.get_number(&a, &NumberId::from_string(id)).await?,
    )))
}

#[utoipa::path(
    patch,
    path = "/numbers/{id}",
    tag = "directory",
    operation_id = "directory_update_number",
    params(("id" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
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
#[utoipa::path(
    put,
    path = "/numbers/{id}/users",
    tag = "directory",
    operation_id = "directory_set_number_users",
    params(("id" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
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

#[utoipa::path(
    get,
    path = "/properties/{object_type}",
    tag = "directory",
    operation_id = "directory_list_properties",
    params(("object_type" = String, Path)),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn list_properties(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> ApiResult<Json<Value>> {
    let schema = s.engine.schema(&a, object_type(&t)?).await?;
    Ok(Json(views::all(schema.defs(), |d| json!(d))))
}

#[utoipa::path(
    post,
    path = "/properties/{object_type}",
    tag = "directory",
    operation_id = "directory_create_property",
    params(("object_type" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 201, description = "Created", body = serde_json::Value))
)]
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

#[utoipa::path(
    get,
    path = "/options/numbers",
    tag = "directory",
    operation_id = "directory_number_options",
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn number_options(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let numbers = s.engine.number_options(&a).await?;
    Ok(Json(views::all(
        &numbers,
        |n| json!({"value": n.id, "label": format!("{} ({})", n.label, n.e164), "e164": n.e164}),
    )))
}

#[utoipa::path(
    get,
    path = "/options/users",
    tag = "directory",
    operation_id = "directory_user_options",
    params(("limit" = Option<i64>, Query, description = "1–1000, default 100"), ("after" = Option<String>, Query, description = "The next_cursor of the page before"), ("number_id" = Option<String>, Query, description = "The sending number; only users linked to it (R3)")),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
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

#[utoipa::path(
    get,
    path = "/options/recipient-properties",
    tag = "directory",
    operation_id = "directory_recipient_options",
    params(("limit" = Option<i64>, Query, description = "1–1000, default 100"), ("after" = Option<String>, Query, description = "The next_cursor of the page before"), ("object_type" = Option<String>, Query, description = "The workflow's object type")),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
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
