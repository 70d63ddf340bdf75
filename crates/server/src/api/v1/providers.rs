//! Provider connections. Secrets in `config` are write-only: the API shows
//! the connection and the webhook URLs to paste into the provider's console.
//! `PATCH` changes a name or config keys (a secret such as Aircall's
//! `webhook_token`, known only once the webhook URL was registered at the
//! provider); `POST …/sync` re-reads a provider's numbers and users (R3).

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use smsflow_engine::{ConnectionInput, ConnectionPatch, Engine};
use smsflow_providers::is_secret;
use smsflow_store::{ConnectionRow, SyncCounts, SyncReport};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
        .routes(routes!(sync))
}

fn counts(c: &SyncCounts) -> Value {
    json!({"created": c.created, "updated": c.updated, "unchanged": c.unchanged, "gone": c.gone})
}

fn sync_view(r: &SyncReport) -> Value {
    json!({
        "numbers": counts(&r.numbers),
        "users": counts(&r.users),
        "skipped": r.skipped.iter().map(|s| json!({
            "external_id": s.external_id, "e164": s.e164, "reason": s.reason,
        })).collect::<Vec<_>>(),
    })
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

#[utoipa::path(
    post,
    path = "/providers",
    tag = "providers",
    operation_id = "providers_create",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 201, description = "Created", body = serde_json::Value))
)]
async fn create(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<ConnectionInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let created = s.engine.create_connection(&a, input).await?;
    let mut out = view(&s.engine, &created.row);
    if let Some(report) = &created.sync {
        out["sync"] = sync_view(report);
    }
    Ok((StatusCode::CREATED, Json(out)))
}

#[utoipa::path(
    patch,
    path = "/providers/{id}",
    tag = "providers",
    operation_id = "providers_update",
    params(("id" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn update(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ConnectionPatch>,
) -> ApiResult<Json<Value>> {
    let c = s.engine.update_connection(&a, &id, patch).await?;
    Ok(Json(view(&s.engine, &c)))
}

#[utoipa::path(
    post,
    path = "/providers/{id}/sync",
    tag = "providers",
    operation_id = "providers_sync",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn sync(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let report = s.engine.sync_connection(&a, &id).await?;
    let mut out = sync_view(&report);
    out["id"] = json!(id);
    Ok(Json(out))
}

#[utoipa::path(
    get,
    path = "/providers",
    tag = "providers",
    operation_id = "providers_list",
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn list(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let list = s.engine.list_connections(&a).await?;
    Ok(Json(
        json!({"results": list.iter().map(|c| view(&s.engine, c)).collect::<Vec<_>>(), "next_cursor": null}),
    ))
}

#[utoipa::path(
    get,
    path = "/providers/{id}",
    tag = "providers",
    operation_id = "providers_show",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
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
