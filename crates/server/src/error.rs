//! The one place errors become HTTP: status plus
//! `{"error": {"code", "message", "fields"}}` (DESIGN §5). A 5xx logs its
//! cause and tells the caller nothing internal.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use smsflow_engine::EngineError;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Option<BTreeMap<String, String>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: None,
        }
    }

    pub fn validation(fields: BTreeMap<String, String>) -> Self {
        let message = match fields.len() {
            1 => {
                let (k, v) = fields.iter().next().expect("one field");
                format!("{k}: {v}")
            }
            n => format!("{n} fields are invalid"),
        };
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "validation_failed",
            message,
            fields: Some(fields),
        }
    }

    pub fn field(name: &str, why: impl Into<String>) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(name.to_string(), why.into());
        Self::validation(fields)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(what) => ApiError::not_found(what),
            EngineError::Validation { fields } => ApiError::validation(fields),
            EngineError::SmsNotEnabled => {
                ApiError::new(StatusCode::FORBIDDEN, "sms_not_enabled", e.to_string())
            }
            EngineError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            EngineError::Refused {
                code: "limit_exceeded",
                message,
            } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "limit_exceeded", message),
            EngineError::Refused { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            EngineError::Unauthorized(m) => ApiError::unauthorized(m),
            EngineError::Provider { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", e.to_string())
            }
            EngineError::Store(cause) => {
                tracing::error!(error = %cause, source = ?std::error::Error::source(&cause), "storage failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                )
            }
        }
    }
}

/// Every 4xx and 5xx: `{"error": {"code", "message", "fields"?}}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    /// `validation_failed`, `not_found`, `sms_not_enabled`, …
    code: &'static str,
    message: String,
    /// The bad fields, by path (`actions[0].body`), on 422.
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<BTreeMap<String, String>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                fields: self.fields,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
