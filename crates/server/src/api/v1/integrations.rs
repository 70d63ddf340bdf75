//! `/integrations/hubspot`: connects a HubSpot portal to the account, so the
//! "Send SMS" custom workflow action can send for it. Secrets are
//! write-only; the answer shows the URLs to paste into the action definition.

use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::routing::put;
use axum::{Json, Router};
use serde_json::{json, Value};
use smsflow_engine::{Engine, HubspotConnectInput};
use smsflow_store::HubspotPortalRow;

pub fn router() -> Router<AppState> {
    Router::new().route("/integrations/hubspot", put(connect).get(show))
}

fn view(engine: &Engine, p: &HubspotPortalRow) -> Value {
    let (action_url, options_url_base) = engine.hubspot_urls();
    json!({
        "portal_id": p.portal_id, "app_id": p.app_id, "api_base_url": p.api_base_url,
        "action_url": action_url, "options_url_base": options_url_base, "created_at": p.created_at,
    })
}

async fn connect(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<HubspotConnectInput>,
) -> ApiResult<Json<Value>> {
    let p = s.engine.connect_hubspot(&a, input).await?;
    Ok(Json(view(&s.engine, &p)))
}

async fn show(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let list = s.engine.hubspot_portals(&a).await?;
    Ok(Json(
        json!({"results": list.iter().map(|p| view(&s.engine, p)).collect::<Vec<_>>(), "next_cursor": null}),
    ))
}
