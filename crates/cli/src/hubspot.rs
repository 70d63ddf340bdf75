//! `smsflow hubspot action-definition`: the v4 definition of HubSpot's
//! "Send SMS" custom workflow action (Automation Actions v4), printed as JSON
//! or registered with HubSpot (`POST /automation/v4/actions/{appId}`).

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum HubspotCommand {
    /// Print the "Send SMS" action definition (or register it with --register).
    ActionDefinition(DefinitionArgs),
}

#[derive(Args)]
pub struct DefinitionArgs {
    /// The execution URL HubSpot calls (default: PUBLIC_URL/integrations/hubspot/actions/send-sms).
    #[arg(long)]
    action_url: Option<String>,
    /// The base of the dropdown URLs (default: PUBLIC_URL/integrations/hubspot/options).
    #[arg(long)]
    options_url_base: Option<String>,
    /// Post the definition to HubSpot instead of printing it.
    #[arg(long, requires = "app_id")]
    register: bool,
    /// The HubSpot app's id.
    #[arg(long)]
    app_id: Option<String>,
    /// The developer account's API key (sent as `hapikey`).
    #[arg(
        long,
        env = "SMSFLOW_HUBSPOT_DEVELOPER_API_KEY",
        conflicts_with = "token"
    )]
    developer_api_key: Option<String>,
    /// A bearer token allowed to manage the app's actions.
    #[arg(long, env = "SMSFLOW_HUBSPOT_TOKEN")]
    token: Option<String>,
    /// HubSpot's API.
    #[arg(long, default_value = "https://api.hubapi.com")]
    api_base_url: String,
    /// Publish the action to every portal that installs the app.
    #[arg(long)]
    published: bool,
}

/// The error codes smsflow answers in `errorCode` and what HubSpot's
/// workflow history shows for each (first match wins).
const RULES: [(&str, &str, &str); 9] = [
    ("limit_reached", "limit_exceeded", "Not sent: the daily or monthly SMS limit of the number or the sender user is reached. It is not retried."),
    ("opted_out", "opted_out", "Not sent: the recipient opted out of SMS (replied STOP)."),
    ("invalid_phone", "invalid_phone", "Not sent: the recipient's phone number is not a valid number."),
    ("no_recipient", "no_recipient", "Not sent: the record has no phone number in the chosen property."),
    ("sms_not_enabled", "sms_not_enabled", "Not sent: SMS workflows are in private beta and are not enabled for this account."),
    ("not_marketing_contact", "not_marketing_contact", "Not sent: marketing SMS go only to marketing contacts."),
    ("missing_token", "missing_token", "Not sent: a personalization token is empty and has no default."),
    ("quiet_hours", "quiet_hours", "Waiting: it is quiet hours at the recipient; the SMS goes out when the sending window opens."),
    ("sender_problem", "provider_error", "Not sent: the number cannot send SMS or the sender user is not linked to it."),
];

/// The "Send SMS" action definition for these URLs.
pub fn definition(action_url: &str, options_url_base: &str, published: bool) -> Value {
    let base = options_url_base.trim_end_matches('/');
    let execution_rules: Vec<Value> = RULES
        .iter()
        .map(|(label, code, _)| json!({"labelName": label, "conditions": {"errorCode": [code]}}))
        .collect();
    let rule_labels: serde_json::Map<String, Value> = RULES
        .iter()
        .map(|(label, _, text)| (label.to_string(), json!(text)))
        .collect();
    json!({
        "actionUrl": action_url,
        "published": published,
        "objectTypes": ["CONTACT", "COMPANY", "DEAL", "TICKET", "QUOTE", "USER", "ORDER", "CART", "INVOICE", "LEAD"],
        "inputFields": [
            {
                "typeDefinition": {"name": "from_number", "type": "enumeration", "fieldType": "select", "optionsUrl": format!("{base}/from_number")},
                "supportedValueTypes": ["STATIC_VALUE"],
                "isRequired": true,
            },
            {
                "typeDefinition": {"name": "sender_user", "type": "enumeration", "fieldType": "select", "optionsUrl": format!("{base}/sender_user")},
                "supportedValueTypes": ["STATIC_VALUE"],
                "isRequired": true,
            },
            {
                "typeDefinition": {"name": "recipient_phone", "type": "string", "fieldType": "phonenumber"},
                "supportedValueTypes": ["OBJECT_PROPERTY"],
                "isRequired": true,
            },
            {
                "typeDefinition": {"name": "message", "type": "string", "fieldType": "textarea"},
                "supportedValueTypes": ["STATIC_VALUE", "OBJECT_PROPERTY"],
                "isRequired": true,
            },
        ],
        "inputFieldDependencies": [
            {"dependencyType": "SINGLE_FIELD", "controllingFieldName": "from_number", "dependentFieldNames": ["sender_user"]},
        ],
        "outputFields": [
            {"typeDefinition": {"name": "message_id", "type": "string", "fieldType": "text"}, "supportedValueTypes": ["STATIC_VALUE"]},
            {"typeDefinition": {"name": "errorCode", "type": "string", "fieldType": "text"}, "supportedValueTypes": ["STATIC_VALUE"]},
        ],
        "objectRequestOptions": {"properties": ["firstname", "lastname", "email", "mobilephone", "phone", "name", "dealname"]},
        "labels": {
            "en": {
                "actionName": "Send SMS",
                "appDisplayName": "smsflow",
                "actionDescription": "Send an SMS from an smsflow number, as a user linked to it. Consent, quiet hours and send limits apply; the SMS and replies are logged on the record.",
                "actionCardContent": "Send SMS from {{from_number}}",
                "inputFieldLabels": {
                    "from_number": "Number (from)",
                    "sender_user": "Sender user",
                    "recipient_phone": "Recipient number (to)",
                    "message": "Message",
                },
                "inputFieldDescriptions": {
                    "from_number": "An SMS-capable smsflow number.",
                    "sender_user": "A user linked to the chosen number.",
                    "recipient_phone": "The record's phone number property the SMS goes to.",
                    "message": "Up to 1,600 characters. Record tokens such as {{ contact.firstname }} are allowed.",
                },
                "outputFieldLabels": {"message_id": "smsflow message id", "errorCode": "Error code"},
                "executionRules": rule_labels,
            }
        },
        "executionRules": execution_rules,
    })
}

