//! Workflows: save (validated, R5), validate, publish, pause, enrollments,
//! action logs (R15).

use super::views::{ActionLog, Enrollment, List, PublishedWorkflow, Valid, Workflow};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, ListParams, Paging};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use smsflow_core::ids::{RecordId, WorkflowId};
use smsflow_core::message::Outcome;
use smsflow_core::workflow::WorkflowDefinition;
use smsflow_engine::parse_definition;
use smsflow_store::ActionLogFilter;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// `POST /workflows/{id}/publish` takes no body, or this one.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the request; the handler reads the one field
struct PublishInput {
    /// Also enroll the records that already match (default false).
    enroll_existing: Option<bool>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(validate_unsaved))
        .routes(routes!(show, update))
        .routes(routes!(validate))
        .routes(routes!(publish))
        .routes(routes!(pause))
        .routes(routes!(enrollments))
        .routes(routes!(action_logs))
}

/// Saves a new workflow as a draft; 422 names every invalid field (R5).
#[utoipa::path(
    post,
    path = "/workflows",
    tag = "workflows",
    operation_id = "workflows_create",
    request_body(content = WorkflowDefinition, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Workflow))
)]
async fn create(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Workflow>)> {
    let w = s
        .engine
        .create_workflow(&a, parse_definition(body)?)
        .await?;
    Ok((StatusCode::CREATED, Json(Workflow::from(&w))))
}

/// The account's workflows.
#[utoipa::path(
    get,
    path = "/workflows",
    tag = "workflows",
    operation_id = "workflows_list",
    params(Paging),
    responses((status = 200, description = "OK", body = List<Workflow>))
)]
async fn list(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<List<Workflow>>> {
    Ok(Json(List::page(
        s.engine
            .list_workflows(&a, p.after.as_deref(), p.limit)
            .await?,
    )))
}

/// A workflow with its latest definition.
#[utoipa::path(
    get,
    path = "/workflows/{id}",
    tag = "workflows",
    operation_id = "workflows_show",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = Workflow))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Workflow>> {
    Ok(Json(Workflow::from(
        &s.engine
            .get_workflow(&a, &WorkflowId::from_string(id))
            .await?,
    )))
}

/// Saves a new revision of a workflow's definition (R5).
#[utoipa::path(
    put,
    path = "/workflows/{id}",
    tag = "workflows",
    operation_id = "workflows_update",
    params(("id" = String, Path)),
    request_body(content = WorkflowDefinition, content_type = "application/json"),
    responses((status = 200, description = "OK", body = Workflow))
)]
async fn update(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Workflow>> {
    let w = s
        .engine
        .update_workflow(&a, &WorkflowId::from_string(id), parse_definition(body)?)
        .await?;
    Ok(Json(Workflow::from(&w)))
}

/// Validates the saved definition against the account as it is now.
#[utoipa::path(
    post,
    path = "/workflows/{id}/validate",
    tag = "workflows",
    operation_id = "workflows_validate",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = Valid))
)]
async fn validate(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Valid>> {
    let w = s
        .engine
        .get_workflow(&a, &WorkflowId::from_string(id))
        .await?;
    s.engine.validate_workflow(&a, &w.definition).await?;
    Ok(Json(Valid { valid: true }))
}

/// Validates a definition without saving it (R5).
#[utoipa::path(
    post,
    path = "/workflows/validate",
    tag = "workflows",
    operation_id = "workflows_validate_unsaved",
    request_body(content = WorkflowDefinition, content_type = "application/json"),
    responses((status = 200, description = "OK", body = Valid))
)]
async fn validate_unsaved(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Valid>> {
    s.engine
        .validate_workflow(&a, &parse_definition(body)?)
        .await?;
    Ok(Json(Valid { valid: true }))
}

/// Publishes the latest revision; with `enroll_existing`, enrolls the records that already match (R23).
#[utoipa::path(
    post,
    path = "/workflows/{id}/publish",
    tag = "workflows",
    operation_id = "workflows_publish",
    params(("id" = String, Path)),
    request_body(content = Option<PublishInput>, content_type = "application/json"),
    responses((status = 200, description = "OK", body = PublishedWorkflow))
)]
async fn publish(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<PublishedWorkflow>> {
    let enroll_existing = if body.is_empty() {
        false
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?;
        match v.get("enroll_existing") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::field("enroll_existing", "must be true or false")),
        }
    };
    let (w, enrolled) = s
        .engine
        .publish_workflow(&a, &WorkflowId::from_string(id), enroll_existing)
        .await?;
    Ok(Json(PublishedWorkflow {
        workflow: Workflow::from(&w),
        enrolled,
    }))
}

/// Pauses a published workflow: its enrollments hold where they are until it is published again.
#[utoipa::path(
    post,
    path = "/workflows/{id}/pause",
    tag = "workflows",
    operation_id = "workflows_pause",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = Workflow))
)]
async fn pause(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Workflow>> {
    Ok(Json(Workflow::from(
        &s.engine
            .pause_workflow(&a, &WorkflowId::from_string(id))
            .await?,
    )))
}

/// A workflow's enrollments and where each stands.
#[utoipa::path(
    get,
    path = "/workflows/{id}/enrollments",
    tag = "workflows",
    operation_id = "workflows_enrollments",
    params(("id" = String, Path), Paging),
    responses((status = 200, description = "OK", body = List<Enrollment>))
)]
async fn enrollments(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: ListParams,
) -> ApiResult<Json<List<Enrollment>>> {
    let page = s
        .engine
        .list_enrollments(
            &a,
            &WorkflowId::from_string(id),
            p.after.as_deref(),
            p.limit,
        )
        .await?;
    Ok(Json(List::page(page)))
}

/// Every execution of a workflow's actions, filtered by outcome, action or record (R15).
#[utoipa::path(
    get,
    path = "/workflows/{id}/action-logs",
    tag = "workflows",
    operation_id = "workflows_action_logs",
    params(("id" = String, Path), Paging, ("outcome" = Option<Outcome>, Query), ("action" = Option<String>, Query, description = "An action id"), ("record_id" = Option<String>, Query, description = "A record id")),
    responses((status = 200, description = "OK", body = List<ActionLog>))
)]
async fn action_logs(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: ListParams,
) -> ApiResult<Json<List<ActionLog>>> {
    let outcome = match p.rest.get("outcome").filter(|v| !v.is_empty()) {
        Some(v) => Some(
            v.parse::<Outcome>()
                .map_err(|e| ApiError::field("outcome", e))?,
        ),
        None => None,
    };
    let filter = ActionLogFilter {
        outcome,
        action_id: p
            .rest
            .get("action")
            .or(p.rest.get("action_id"))
            .filter(|v| !v.is_empty())
            .cloned(),
        record_id: p
            .rest
            .get("record_id")
            .filter(|v| !v.is_empty())
            .map(|v| RecordId::from(v.as_str())),
    };
    let page = s
        .engine
        .list_action_logs(
            &a,
            &WorkflowId::from_string(id),
            &filter,
            p.after.as_deref(),
            p.limit,
        )
        .await?;
    Ok(Json(List::page(page)))
}
