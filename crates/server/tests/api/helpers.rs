//! Small assertions shared by the API tests.

use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;

/// A valid US mobile number distinct per `i` (`+1415555` followed by four
/// digits, outside the sandbox's rejecting range).
pub fn us_phone(i: usize) -> String {
    format!("+1415555{:04}", 200 + i)
}

/// Asserts our error shape (`{"error": {"code", "message", "fields"?}}`)
/// with this status and code, and returns the error object.
pub fn assert_error(
    status: StatusCode,
    body: &Value,
    want_status: StatusCode,
    want_code: &str,
) -> Value {
    assert_eq!(status, want_status, "unexpected status; body: {body}");
    let top: BTreeSet<&str> = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not a JSON object: {body}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, BTreeSet::from(["error"]), "error body: {body}");
    let error = &body["error"];
    assert_eq!(error["code"], want_code, "error body: {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without message: {body}"
    );
    for key in error.as_object().expect("error is an object").keys() {
        assert!(
            ["code", "message", "fields"].contains(&key.as_str()),
            "unexpected error key {key}: {body}"
        );
    }
    error.clone()
}

/// Asserts a 422 validation error and returns the names of its fields.
pub fn validation_fields(status: StatusCode, body: &Value) -> BTreeSet<String> {
    let error = assert_error(
        status,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let fields = error["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("422 without fields: {body}"));
    for (k, why) in fields {
        assert!(
            why.as_str().is_some_and(|w| !w.is_empty()),
            "field {k} has no reason: {body}"
        );
    }
    fields.keys().cloned().collect()
}

/// The `id`s of a list of resources, as strings.
pub fn ids(list: &[Value]) -> BTreeSet<String> {
    list.iter()
        .map(|v| {
            v["id"]
                .as_str()
                .unwrap_or_else(|| panic!("id is not a string: {v}"))
                .to_string()
        })
        .collect()
}

/// The set of `key` values of a list.
pub fn set_of(list: &[Value], key: &str) -> BTreeSet<String> {
    list.iter()
        .map(|v| {
            v[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} is not a string: {v}"))
                .to_string()
        })
        .collect()
}

/// Action log entries with this outcome (and reason code, when given).
pub fn with_outcome<'a>(
    logs: &'a [Value],
    outcome: &str,
    reason_code: Option<&str>,
) -> Vec<&'a Value> {
    logs.iter()
        .filter(|l| l["outcome"] == outcome && reason_code.is_none_or(|c| l["reason_code"] == c))
        .collect()
}

/// The usage entry of one number or user (`kind` is `numbers` or `users`).
pub fn usage_of<'a>(usage: &'a Value, kind: &str, id: &str) -> &'a Value {
    usage[kind]
        .as_array()
        .unwrap_or_else(|| panic!("usage has no {kind}: {usage}"))
        .iter()
        .find(|u| u["id"] == id)
        .unwrap_or_else(|| panic!("usage has no entry for {kind} {id}: {usage}"))
}
