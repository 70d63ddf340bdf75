//! Extractors that answer bad input in our error shape instead of axum's
//! plain-text rejections (R28): JSON bodies, list paging, bearer tokens.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use smsflow_core::ids::AccountId;
use std::collections::HashMap;

/// A JSON body parsed into `T`; errors name the field when serde can.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "request body is too large",
                    )
                } else {
                    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
                }
            })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("body is not valid JSON: {e}"),
            )
        })?;
        if !value.is_object() {
            return Err(ApiError::field("body", "must be a JSON object"));
        }
        serde_json::from_value(value).map(JsonBody).map_err(|e| {
            let msg = e.to_string();
            // serde names unknown fields between backticks.
            let field = if msg.starts_with("unknown field") {
                msg.split('`').nth(1).unwrap_or("body")
            } else {
                "body"
            };
            ApiError::field(field, msg.clone())
        })
    }
}

/// The paging parameters every list takes, as `/api/openapi.json`
/// describes them; [`ListParams`] reads them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query; `ListParams` parses it
pub struct Paging {
    /// Results per page, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The `next_cursor` of the page before.
    after: Option<String>,
}

/// `?limit=&after=` for list endpoints, plus the other query parameters.
pub struct ListParams {
    pub limit: i64,
    pub after: Option<String>,
    pub rest: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut rest: HashMap<String, String> = parts
            .uri
            .query()
            .map(|q| {
                q.split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        (decode(k), decode(v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let limit = match rest.remove("limit") {
            None => 100,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(ApiError::field(
                        "limit",
                        "must be an integer from 1 to 1000",
                    ))
                }
            },
        };
        let after = rest
            .remove("after")
            .or_else(|| rest.remove("cursor"))
            .filter(|s| !s.is_empty());
        Ok(ListParams { limit, after, rest })
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The account whose token the request carries (R26).
pub struct Auth(pub AccountId);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        Ok(Auth(state.engine.authenticate(token).await?))
    }
}

/// The server admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        if state.is_admin(token) {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized(
                "this call needs the server admin token",
            ))
        }
    }
}