pub async fn run(command: HubspotCommand, public_url: &str) -> Result<()> {
    let HubspotCommand::ActionDefinition(args) = command;
    let public = public_url.trim_end_matches('/');
    let action_url = args
        .action_url
        .unwrap_or_else(|| format!("{public}/integrations/hubspot/actions/send-sms"));
    let options = args
        .options_url_base
        .unwrap_or_else(|| format!("{public}/integrations/hubspot/options"));
    let def = definition(&action_url, &options, args.published);
    if !args.register {
        println!("{}", serde_json::to_string_pretty(&def)?);
        return Ok(());
    }
    let app_id = args.app_id.context("--register needs --app-id")?;
    let url = format!(
        "{}/automation/v4/actions/{app_id}",
        args.api_base_url.trim_end_matches('/')
    );
    let mut req = reqwest::Client::new().post(&url).json(&def);
    req = match (args.developer_api_key, args.token) {
        (Some(key), _) => req.query(&[("hapikey", key)]),
        (None, Some(token)) => req.bearer_auth(token),
        (None, None) => bail!("--register needs --developer-api-key or --token"),
    };
    let resp = req
        .send()
        .await
        .context("posting the definition to HubSpot")?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("HubSpot answered {status}: {text}");
    }
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_has_the_seeds_fields_dependency_and_rules() {
        let d = definition(
            "https://sms.example.com/integrations/hubspot/actions/send-sms",
            "https://sms.example.com/integrations/hubspot/options/",
            false,
        );
        assert_eq!(
            d["actionUrl"],
            "https://sms.example.com/integrations/hubspot/actions/send-sms"
        );
        assert_eq!(d["objectTypes"].as_array().map(Vec::len), Some(10));
        let names: Vec<&str> = d["inputFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["typeDefinition"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["from_number", "sender_user", "recipient_phone", "message"]
        );
        assert_eq!(
            d["inputFields"][0]["typeDefinition"]["optionsUrl"],
            "https://sms.example.com/integrations/hubspot/options/from_number"
        );
        assert_eq!(
            d["inputFields"][1]["typeDefinition"]["optionsUrl"],
            "https://sms.example.com/integrations/hubspot/options/sender_user"
        );
        assert_eq!(
            d["inputFields"][2]["supportedValueTypes"],
            json!(["OBJECT_PROPERTY"])
        );
        assert_eq!(
            d["inputFieldDependencies"][0],
            json!({"dependencyType": "SINGLE_FIELD", "controllingFieldName": "from_number", "dependentFieldNames": ["sender_user"]})
        );
        for code in [
            "limit_exceeded",
            "opted_out",
            "invalid_phone",
            "sms_not_enabled",
            "quiet_hours",
        ] {
            let rule = d["executionRules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["conditions"]["errorCode"][0] == code)
                .expect("a rule per code");
            let label = rule["labelName"].as_str().unwrap();
            assert!(
                d["labels"]["en"]["executionRules"][label].is_string(),
                "{code} has a message"
            );
        }
    }
}
