//! `smsflow hubspot action-definition --register` run as a user runs it: the
//! real binary posts the "Send SMS" definition to a fake HubSpot, which
//! checks its credentials and required fields as HubSpot does.

use smsflow_testkit::fakes::hubspot::FakeHubspot;
use std::process::Command;

fn smsflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smsflow"))
}

#[tokio::test]
async fn register_posts_the_definition_with_the_developer_key() {
    let hubspot = FakeHubspot::start().await;
    let base = hubspot.base_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        smsflow()
            .args([
                "hubspot",
                "action-definition",
                "--register",
                "--app-id",
                "4242",
                "--developer-api-key",
                "dev-key-1",
                "--api-base-url",
                &base,
                "--action-url",
                "https://sms.example.com/integrations/hubspot/actions/send-sms",
                "--options-url-base",
                "https://sms.example.com/integrations/hubspot/options",
            ])
            .env_remove("SMSFLOW_HUBSPOT_TOKEN")
            .output()
            .expect("smsflow runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("HubSpot's answer is printed");
    assert!(printed["id"].is_string(), "{printed}");

    let defs = hubspot.definitions();
    assert_eq!(defs.len(), 1);
    let d = &defs[0];
    assert_eq!(d.path, "/automation/v4/actions/4242");
    assert_eq!(d.authorization.as_deref(), Some("hapikey dev-key-1"));
    assert_eq!(
        d.body["actionUrl"],
        "https://sms.example.com/integrations/hubspot/actions/send-sms"
    );
    let fields: Vec<&str> = d.body["inputFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["typeDefinition"]["name"].as_str())
        .collect();
    assert!(
        fields.contains(&"from_number") && fields.contains(&"sender_user"),
        "{fields:?}"
    );
}

#[tokio::test]
async fn register_without_credentials_fails_and_posts_nothing() {
    let hubspot = FakeHubspot::start().await;
    let base = hubspot.base_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        smsflow()
            .args([
                "hubspot",
                "action-definition",
                "--register",
                "--app-id",
                "4242",
                "--api-base-url",
                &base,
            ])
            .env_remove("SMSFLOW_HUBSPOT_TOKEN")
            .env_remove("SMSFLOW_HUBSPOT_DEVELOPER_API_KEY")
            .output()
            .expect("smsflow runs")
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--developer-api-key or --token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(hubspot.definitions().is_empty());
}
