//! `/integrations/hubspot`: connects a HubSpot portal to the account, so the
//! "Send SMS" custom workflow action can send for it. Secrets are
//! write-only; the answer shows the URLs to paste into the action definition.

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use smsflow_engine::{Engine, HubspotConnectInput};
use smsflow_store::HubspotPortalRow;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(connect, show))
}

fn view(engine: &Engine, p: &HubspotPortalRow) -> Value {
    let (action_url, options_url_base) = engine.hubspot_urls();
    json!({
        "portal_id": p.portal_id, "app_id": p.app_id, "api_base_url": p.api_base_url,
        "action_url": action_url, "options_url_base": options_url_base, "created_at": p.created_at,
    })
}

#[utoipa::path(
    put,
    path = "/integrations/hubspot",
    tag = "integrations",
    operation_id = "integrations_connect",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn connect(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<HubspotConnectInput>,
) -> ApiResult<Json<Value>> {
    let p = s.engine.connect_hubspot(&a, input).await?;
    Ok(Json(view(&s.engine, &p)))
}

#[utoipa::path(
    get,
    path = "/integrations/hubspot",
    tag = "integrations",
    operation_id = "integrations_show",
    responses((status = 200, description = "OK", body = serde_json::Value))
)]
async fn show(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let list = s.engine.hubspot_portals(&a).await?;
    Ok(Json(
        json!({"results": list.iter().map(|p| view(&s.engine, p)).collect::<Vec<_>>(), "next_cursor": null}),
    ))
}
