//! CRM records: `/objects/{type}` (singular or plural type names).

use super::directory::object_type;
use super::views;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, ListParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use smsflow_core::ids::RecordId;
use smsflow_engine::BatchInput;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(batch))
        .routes(routes!(show, update, remove))
        .routes(routes!(timeline))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    #[serde(default)]
    properties: Option<Value>,
    #[serde(default)]
    associations: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    inputs: Option<Vec<BatchInput>>,
    #[serde(default)]
    id_property: Option<String>,
}

#[utoipa::path(
    post,
    path = "/objects/{object_type}",
    tag = "objects",
    operation_id = "objects_create",
    params(("object_type" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 201, description = "Created", body = serde_json::Value))
)]
async fn create(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
    JsonBody(b): JsonBody<RecordBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let r = s
        .engine
        .create_record(&a, object_type(&t)?, b.properties, b.associations)
        .await?;
    Ok((StatusCode::CREATED, Json(views::record(&r))))
}

#[utoipa::path(
    get,
    path = "/objects/{object_type}/{id}",
    tag = "objects",
    operation_id = "objects_show",
    params(("object_type" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::record(
        &s.engine
            .get_record(&a, object_type(&t)?, &RecordId::from_string(id))
            .await?,
    )))
}

#[utoipa::path(
    patch,
    path = "/objects/{object_type}/{id}",
    tag = "objects",
    operation_id = "objects_update",
    params(("object_type" = String, Path), ("id" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn update(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
    JsonBody(b): JsonBody<RecordBody>,
) -> ApiResult<Json<Value>> {
    let r = s
        .engine
        .update_record(
            &a,
            object_type(&t)?,
            &RecordId::from_string(id),
            b.properties,
            b.associations,
        )
        .await?;
    Ok(Json(views::record(&r)))
}

#[utoipa::path(
    delete,
    path = "/objects/{object_type}/{id}",
    tag = "objects",
    operation_id = "objects_remove",
    params(("object_type" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Deleted"))
)]
async fn remove(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.engine
        .delete_record(&a, object_type(&t)?, &RecordId::from_string(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/objects/{object_type}",
    tag = "objects",
    operation_id = "objects_list",
    params(("object_type" = String, Path), ("limit" = Option<i64>, Query, description = "1–1000, default 100"), ("after" = Option<String>, Query, description = "The next_cursor of the page before"), ("filter" = Option<String>, Query, description = "Filter groups as URL-encoded JSON, e.g. [[{\"property\":\"lifecyclestage\",\"op\":\"eq\",\"value\":\"lead\"}]]")),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn list(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
    p: ListParams,
) -> ApiResult<Json<Value>> {
    Ok(Json(views::list(
        s.engine
            .list_records(
                &a,
                object_type(&t)?,
                p.rest.get("filter").map(String::as_str),
                p.after.as_deref(),
                p.limit,
            )
            .await?,
        views::record,
    )))
}

#[utoipa::path(
    post,
    path = "/objects/{object_type}/batch",
    tag = "objects",
    operation_id = "objects_batch",
    params(("object_type" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn batch(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
    JsonBody(b): JsonBody<BatchBody>,
) -> ApiResult<Json<Value>> {
    let inputs = b
        .inputs
        .ok_or_else(|| ApiError::field("inputs", "is required"))?;
    let records = s
        .engine
        .batch_upsert(&a, object_type(&t)?, inputs, b.id_property)
        .await?;
    Ok(Json(
        json!({"results": records.iter().map(views::record).collect::<Vec<_>>(), "next_cursor": null}),
    ))
}

#[utoipa::path(
    get,
    path = "/objects/{object_type}/{id}/timeline",
    tag = "objects",
    operation_id = "objects_timeline",
    params(("object_type" = String, Path), ("id" = String, Path), ("limit" = Option<i64>, Query, description = "1–1000, default 100"), ("after" = Option<String>, Query, description = "The next_cursor of the page before")),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn timeline(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
    p: ListParams,
) -> ApiResult<Json<Value>> {
    let page = s
        .engine
        .timeline(
            &a,
            object_type(&t)?,
            &RecordId::from_string(id),
            p.after.as_deref(),
            p.limit,
        )
        .await?;
    Ok(Json(views::list(page, views::engagement)))
}
