//! One `Settings`: defaults, then an optional TOML file, then `SMSFLOW_…`
//! environment and flags (clap merges those two, flags first).

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub role: Option<String>,
    pub http_gateway_url: Option<String>,
    pub public_url: Option<String>,
}

pub struct Settings {
    pub database_url: String,
    pub listen: Option<String>,
    pub role: Option<String>,
    pub http_gateway_url: Option<String>,
    pub public_url: Option<String>,
}

const KNOWN_ENV: &[&str] = &[
    "SMSFLOW_CONFIG",
    "SMSFLOW_DATABASE_URL",
    "SMSFLOW_LISTEN",
    "SMSFLOW_ROLE",
    "SMSFLOW_ADMIN_TOKEN",
    "SMSFLOW_LOG",
    "SMSFLOW_HTTP_GATEWAY_URL",
    "SMSFLOW_HTTP_GATEWAY_TOKEN",
    "SMSFLOW_PUBLIC_URL",
    "SMSFLOW_TEST_POSTGRES_URL",
];

impl Settings {
    /// `database_url` is the flag/environment value, which wins over the file.
    pub fn load(file: Option<&Path>, database_url: Option<String>) -> Result<Self> {
        for (k, _) in std::env::vars() {
            if k.starts_with("SMSFLOW_") && !KNOWN_ENV.contains(&k.as_str()) {
                tracing::warn!(variable = %k, "unknown SMSFLOW_ environment variable ignored");
            }
        }
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileSettings>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileSettings::default(),
        };
        Ok(Self {
            database_url: database_url
                .or(from_file.database_url)
                .unwrap_or_else(|| "sqlite://smsflow.db".into()),
            listen: from_file.listen,
            role: from_file.role,
            http_gateway_url: from_file.http_gateway_url,
            public_url: from_file.public_url,
        })
    }

    /// The database URL without its password, for messages.
    pub fn redacted_url(&self) -> String {
        redact(&self.database_url)
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/smsflow"),
            "postgres://app:***@db:5432/smsflow"
        );
        assert_eq!(
            redact("postgres://app@db/smsflow"),
            "postgres://app@db/smsflow"
        );
        assert_eq!(redact("sqlite://smsflow.db"), "sqlite://smsflow.db");
    }
}
