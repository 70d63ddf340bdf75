//! CRM records: `/objects/{type}` (singular or plural type names).

use super::directory::object_type;
use super::views::{Engagement, List, Record};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, ListParams, Paging};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::ids::RecordId;
use smsflow_engine::BatchInput;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(batch))
        .routes(routes!(show, update, remove))
        .routes(routes!(timeline))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    /// Property name → value; on PATCH a null value clears the property.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    properties: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<smsflow_core::object::Association>>)]
    associations: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    /// Required; at most 1,000.
    inputs: Option<Vec<BatchInput>>,
    /// A unique property (e.g. `email`) matching inputs without an id to
    /// existing records.
    #[serde(default)]
    id_property: Option<String>,
}

/// Creates a record; workflows whose enrollment it matches enroll it.
#[utoipa::path(
    post,
    path = "/objects/{object_type}",
    tag = "objects",
    operation_id = "objects_create",
    params(("object_type" = String, Path)),
    request_body(content = RecordBody, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Record))
)]
async fn create(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
    JsonBody(b): JsonBody<RecordBody>,
) -> ApiResult<(StatusCode, Json<Record>)> {
    let r = s
        .engine
        .create_record(&a, object_type(&t)?, b.properties, b.associations)
        .await?;
    Ok((StatusCode::CREATED, Json(Record::from(&r))))
}

/// A record.
#[utoipa::path(
    get,
    path = "/objects/{object_type}/{id}",
    tag = "objects",
    operation_id = "objects_show",
    params(("object_type" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "OK", body = Record))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
) -> ApiResult<Json<Record>> {
    Ok(Json(Record::from(
        &s.engine
            .get_record(&a, object_type(&t)?, &RecordId::from_string(id))
            .await?,
    )))
}

/// Changes a record's properties (null clears one); workflows re-evaluate it.
#[utoipa::path(
    patch,
    path = "/objects/{object_type}/{id}",
    tag = "objects",
    operation_id = "objects_update",
    params(("object_type" = String, Path), ("id" = String, Path)),
    request_body(content = RecordBody, content_type = "application/json"),
    responses((status = 200, description = "OK", body = Record))
)]
async fn update(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
    JsonBody(b): JsonBody<RecordBody>,
) -> ApiResult<Json<Record>> {
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
    Ok(Json(Record::from(&r)))
}

/// Deletes a record; it leaves its workflows (its enrollments are unenrolled).
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

/// Records of a type in id order, optionally filtered by filter groups.
#[utoipa::path(
    get,
    path = "/objects/{object_type}",
    tag = "objects",
    operation_id = "objects_list",
    params(("object_type" = String, Path), Paging, ("filter" = Option<String>, Query, description = "Filter groups as URL-encoded JSON, e.g. [[{\"property\":\"lifecyclestage\",\"op\":\"eq\",\"value\":\"lead\"}]]")),
    responses((status = 200, description = "OK", body = List<Record>))
)]
async fn list(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
    p: ListParams,
) -> ApiResult<Json<List<Record>>> {
    Ok(Json(List::page(
        s.engine
            .list_records(
                &a,
                object_type(&t)?,
                p.rest.get("filter").map(String::as_str),
                p.after.as_deref(),
                p.limit,
            )
            .await?,
    )))
}

/// Creates or updates up to 1,000 records at once, matched by id or `id_property`.
#[utoipa::path(
    post,
    path = "/objects/{object_type}/batch",
    tag = "objects",
    operation_id = "objects_batch",
    params(("object_type" = String, Path)),
    request_body(content = BatchBody, content_type = "application/json"),
    responses((status = 200, description = "The records, in input order", body = List<Record>))
)]
async fn batch(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
    JsonBody(b): JsonBody<BatchBody>,
) -> ApiResult<Json<List<Record>>> {
    let inputs = b
        .inputs
        .ok_or_else(|| ApiError::field("inputs", "is required"))?;
    let records = s
        .engine
        .batch_upsert(&a, object_type(&t)?, inputs, b.id_property)
        .await?;
    Ok(Json(List::all(&records)))
}

/// A record's timeline: its SMS engagements, oldest first (R14).
#[utoipa::path(
    get,
    path = "/objects/{object_type}/{id}/timeline",
    tag = "objects",
    operation_id = "objects_timeline",
    params(("object_type" = String, Path), ("id" = String, Path), Paging),
    responses((status = 200, description = "OK", body = List<Engagement>))
)]
async fn timeline(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
    p: ListParams,
) -> ApiResult<Json<List<Engagement>>> {
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
    Ok(Json(List::page(page)))
}
