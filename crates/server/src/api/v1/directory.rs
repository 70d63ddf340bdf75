//! Users, numbers, their links, properties, and the form options (R1–R3).

use super::views::{FieldOption, List, Number, User};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, JsonBody, ListParams, Paging};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use smsflow_core::ids::NumberId;
use smsflow_core::object::ObjectType;
use smsflow_core::object::{PropertyDef, PropertyType};
use smsflow_engine::{NumberInput, UserInput};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(list_numbers, create_number))
        .routes(routes!(show_number, update_number))
        .routes(routes!(set_number_users))
        .routes(routes!(list_properties, create_property))
        .routes(routes!(number_options))
        .routes(routes!(user_options))
        .routes(routes!(recipient_options))
}

/// `POST /properties/{object_type}`: a custom property.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the request; the engine parses it field by field
struct PropertyInput {
    /// Lowercase letters, digits and `_`, starting with a letter.
    name: String,
    /// Shown in forms; defaults to the name.
    label: Option<String>,
    #[schema(rename = "type")]
    kind: PropertyType,
}

/// `PUT /numbers/{id}/users`: `{"user_ids": [...]}`, or the bare list.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // describes the request; the handler takes either form
enum NumberUsersInput {
    Object { user_ids: Vec<String> },
    List(Vec<String>),
}

pub fn object_type(raw: &str) -> Result<ObjectType, ApiError> {
    raw.parse::<ObjectType>()
        .map_err(|_| ApiError::not_found("object type"))
}

/// The account's sending users.
#[utoipa::path(
    get,
    path = "/users",
    tag = "directory",
    operation_id = "directory_list_users",
    params(Paging),
    responses((status = 200, description = "OK", body = List<User>))
)]
async fn list_users(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<List<User>>> {
    Ok(Json(List::page(
        s.engine.list_users(&a, p.after.as_deref(), p.limit).await?,
    )))
}

/// Creates a sending user.
#[utoipa::path(
    post,
    path = "/users",
    tag = "directory",
    operation_id = "directory_create_user",
    request_body(content = UserInput, content_type = "application/json"),
    responses((status = 201, description = "Created", body = User))
)]
async fn create_user(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<UserInput>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((
        StatusCode::CREATED,
        Json(User::from(&s.engine.create_user(&a, input).await?)),
    ))
}

/// The account's sending numbers.
#[utoipa::path(
    get,
    path = "/numbers",
    tag = "directory",
    operation_id = "directory_list_numbers",
    responses((status = 200, description = "OK", body = List<Number>))
)]
async fn list_numbers(Auth(a): Auth, State(s): State<AppState>) -> ApiResult<Json<List<Number>>> {
    Ok(Json(List::all(&s.engine.list_numbers(&a).await?)))
}

/// Adds a sending number.
#[utoipa::path(
    post,
    path = "/numbers",
    tag = "directory",
    operation_id = "directory_create_number",
    request_body(content = NumberInput, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Number))
)]
async fn create_number(
    Auth(a): Auth,
    State(s): State<AppState>,
    JsonBody(input): JsonBody<NumberInput>,
) -> ApiResult<(StatusCode, Json<Number>)> {
    Ok((
        StatusCode::CREATED,
        Json(Number::from(&s.engine.create_number(&a, input).await?)),
    ))
}

/// A sending number.
#[utoipa::path(
    get,
    path = "/numbers/{id}",
    tag = "directory",
    operation_id = "directory_show_number",
    params(("id" = String, Path)),
    responses((status = 200, description = "OK", body = Number))
)]
async fn show_number(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Number>> {
    Ok(Json(Number::from(
        &s.engine.get_number(&a, &NumberId::from_string(id)).await?,
    )))
}

/// Changes a number's label, capabilities, linked users or throughput.
#[utoipa::path(
    patch,
    path = "/numbers/{id}",
    tag = "directory",
    operation_id = "directory_update_number",
    params(("id" = String, Path)),
    request_body(content = NumberInput, content_type = "application/json"),
    responses((status = 200, description = "OK", body = Number))
)]
async fn update_number(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<NumberInput>,
) -> ApiResult<Json<Number>> {
    Ok(Json(Number::from(
        &s.engine
            .update_number(&a, &NumberId::from_string(id), input)
            .await?,
    )))
}

