//! Provider connections. Secrets in `config` are write-only: the API shows
//! the connection and the webhook URLs to paste into the provider's console.

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use smsflow_engine::{ConnectionInput, Engine};
use smsflow_providers::is_secret;
use smsflow_store::ConnectionRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/providers", get(list).post(create))
        .route("/providers/{id}", get(show))
}

fn view(engine: &Engine, c: &ConnectionRow) -> Value {
    let config: serde_json::Map<String, Value> = c
        .config
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !is_secret(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": c.id, "kind": c.kind, "name": c.name, "config": config,
        "webhook_urls": engine.webhook_urls(c), "created_at": c.created_at,
    })
}

async fn create(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<ConnectionInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let c = s.engine.create_connection(&a, input).await?;
    Ok((StatusCode::CREATED, Json(view(&s.engine, &c))))
}

async fn list(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let list = s.engine.list_connections(&a).await?;
    Ok(Json(
        json!({"results": list.iter().map(|c| view(&s.engine, c)).collect::<Vec<_>>(), "next_cursor": null}),
    ))
}

async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(view(
        &s.engine,
        &s.engine.get_connection(&a, &id).await?,
    )))
}
