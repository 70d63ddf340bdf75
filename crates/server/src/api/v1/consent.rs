//! Subscription types and per-phone SMS consent with its ledger (R18–R20).

use super::views::{List, SubscriptionType};
use crate::error::ApiResult;
use crate::extract::{Auth, JsonBody};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use smsflow_core::consent::{ConsentSource, ConsentStatus, LegalBasis};
use smsflow_core::ids::{MessageId, RecordId};
use smsflow_core::phone::E164;
use smsflow_engine::{ConsentInput, ConsentView, SubscriptionTypeInput};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_types, create_type))
        .routes(routes!(show, update))
}

/// The account's SMS subscription types.
#[utoipa::path(
    get,
    path = "/subscription-types",
    tag = "consent",
    operation_id = "consent_list_types",
    responses((status = 200, description = "OK", body = List<SubscriptionType>))
)]
async fn list_types(
    Auth(a): Auth,
    State(s): State<AppState>,
) -> ApiResult<Json<List<SubscriptionType>>> {
    Ok(Json(List::all(
        &s.engine.list_subscription_types(&a).await?,
    )))
}

/// Creates a subscription type (marketing or transactional purpose).
#[utoipa::path(
    post,
    path = "/subscription-types",
    tag = "consent",
    operation_id = "consent_create_type",
    request_body(content = SubscriptionTypeInput, content_type = "application/json"),
    responses((status = 201, description = "Created", body = SubscriptionType))
)]
async fn create_type(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<SubscriptionTypeInput>,
) -> ApiResult<(StatusCode, Json<SubscriptionType>)> {
    Ok((
        StatusCode::CREATED,
        Json(SubscriptionType::from(
            &s.engine.create_subscription_type(&a, input).await?,
        )),
    ))
}

/// A phone's consent: its current status per subscription type, and every
/// change that led there.
#[derive(Serialize, ToSchema)]
struct PhoneConsent {
    phone: E164,
    subscriptions: Vec<Subscription>,
    /// Oldest first; kept as proof (R20).
    ledger: Vec<ConsentChange>,
}

#[derive(Serialize, ToSchema)]
struct Subscription {
    /// A subscription type id, or `*` for the phone-wide state.
    subscription_type_id: String,
    status: ConsentStatus,
    legal_basis: Option<LegalBasis>,
    explanation: Option<String>,
    source: ConsentSource,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
struct ConsentChange {
    id: String,
    subscription_type_id: String,
    status: ConsentStatus,
    legal_basis: Option<LegalBasis>,
    explanation: Option<String>,
    source: ConsentSource,
    /// The wording the person agreed to.
    wording: Option<String>,
    record_id: Option<RecordId>,
    message_id: Option<MessageId>,
    at: DateTime<Utc>,
}

fn consent_view(v: &ConsentView) -> PhoneConsent {
    PhoneConsent {
        phone: v.phone.clone(),
        subscriptions: v
            .current
            .iter()
            .map(|c| Subscription {
                subscription_type_id: c.subscription_type_id.clone(),
                status: c.status,
                legal_basis: c.legal_basis,
                explanation: c.explanation.clone(),
                source: c.source,
                updated_at: c.updated_at,
            })
            .collect(),
        ledger: v
            .ledger
            .iter()
            .map(|c| ConsentChange {
                id: c.id.clone(),
                subscription_type_id: c.subscription_type_id.clone(),
                status: c.status,
                legal_basis: c.legal_basis,
                explanation: c.explanation.clone(),
                source: c.source,
                wording: c.wording.clone(),
                record_id: c.record_id.clone(),
                message_id: c.message_id.clone(),
                at: c.at,
            })
            .collect(),
    }
}

/// A phone's consent per subscription type, and its ledger of changes (R18–R20).
#[utoipa::path(
    get,
    path = "/consent/{e164}",
    tag = "consent",
    operation_id = "consent_show",
    params(("e164" = String, Path)),
    responses((status = 200, description = "OK", body = PhoneConsent))
)]
async fn show(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(phone): Path<String>,
) -> ApiResult<Json<PhoneConsent>> {
    Ok(Json(consent_view(&s.engine.get_consent(&a, &phone).await?)))
}

/// Records a consent change for a phone, with its legal basis and wording (R20).
#[utoipa::path(
    put,
    path = "/consent/{e164}",
    tag = "consent",
    operation_id = "consent_update",
    params(("e164" = String, Path)),
    request_body(content = ConsentInput, content_type = "application/json"),
    responses((status = 200, description = "OK", body = PhoneConsent))
)]
async fn update(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(phone): Path<String>,
    JsonBody(input): JsonBody<ConsentInput>,
) -> ApiResult<Json<PhoneConsent>> {
    Ok(Json(consent_view(
        &s.engine.put_consent(&a, &phone, input).await?,
    )))
}
