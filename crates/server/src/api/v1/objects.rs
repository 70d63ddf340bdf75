//! CRM records: `/objects/{type}` (singular or plural type names).

use super::directory::object_type;
use super::views;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, ListParams};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use smsflow_core::ids::RecordId;
use smsflow_engine::BatchInput;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/objects/{object_type}", get(list).post(create))
        .route("/objects/{object_type}/batch", post(batch))
        .route(
            "/objects/{object_type}/{id}",
            get(show).patch(update).delete(remove),
        )
        .route("/objects/{object_type}/{id}/timeline", get(timeline))
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
