//! Provider connections. Secrets in `config` are write-only: the API shows
//! the connection and the webhook URLs to paste into the provider's console.
//! `PATCH` changes a name or config keys (a secret such as Aircall's
//! `webhook_token`, known only once the webhook URL was registered at the
//! provider); `POST …/sync` re-reads a provider's numbers and users (R3).

use super::views::List;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use smsflow_core::phone::E164;
use smsflow_engine::{ConnectionInput, ConnectionPatch, Engine, WebhookUrls};
use smsflow_providers::is_secret;
use smsflow_store::{ConnectionRow, SyncCounts, SyncReport};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
        .routes(routes!(sync))
}

/// A provider connection. Secret config keys are never shown.
#[derive(Serialize, ToSchema)]
struct Connection {
    id: String,
    #[schema(example = "twilio")]
    kind: String,
    name: String,
    /// The settings, without secrets.
    #[schema(value_type = Object)]
    config: serde_json::Map<String, Value>,
    /// Where the provider must send inbound messages and statuses.
    webhook_urls: WebhookUrls,
    created_at: DateTime<Utc>,
}

/// A new connection and, for providers with a directory, what its first
/// sync brought.
#[derive(Serialize, ToSchema)]
struct CreatedConnection {
    #[serde(flatten)]
    connection: Connection,
    #[serde(skip_serializing_if = "Option::is_none")]
    sync: Option<Sync>,
}

/// What a directory sync changed.
#[derive(Serialize, ToSchema)]
struct Sync {
    numbers: Counts,
    users: Counts,
    /// Listed numbers the sync left alone, and why.
    skipped: Vec<Skipped>,
}

/// A sync of a connection, named by `id`.
#[derive(Serialize, ToSchema)]
struct SyncOfConnection {
    id: String,
    #[serde(flatten)]
    sync: Sync,
}

#[derive(Serialize, ToSchema)]
struct Counts {
    created: u32,
    updated: u32,
    unchanged: u32,
    /// Known from an earlier sync, no longer listed by the provider.
    gone: u32,
}

#[derive(Serialize, ToSchema)]
struct Skipped {
    external_id: String,
    /// Null when the provider's entry had no usable phone number.
    e164: Option<E164>,
    reason: String,
}

fn counts(c: &SyncCounts) -> Counts {
    Counts {
        created: c.created,
        updated: c.updated,
        unchanged: c.unchanged,
        gone: c.gone,
    }
}

fn sync_view(r: &SyncReport) -> Sync {
    Sync {
        numbers: counts(&r.numbers),
        users: counts(&r.users),
        skipped: r
            .skipped
            .iter()
            .map(|s| Skipped {
                external_id: s.external_id.clone(),
                e164: s.e164.clone(),
                reason: s.reason.clone(),
            })
            .collect(),
    }
}

fn view(engine: &Engine, c: &ConnectionRow) -> Connection {
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
    Connection {
        id: c.id.clone(),
        kind: c.kind.clone(),
        name: c.name.clone(),
        config,
        webhook_urls: engine.webhook_urls(c),
        created_at: c.created_at,
    }
}

/// Connects a provider (Twilio, Vonage, Aircall, SMPP or an HTTP gateway); secrets are write-only.
#[utoipa::path(
    post,
    path = "/providers",
    tag = "providers",
    operation_id = "providers_create",
    request_body(content = ConnectionInput, content_type = "application/json"),
    responses((status = 201, description = "Created", body = CreatedConnection))
)]
async fn create(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<ConnectionInput>,
) -> ApiResult<(StatusCode, Json<CreatedConnection>)> {
    let created = s.engine.create_connection(&a, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedConnection {
            connection: view(&s.engine, &created.row),
            sync: created.sync.as_ref().map(sync_view),
        }),
    ))
}

/// Renames a connection or changes config keys (null removes one).
#[utoipa::path(
    patch,
    path = "/providers/{id}",
    tag = "providers",
    operation_id = "providers_update",
    params(("id" = String, Path)),
    request_body(content = ConnectionPatch, content_type = "application/json"),
    responses((status = 200, description = "OK", body = Connection))
)]
async fn update(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ConnectionPatch>,
) -> ApiResult<Json<Connection>> {
    let c = s.engine.update_connection(&a, &id, patch).await?;
    Ok(Json(view(&s.engine, &c)))
}

/// Re-reads a provider's numbers and users into the directory.
#[utoipa::path(
    post,
    path = "/providers/{id}/sync",
    tag = "providers",
    operation_id = "providers_sync",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = SyncOfConnection))
)]
async fn sync(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SyncOfConnection>> {
    let report = s.engine.sync_connection(&a, &id).await?;
    Ok(Json(SyncOfConnection {
        id,
        sync: sync_view(&report),
    }))
}

/// The account's provider connections.
#[utoipa::path(
    get,
    path = "/providers",
    tag = "providers",
    operation_id = "providers_list",
    responses((status = 200, description = "OK", body = List<Connection>))
)]
async fn list(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<List<Connection>>> {
    let list = s.engine.list_connections(&a).await?;
    Ok(Json(List::each(&list, |c| view(&s.engine, c))))
}

/// A provider connection and the webhook URLs to give the provider.
#[utoipa::path(
    get,
    path = "/providers/{id}",
    tag = "providers",
    operation_id = "providers_show",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = Connection))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Connection>> {
    Ok(Json(view(
        &s.engine,
        &s.engine.get_connection(&a, &id).await?,
    )))
}
