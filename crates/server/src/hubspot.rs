//! HubSpot's calls to the "Send SMS" custom workflow action:
//! `POST /integrations/hubspot/actions/send-sms` (execution) and
//! `POST /integrations/hubspot/options/{field}` (dropdown options). No bearer
//! token: the portal named in `origin.portalId` must be connected to an
//! account, and the request must carry HubSpot's signature made with that
//! portal's app client secret (R27) — v3 (HMAC-SHA256 over method, URI, body
//! and a timestamp at most 5 minutes old), else v2 (SHA-256 over secret,
//! method, URI and body). The signature is checked before anything else; a
//! refused call stores nothing.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use smsflow_engine::EngineError;
use smsflow_store::HubspotPortalRow;
use subtle::ConstantTimeEq;

/// How old a v3 signature's timestamp may be.
pub const MAX_SIGNATURE_AGE_MS: i64 = 5 * 60 * 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/integrations/hubspot/actions/send-sms", post(execute))
        .route("/integrations/hubspot/options/{field}", post(options))
}

/// The escapes HubSpot decodes in the URI before signing (v3).
const DECODED: [(&str, &str); 12] = [
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

fn decode_uri(uri: &str) -> String {
    let mut out = uri.to_string();
    for (from, to) in DECODED {
        out = out
            .replace(from, to)
            .replace(&from.to_ascii_lowercase(), to);
    }
    out
}

/// base64(HMAC-SHA256(secret, METHOD + URI + body + timestamp)).
pub fn signature_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(method.as_bytes());
    mac.update(decode_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// hex(SHA-256(secret + METHOD + URI + body)).
pub fn signature_v2(secret: &str, method: &str, uri: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(method.as_bytes());
    h.update(uri.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Checks the call's signature against the portal's secret.
fn verify(
    state: &AppState,
    portal: &HubspotPortalRow,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!(
        "{}{}",
        state.engine.public_url().trim_end_matches('/'),
        path_and_query
    );
    let secret = portal.client_secret.as_str();
    if let (Some(sig), Some(ts)) = (
        header(headers, "x-hubspot-signature-v3"),
        header(headers, "x-hubspot-request-timestamp"),
    ) {
        let sent: i64 = ts
            .parse()
            .map_err(|_| ApiError::unauthorized("bad HubSpot request timestamp"))?;
        let now = state.engine.clock().now().timestamp_millis();
        if now - sent > MAX_SIGNATURE_AGE_MS || sent - now > MAX_SIGNATURE_AGE_MS {
            return Err(ApiError::unauthorized("the HubSpot signature is too old"));
        }
        if same(&signature_v3(secret, method.as_str(), &url, body, ts), sig) {
            return Ok(());
        }
        return Err(ApiError::unauthorized(
            "the HubSpot signature does not match",
        ));
    }
    let v2 = header(headers, "x-hubspot-signature-version")
        .is_some_and(|v| v.eq_ignore_ascii_case("v2"));
    if let (true, Some(sig)) = (v2, header(headers, "x-hubspot-signature")) {
        if same(
            &signature_v2(secret, method.as_str(), &url, body),
            &sig.to_ascii_lowercase(),
        ) {
            return Ok(());
        }
        return Err(ApiError::unauthorized(
            "the HubSpot signature does not match",
        ));
    }
    Err(ApiError::unauthorized("missing HubSpot signature"))
}

/// The portal the body names, verified; then the body as JSON.
async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(HubspotPortalRow, Value), ApiError> {
    let refused = || ApiError::unauthorized("unknown HubSpot portal or bad signature");
    let value: Value = serde_json::from_slice(body).map_err(|_| refused())?;
    let portal_id = match value.pointer("/origin/portalId") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => return Err(refused()),
    };
    let portal = state
        .engine
        .hubspot_portal(&portal_id)
        .await?
        .ok_or_else(refused)?;
    verify(state, &portal, method, uri, headers, body)?;
    Ok((portal, value))
}

async fn execute(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (portal, request) = authenticate(&s, &method, &uri, &headers, &body).await?;
    match s.engine.hubspot_execute(&portal, &request).await {
        Ok(out) => Ok(Json(out).into_response()),
        // A retry of an execution still running: HubSpot retries 429s.
        Err(EngineError::Refused {
            code: "in_progress",
            message,
        }) => {
            let mut r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "in_progress", message)
                .into_response();
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("5"));
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

async fn options(
    State(s): State<AppState>,
    Path(field): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (portal, request) = authenticate(&s, &method, &uri, &headers, &body).await?;
    Ok(Json(
        s.engine.hubspot_options(&portal, &field, &request).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_decodes_the_listed_escapes_before_signing() {
        let a = signature_v3("s", "POST", "https://x.test/a%3Ab?c=%40", b"{}", "1");
        let b = signature_v3("s", "POST", "https://x.test/a:b?c=@", b"{}", "1");
        assert_eq!(a, b);
    }

    #[test]
    fn v2_is_hex_sha256_of_secret_method_uri_body() {
        let sig = signature_v2("secret", "POST", "https://x.test/h", b"{}");
        let expected = hex::encode(Sha256::digest(b"secretPOSThttps://x.test/h{}"));
        assert_eq!(sig, expected);
    }
}
