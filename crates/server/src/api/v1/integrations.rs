//! `/integrations/hubspot`: connects a HubSpot portal to the account, so the
//! "Send SMS" custom workflow action can send for it. Secrets are
//! write-only; the answer shows the URLs to paste into the action definition.

use super::views::List;
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use smsflow_engine::{Engine, HubspotConnectInput};
use smsflow_store::HubspotPortalRow;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(connect, show))
}

/// A connected HubSpot portal. The client secret and access token are
/// write-only and never shown.
#[derive(Serialize, ToSchema)]
struct HubspotPortal {
    portal_id: String,
    app_id: Option<String>,
    api_base_url: String,
    /// The action URL to give the custom workflow action's definition.
    action_url: String,
    /// Where the action's option fields load their choices from.
    options_url_base: String,
    created_at: DateTime<Utc>,
}

fn view(engine: &Engine, p: &HubspotPortalRow) -> HubspotPortal {
    let (action_url, options_url_base) = engine.hubspot_urls();
    HubspotPortal {
        portal_id: p.portal_id.clone(),
        app_id: p.app_id.clone(),
        api_base_url: p.api_base_url.clone(),
        action_url,
        options_url_base,
        created_at: p.created_at,
    }
}

/// Connects a HubSpot portal so its workflows can use the "Send SMS" action.
#[utoipa::path(
    put,
    path = "/integrations/hubspot",
    tag = "integrations",
    operation_id = "integrations_connect",
    request_body(content = HubspotConnectInput, content_type = "application/json"),
    responses((status = 200, description = "OK", body = HubspotPortal))
)]
async fn connect(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<HubspotConnectInput>,
) -> ApiResult<Json<HubspotPortal>> {
    let p = s.engine.connect_hubspot(&a, input).await?;
    Ok(Json(view(&s.engine, &p)))
}

/// The connected HubSpot portals and the URLs for the custom workflow action.
#[utoipa::path(
    get,
    path = "/integrations/hubspot",
    tag = "integrations",
    operation_id = "integrations_show",
    responses((status = 200, description = "OK", body = List<HubspotPortal>))
)]
async fn show(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<List<HubspotPortal>>> {
    let list = s.engine.hubspot_portals(&a).await?;
    Ok(Json(List::each(&list, |p| view(&s.engine, p))))
}
