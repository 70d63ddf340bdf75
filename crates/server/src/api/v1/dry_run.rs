//! Workflow dry runs (R24): what a saved workflow (draft or published) or an
//! unsaved definition would do now, without sending or writing anything.

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;
use smsflow_core::ids::WorkflowId;
use smsflow_core::workflow::WorkflowDefinition;
use smsflow_engine::{parse_definition, DryRunReport};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(unsaved))
        .routes(routes!(saved))
}

/// What a saved workflow would do now, without sending or writing anything (R24).
#[utoipa::path(
    post,
    path = "/workflows/{id}/dry-run",
    tag = "dry_run",
    operation_id = "dry_run_saved",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = DryRunReport))
)]
async fn saved(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DryRunReport>> {
    Ok(Json(
        s.engine
            .dry_run_workflow(&a, &WorkflowId::from_string(id))
            .await?,
    ))
}

/// What an unsaved definition would do now, without sending or writing anything (R24).
#[utoipa::path(
    post,
    path = "/workflows/dry-run",
    tag = "dry_run",
    operation_id = "dry_run_unsaved",
    request_body(content = WorkflowDefinition, content_type = "application/json"),
    responses((status = 200, description = "OK", body = DryRunReport))
)]
async fn unsaved(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<DryRunReport>> {
    Ok(Json(s.engine.dry_run(&a, &parse_definition(body)?).await?))
}