/// Sets the users who may send from a number (R3); the body may also be the bare list of ids.
#[utoipa::path(
    put,
    path = "/numbers/{id}/users",
    tag = "directory",
    operation_id = "directory_set_number_users",
    params(("id" = String, Path)),
    request_body(content = NumberUsersInput, content_type = "application/json"),
    responses((status = 200, description = "OK", body = Number))
)]
async fn set_number_users(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Number>> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?;
    let ids = match value {
        Value::Object(mut o) => o.remove("user_ids").unwrap_or(Value::Null),
        other => other,
    };
    Ok(Json(Number::from(
        &s.engine
            .set_number_users(&a, &NumberId::from_string(id), ids)
            .await?,
    )))
}

/// The property definitions of an object type: built-in and custom.
#[utoipa::path(
    get,
    path = "/properties/{object_type}",
    tag = "directory",
    operation_id = "directory_list_properties",
    params(("object_type" = String, Path)),
    responses((status = 200, description = "OK", body = List<PropertyDef>))
)]
async fn list_properties(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> ApiResult<Json<List<PropertyDef>>> {
    let schema = s.engine.schema(&a, object_type(&t)?).await?;
    Ok(Json(List::each(schema.defs(), PropertyDef::clone)))
}

/// Adds a custom property to an object type.
#[utoipa::path(
    post,
    path = "/properties/{object_type}",
    tag = "directory",
    operation_id = "directory_create_property",
    params(("object_type" = String, Path)),
    request_body(content = PropertyInput, content_type = "application/json"),
    responses((status = 201, description = "Created", body = PropertyDef))
)]
async fn create_property(
    Auth(a): Auth,
    State(s): State<AppState>,
    Path(t): Path<String>,
    JsonBody(input): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<PropertyDef>)> {
    let def = s
        .engine
        .create_property(&a, object_type(&t)?, input)
        .await?;
    Ok((StatusCode::CREATED, Json(def)))
}

/// Numbers a send-SMS action may choose: SMS-capable only (R1, R2); 403 when `sms` is not enabled.
#[utoipa::path(
    get,
    path = "/options/numbers",
    tag = "directory",
    operation_id = "directory_number_options",
    responses((status = 200, description = "OK", body = List<FieldOption>))
)]
async fn number_options(
    Auth(a): Auth,
    State(s): State<AppState>,
) -> ApiResult<Json<List<FieldOption>>> {
    let numbers = s.engine.number_options(&a).await?;
    Ok(Json(List::each(&numbers, |n| FieldOption {
        value: n.id.to_string(),
        label: format!("{} ({})", n.label, n.e164),
        e164: Some(n.e164.clone()),
    })))
}

/// Users a send-SMS action may send as: those linked to `number_id` (R3).
#[utoipa::path(
    get,
    path = "/options/users",
    tag = "directory",
    operation_id = "directory_user_options",
    params(Paging, ("number_id" = Option<String>, Query, description = "The sending number; only users linked to it (R3)")),
    responses((status = 200, description = "OK", body = List<FieldOption>))
)]
async fn user_options(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<List<FieldOption>>> {
    let number = p
        .rest
        .get("number_id")
        .ok_or_else(|| ApiError::field("number_id", "is required"))?;
    let users = s
        .engine
        .user_options(&a, &NumberId::from(number.as_str()))
        .await?;
    Ok(Json(List::each(&users, |u| FieldOption {
        value: u.id.to_string(),
        label: u.name.clone(),
        e164: None,
    })))
}

/// Phone-number properties a send-SMS action may send to, for an object type (R6).
#[utoipa::path(
    get,
    path = "/options/recipient-properties",
    tag = "directory",
    operation_id = "directory_recipient_options",
    params(Paging, ("object_type" = Option<ObjectType>, Query, description = "The workflow's object type")),
    responses((status = 200, description = "OK", body = List<FieldOption>))
)]
async fn recipient_options(
    Auth(a): Auth,
    State(s): State<AppState>,
    p: ListParams,
) -> ApiResult<Json<List<FieldOption>>> {
    let raw = p
        .rest
        .get("object_type")
        .ok_or_else(|| ApiError::field("object_type", "is required"))?;
    let t = raw
        .parse::<ObjectType>()
        .map_err(|e| ApiError::field("object_type", e.to_string()))?;
    let options = s.engine.recipient_property_options(&a, t).await?;
    Ok(Json(List::each(&options, |(value, label)| FieldOption {
        value: value.to_string(),
        label: label.to_string(),
        e164: None,
    })))
}
