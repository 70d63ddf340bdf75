//! Workflow dry runs (R24): what a saved workflow (draft or published) or an
//! unsaved definition would do now, without sending or writing anything.

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use smsflow_core::ids::WorkflowId;
use smsflow_engine::{parse_definition, DryRunReport};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workflows/dry-run", post(unsaved))
        .route("/workflows/{id}/dry-run", post(saved))
}

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

async fn unsaved(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<DryRunReport>> {
    Ok(Json(s.engine.dry_run(&a, &parse_definition(body)?).await?))
}
