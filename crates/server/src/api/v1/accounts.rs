//! Accounts (server admin token).

use super::views;
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use smsflow_core::ids::AccountId;
use smsflow_engine::AccountInput;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts", post(create))
        .route("/accounts/{id}", get(show).patch(update))
}

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

async fn show(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::account(
        &s.engine.get_account(&AccountId::from_string(id)).await?,
    )))
}

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
