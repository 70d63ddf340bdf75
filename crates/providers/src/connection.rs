//! Provider connections: an account's configured provider (kind, name,
//! config with secrets) turned into a [`Provider`]. New adapters register
//! their kind here.

use crate::{Aircall, Twilio, Vonage};
use crate::{HttpGateway, Provider, Sandbox};
use serde_json::Value;
use std::sync::Arc;

/// The kinds a connection can have.
pub const KINDS: &[&str] = &["aircall", "http", "smpp", "twilio", "vonage"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown provider kind `{0}`")]
    UnknownKind(String),
    /// A config field is missing or wrong: (field, why).
    #[error("config.{0}: {1}")]
    Field(String, String),
}

pub(crate) fn string(config: &Value, field: &str) -> Result<String, ConfigError> {
    config
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ConfigError::Field(field.to_string(), "is required".to_string()))
}

pub(crate) fn optional_string(config: &Value, field: &str) -> Option<String> {
    config
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

/// Builds the adapter for a connection. `webhook_base` is this
/// connection's public webhook URL prefix (status callbacks point there).
pub fn build(
    kind: &str,
    config: &Value,
    webhook_base: &str,
) -> Result<Arc<dyn Provider>, ConfigError> {
    let _ = webhook_base;
    match kind {
        "sandbox" => Ok(Arc::new(Sandbox)),
        "http" => {
            let url = string(config, "url").or_else(|_| string(config, "base_url"))?;
            let url = crate::http_url(&url)
                .ok_or_else(|| ConfigError::Field("url".into(), "must be an http(s) URL".into()))?;
            Ok(Arc::new(HttpGateway::new(
                url,
                optional_string(config, "token"),
            )))
        }
        "twilio" => {
            let base = base_url_or(config, crate::twilio::DEFAULT_BASE_URL)?;
            Ok(Arc::new(Twilio::new(
                base,
                string(config, "account_sid")?,
                string(config, "auth_token")?,
                optional_string(config, "messaging_service_sid"),
                webhook_base,
            )))
        }
        "vonage" => {
            let base = base_url_or(config, crate::vonage::DEFAULT_BASE_URL)?;
            Ok(Arc::new(Vonage::new(
                base,
                string(config, "api_key")?,
                string(config, "api_secret")?,
                string(config, "signature_secret")?,
            )))
        }
        "aircall" => Ok(Arc::new(Aircall::new(
            crate::aircall::AircallConfig::from_json(config)?,
        ))),
        "smpp" => Ok(Arc::new(crate::Smpp::new(crate::SmppConfig::from_json(
            config,
        )?))),
        other => Err(ConfigError::UnknownKind(other.to_string())),
    }
}

/// `config.base_url` when given (it must be http(s), with a host), else
/// `default`.
pub(crate) fn base_url_or(config: &Value, default: &str) -> Result<String, ConfigError> {
    match optional_string(config, "base_url") {
        Some(url) if crate::http_url(&url).is_some() => Ok(url),
        Some(_) => Err(ConfigError::Field(
            "base_url".into(),
            "must be an http(s) URL".into(),
        )),
        None => Ok(default.to_string()),
    }
}

/// The config keys that hold secrets, never shown by the API nor logged.
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["token", "secret", "password", "auth", "key", "private"]
        .iter()
        .any(|s| k.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_http_connection_needs_a_url_with_an_http_scheme_and_a_host() {
        for bad in [
            "ftp://gw.example/send",
            "http://",
            "gw.example/send",
            "mailto:gw@example.com",
        ] {
            let err = build("http", &json!({ "url": bad }), "")
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(
                matches!(&err, ConfigError::Field(f, _) if f == "url"),
                "{bad}: {err:?}"
            );
        }
        let gateway = build("http", &json!({ "url": "https://gw.example/send" }), "");
        assert_eq!(
            gateway.map(|p| p.kind().to_string()).ok(),
            Some("http".into())
        );
    }

    #[test]
    fn a_provider_base_url_needs_an_http_scheme_and_a_host() {
        let config =
            |base: &str| json!({"account_sid": "AC1", "auth_token": "t", "base_url": base});
        for bad in ["http://", "ftp://api.example", "api.example"] {
            let err = build("twilio", &config(bad), "")
                .err()
                .unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(
                matches!(&err, ConfigError::Field(f, _) if f == "base_url"),
                "{bad}: {err:?}"
            );
        }
        assert!(build("twilio", &config("http://127.0.0.1:9"), "").is_ok());
    }
}
