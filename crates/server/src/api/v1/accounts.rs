//! Accounts (server admin token).

use super::views;
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use smsflow_core::ids::AccountId;
use smsflow_engine::AccountInput;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show, update))
}

#[utoipa::path(
    post,
    path = "/accounts",
    tag = "accounts",
    operation_id = "accounts_create",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 201, description = "Created", body = serde_json::Value))
)]
async fn create(
    _: Admin,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<AccountInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let out = s.engine.create_account(input).await?;
    let mut body = views::account(&out.account);
    body["token"] = Value::String(out.token);
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(
    get,
    path = "/accounts/{id}",
    tag = "accounts",
    operation_id = "accounts_show",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn show(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::account(
        &s.engine.get_account(&AccountId::from_string(id)).await?,
    )))
}

#[utoipa::path(
    patch,
    path = "/accounts/{id}",
    tag = "accounts",
    operation_id = "accounts_update",
    params(("id" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn update(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<AccountInput>,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::account(
        &s.engine
            .update_account(&AccountId::from_string(id), input)
            .await?,
    )))
}
