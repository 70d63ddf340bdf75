//! Accounts (server admin token).

use super::views::{Account, CreatedAccount};
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use smsflow_core::ids::AccountId;
use smsflow_engine::AccountInput;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show, update))
}

/// Creates an account; answers its API token, shown this once (admin token).
#[utoipa::path(
    post,
    path = "/accounts",
    tag = "accounts",
    operation_id = "accounts_create",
    request_body(content = AccountInput, content_type = "application/json"),
    responses((status = 201, description = "Created; the token is shown this once", body = CreatedAccount))
)]
async fn create(
    _: Admin,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<AccountInput>,
) -> ApiResult<(StatusCode, Json<CreatedAccount>)> {
    let out = s.engine.create_account(input).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccount {
            account: Account::from(&out.account),
            token: out.token,
        }),
    ))
}

/// An account and its settings (admin token).
#[utoipa::path(
    get,
    path = "/accounts/{id}",
    tag = "accounts",
    operation_id = "accounts_show",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = Account))
)]
async fn show(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Account>> {
    Ok(Json(Account::from(
        &s.engine.get_account(&AccountId::from_string(id)).await?,
    )))
}

/// Changes an account's name or settings; a partial `limits` keeps the values not given (admin token).
#[utoipa::path(
    patch,
    path = "/accounts/{id}",
    tag = "accounts",
    operation_id = "accounts_update",
    params(("id" = String, Path)),
    request_body(content = AccountInput, content_type = "application/json"),
    responses((status = 200, description = "OK", body = Account))
)]
async fn update(
    _: Admin,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<AccountInput>,
) -> ApiResult<Json<Account>> {
    Ok(Json(Account::from(
        &s.engine
            .update_account(&AccountId::from_string(id), input)
            .await?,
    )))
}
