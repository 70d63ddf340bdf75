//! HubSpot's "Send SMS" custom workflow action (Automation Actions v4):
//! portals connected to accounts, executions (deduplicated on `callbackId`,
//! answered `SUCCESS`, `FAIL_CONTINUE` with an `errorCode`, or `BLOCK` for a
//! deferred send that the worker sends later and completes through HubSpot's
//! callback API), the number and user dropdowns (R1–R3), and the logging of
//! every SMS sent through the action and every reply to it as a
//! communication (channel SMS) on the HubSpot record (R14).
//!
//! Signatures are checked by the server before any of this runs (R27).
//! Communications are logged once the message is handed to its provider: a
//! message that never leaves is never shown as sent.

use crate::direct_send::{DirectOutcome, DirectSend, HubspotLink, Settle};
use crate::error::{EngineError, Result};
use crate::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use smsflow_core::ids::{AccountId, ConversationId, MessageId, NumberId, UserId};
use smsflow_core::message::{MessageStatus, ReasonCode};
use smsflow_core::object::ObjectType;
use smsflow_store::{
    ExecutionClaim, HubspotExecutionRow, HubspotLogRow, HubspotPortalRow, MessageRow,
};
use std::sync::OnceLock;
use utoipa::ToSchema;

/// HubSpot's API when a portal does not say otherwise.
pub const DEFAULT_API_BASE_URL: &str = "https://api.hubapi.com";
/// Options per page of a dropdown fetch.
const OPTIONS_PAGE: usize = 50;
/// Attempts at a HubSpot write before it is given up.
const MAX_ATTEMPTS: i64 = 8;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HubspotConnectInput {
    /// The HubSpot portal (hub) id: digits, as a string or a number
    #[schema(value_type = Option<serde_json::Value>)]
    pub portal_id: Option<Value>,
    pub client_secret: Option<String>,
    /// A string or a number
    #[schema(value_type = Option<serde_json::Value>)]
    pub app_id: Option<Value>,
    pub access_token: Option<String>,
    pub api_base_url: Option<String>,
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap_or_default()
    })
}

/// A JSON number or string as text (HubSpot sends ids both ways).
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An input field's value: v4 sends `{"value": …}` objects in options
/// fetches and plain values (OBJECT_PROPERTY already resolved) at execution.
fn input_value(fields: &Value, name: &str) -> Option<String> {
    let v = fields.get(name)?;
    let v = match v {
        Value::Object(o) => o.get("value")?,
        other => other,
    };
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn success_output(message_id: &MessageId) -> Value {
    json!({"hs_execution_state": "SUCCESS", "message_id": message_id.as_str()})
}

fn fail_output(code: &str, reason: &str) -> Value {
    json!({"hs_execution_state": "FAIL_CONTINUE", "errorCode": code, "errorMessage": reason})
}

/// HubSpot's object type (name or id) as ours, and the association type
/// from a communication to it (None: HubSpot defines none we know).
pub fn object_kind(hubspot_type: &str) -> (ObjectType, Option<u32>) {
    match hubspot_type.to_ascii_uppercase().as_str() {
        "CONTACT" | "CONTACTS" | "0-1" => (ObjectType::Contact, Some(81)),
        "COMPANY" | "COMPANIES" | "0-2" => (ObjectType::Company, Some(87)),
        "DEAL" | "DEALS" | "0-3" => (ObjectType::Deal, Some(85)),
        "TICKET" | "TICKETS" | "0-5" => (ObjectType::Ticket, Some(83)),
        "QUOTE" | "QUOTES" | "0-14" => (ObjectType::Quote, None),
        "USER" | "USERS" | "0-115" => (ObjectType::User, None),
        "ORDER" | "ORDERS" | "0-123" => (ObjectType::Order, None),
        "CART" | "CARTS" | "0-142" => (ObjectType::Cart, None),
        "INVOICE" | "INVOICES" | "0-53" => (ObjectType::Invoice, None),
        "LEAD" | "LEADS" | "0-136" => (ObjectType::Lead, None),
        _ => (ObjectType::Contact, None),
    }
}

/// HubSpot's object type id for ours (the v4 API takes ids for every type).
fn hubspot_type_id(kind: ObjectType) -> &'static str {
    match kind {
        ObjectType::Contact => "0-1",
        ObjectType::Company => "0-2",
        ObjectType::Deal => "0-3",
        ObjectType::Ticket => "0-5",
        ObjectType::Quote => "0-14",
        ObjectType::User => "0-115",
        ObjectType::Order => "0-123",
        ObjectType::Cart => "0-142",
        ObjectType::Invoice => "0-53",
        ObjectType::Lead => "0-136",
    }
}

/// Why a write to HubSpot did not go through.
#[derive(Debug)]
enum HubspotFailure {
    /// A 4xx other than 429: retrying will not help.
    Refused(String),
    /// Network errors, 429 and 5xx: worth another attempt later.
    Transient(String),
}

/// Sorts HubSpot's answer to a write of `what` into success or a failure.
fn classify_hubspot_answer(
    response: reqwest::Result<reqwest::Response>,
    what: &str,
) -> std::result::Result<reqwest::Response, HubspotFailure> {
    match response {
        Ok(r) if r.status().is_success() => Ok(r),
        Ok(r)
            if r.status().is_client_error()
                && r.status() != reqwest::StatusCode::TOO_MANY_REQUESTS =>
        {
            Err(HubspotFailure::Refused(format!(
                "HubSpot refused the {what}: {}",
                r.status()
            )))
        }
        Ok(r) => Err(HubspotFailure::Transient(format!(
            "HubSpot answered {} to the {what}",
            r.status()
        ))),
        Err(err) => Err(HubspotFailure::Transient(err.to_string())),
    }
}

/// An ISO-8601 duration covering the wait until `until`, plus a day of slack.
fn expiration(now: DateTime<Utc>, until: DateTime<Utc>) -> String {
    let days = (until - now).num_seconds().max(0) / 86_400 + 2;
    format!("P{days}D")
}

fn backoff(attempts: i64) -> Duration {
    Duration::seconds((1i64 << attempts.clamp(0, 12)).min(3600) * 30)
}

impl Engine {
    /// Connects a HubSpot portal to this account (or updates it).
    pub async fn connect_hubspot(
        &self,
        account: &AccountId,
        input: HubspotConnectInput,
    ) -> Result<HubspotPortalRow> {
        let mut errors = std::collections::BTreeMap::new();
        let portal_id =
            id_text(input.portal_id.as_ref()).filter(|p| p.chars().all(|c| c.is_ascii_digit()));
        if portal_id.is_none() {
            errors.insert(
                "portal_id".to_string(),
                "is required: the HubSpot portal (hub) id, digits only".to_string(),
            );
        }
        let secret = input.client_secret.filter(|s| !s.trim().is_empty());
        if secret.is_none() {
            errors.insert(
                "client_secret".to_string(),
                "is required: the app's client secret, which signs HubSpot's calls".to_string(),
            );
        }
        let token = input.access_token.filter(|s| !s.trim().is_empty());
        if token.is_none() {
            errors.insert(
                "access_token".to_string(),
                "is required: a token with the automation and CRM object scopes".to_string(),
            );
        }
        let base = input
            .api_base_url
            .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_string());
        if smsflow_providers::http_url(&base).is_none() {
            errors.insert(
                "api_base_url".to_string(),
                "must be an http(s) URL".to_string(),
            );
        }
        let (Some(portal_id), Some(secret), Some(token), true) =
            (portal_id, secret, token, errors.is_empty())
        else {
            return Err(EngineError::Validation { fields: errors });
        };
        if let Some(existing) = self.store().hubspot_portal(&portal_id).await? {
            if &existing.account_id != account {
                return Err(EngineError::Conflict(format!(
                    "HubSpot portal {portal_id} is connected to another account"
                )));
            }
        }
        let row = HubspotPortalRow {
            portal_id,
            account_id: account.clone(),
            client_secret: secret,
            app_id: id_text(input.app_id.as_ref()),
            access_token: token,
            api_base_url: base.trim_end_matches('/').to_string(),
            created_at: self.now(),
        };
        self.store().upsert_hubspot_portal(&row).await?;
        Ok(row)
    }

    pub async fn hubspot_portals(&self, account: &AccountId) -> Result<Vec<HubspotPortalRow>> {
        Ok(self.store().hubspot_portals_of_account(account).await?)
    }

    /// The portal HubSpot names in a call, with the secret to check it.
    pub async fn hubspot_portal(&self, portal_id: &str) -> Result<Option<HubspotPortalRow>> {
        Ok(self.store().hubspot_portal(portal_id).await?)
    }

    /// The action URL and options URL base to paste into the definition.
    pub fn hubspot_urls(&self) -> (String, String) {
        let base = self.public_url().trim_end_matches('/');
        (
            format!("{base}/integrations/hubspot/actions/send-sms"),
            format!("{base}/integrations/hubspot/options"),
        )
    }

    /// Answers a dropdown fetch for `field` (`from_number` or `sender_user`).
    pub async fn hubspot_options(
        &self,
        portal: &HubspotPortalRow,
        field: &str,
        request: &Value,
    ) -> Result<Value> {
        let account = &portal.account_id;
        let settings = self.get_account(account).await?.settings;
        if !settings.entitlements.sms {
            let msg = smsflow_core::account::SMS_NOT_ENABLED;
            return Ok(json!({
                "options": [{"label": msg, "value": "", "description": msg}],
                "searchable": false,
                "errors": [msg],
            }));
        }
        let q = request
            .pointer("/fetchOptions/q")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_lowercase();
        let after: usize = request
            .pointer("/fetchOptions/after")
            .and_then(|v| id_text(Some(v)))
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let mut options: Vec<Value> = match field {
            "from_number" => self
                .number_options(account)
                .await?
                .into_iter()
                .map(|n| json!({"label": format!("{} ({})", n.label, n.e164), "value": n.id.as_str(), "description": n.e164.as_str()}))
                .collect(),
            "sender_user" => {
                let fields = request.get("inputFields").cloned().unwrap_or(Value::Null);
                match input_value(&fields, "from_number").filter(|v| !v.is_empty()) {
                    None => Vec::new(),
                    Some(number) => match self.user_options(account, &NumberId::from_string(number)).await {
                        Ok(users) => users.into_iter().map(|u| json!({"label": u.name, "value": u.id.as_str(), "description": u.email})).collect(),
                        Err(EngineError::Validation { .. }) => Vec::new(),
                        Err(e) => return Err(e),
                    },
                }
            }
            _ => return Err(EngineError::NotFound("options field")),
        };
        if !q.is_empty() {
            options.retain(|o| {
                ["label", "description"].iter().any(|k| {
                    o[*k]
                        .as_str()
                        .is_some_and(|s| s.to_lowercase().contains(&q))
                })
            });
        }
        let total = options.len();
        let page: Vec<Value> = options.into_iter().skip(after).take(OPTIONS_PAGE).collect();
        let mut out = json!({"options": page, "searchable": true});
        if after + OPTIONS_PAGE < total {
            out["after"] = json!((after + OPTIONS_PAGE).to_string());
        }
        Ok(out)
    }

    /// Runs one execution request (already verified) and answers HubSpot's
    /// `outputFields`. The same `callbackId` again answers the stored
    /// outcome and sends nothing.
    pub async fn hubspot_execute(
        &self,
        portal: &HubspotPortalRow,
        request: &Value,
    ) -> Result<Value> {
        let account = &portal.account_id;
        let callback_id = id_text(request.get("callbackId"))
            .ok_or_else(|| EngineError::field("callbackId", "is required"))?;
        let fields = request.get("inputFields").cloned().unwrap_or(Value::Null);
        let object = request.get("object").cloned().unwrap_or(Value::Null);
        let hs_type = object
            .get("objectType")
            .and_then(Value::as_str)
            .unwrap_or("CONTACT")
            .to_string();
        let object_id = id_text(object.get("objectId")).unwrap_or_default();
        let properties: Map<String, Value> = object
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let (object_type, _) = object_kind(&hs_type);
        let send = DirectSend {
            number_id: NumberId::from_string(
                input_value(&fields, "from_number").unwrap_or_default(),
            ),
            user_id: input_value(&fields, "sender_user")
                .filter(|u| !u.is_empty())
                .map(UserId::from_string),
            to_raw: input_value(&fields, "recipient_phone").filter(|p| !p.trim().is_empty()),
            body: input_value(&fields, "message").unwrap_or_default(),
            object_type,
            properties,
            idempotency_key: format!("hubspot:{callback_id}"),
            hubspot: Some(HubspotLink {
                portal_id: portal.portal_id.clone(),
                callback_id: callback_id.clone(),
                object_type: hs_type,
                object_id,
            }),
        };
        let now = self.now();
        let claim = HubspotExecutionRow {
            callback_id: callback_id.clone(),
            account_id: account.clone(),
            portal_id: portal.portal_id.clone(),
            message_id: None,
            state: "running".into(),
            request: serde_json::to_value(&send).unwrap_or(Value::Null),
            output: json!({}),
            due_at: None,
            attempts: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        match self.store().claim_hubspot_execution(&claim).await? {
            ExecutionClaim::Existing(e) if e.state == "running" => {
                return Err(EngineError::Refused {
                    code: "in_progress",
                    message: format!("execution {callback_id} is being processed"),
                })
            }
            ExecutionClaim::Existing(e) => return Ok(json!({"outputFields": e.output})),
            ExecutionClaim::New => {}
        }
        let outcome = match self
            .send_direct_settled(account, &send, Some(Settle { state: "done" }))
            .await
        {
            Ok(o) => o,
            Err(e) => {
                // Nothing was sent: let HubSpot's retry run it afresh.
                self.store()
                    .delete_hubspot_execution(&callback_id)
                    .await
                    .ok();
                return Err(e);
            }
        };
        let output = match outcome {
            DirectOutcome::Sent { message_id } => success_output(&message_id),
            DirectOutcome::Refused { code, reason } => {
                let out = fail_output(code.as_str(), &reason);
                self.store()
                    .update_hubspot_execution(&callback_id, "done", &out, None, None, now)
                    .await?;
                out
            }
            DirectOutcome::Deferred {
                until,
                code,
                reason,
            } => {
                let out = json!({
                    "hs_execution_state": "BLOCK",
                    "hs_expiration_duration": expiration(now, until),
                    "errorCode": if code == ReasonCode::QuietHours { "quiet_hours" } else { code.as_str() },
                    "errorMessage": reason,
                });
                self.store()
                    .update_hubspot_execution(
                        &callback_id,
                        "deferred",
                        &out,
                        Some(until),
                        None,
                        now,
                    )
                    .await?;
                out
            }
        };
        Ok(json!({"outputFields": output}))
    }

    /// One round of HubSpot work: deferred sends that are due, callback
    /// completions, communications to log. Answers how many it did.
    pub(crate) async fn run_hubspot(&self) -> Result<usize> {
        let now = self.now();
        let lease_until = now + Duration::seconds(60);
        let mut done = 0;
        for e in self
            .store()
            .claim_due_hubspot_executions(now, lease_until, 128)
            .await?
        {
            done += 1;
            if let Err(err) = self.advance_execution(&e, now).await {
                tracing::warn!(callback_id = %e.callback_id, error = %err, "HubSpot execution step failed");
            }
        }
        for l in self
            .store()
            .claim_due_hubspot_logs(now, lease_until, 128)
            .await?
        {
            match self.log_communication(&l, now).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(log = %l.id, error = %err, "HubSpot communication not logged")
                }
            }
        }
        Ok(done)
    }

    async fn advance_execution(&self, e: &HubspotExecutionRow, now: DateTime<Utc>) -> Result<()> {
        let Some(portal) = self.store().hubspot_portal(&e.portal_id).await? else {
            self.store()
                .update_hubspot_execution(
                    &e.callback_id,
                    "done",
                    &e.output,
                    None,
                    Some("portal disconnected"),
                    now,
                )
                .await?;
            return Ok(());
        };
        if e.state == "deferred" {
            let send: DirectSend = serde_json::from_value(e.request.clone())
                .map_err(|err| EngineError::Conflict(format!("stored execution: {err}")))?;
            match self
                .send_direct_settled(
                    &portal.account_id,
                    &send,
                    Some(Settle {
                        state: "completing",
                    }),
                )
                .await?
            {
                DirectOutcome::Sent { .. } => {}
                DirectOutcome::Refused { code, reason } => {
                    let out = fail_output(code.as_str(), &reason);
                    self.store()
                        .update_hubspot_execution(
                            &e.callback_id,
                            "completing",
                            &out,
                            Some(now),
                            None,
                            now,
                        )
                        .await?;
                }
                DirectOutcome::Deferred { until, .. } => {
                    self.store()
                        .update_hubspot_execution(
                            &e.callback_id,
                            "deferred",
                            &e.output,
                            Some(until),
                            None,
                            now,
                        )
                        .await?;
                }
            }
            return Ok(());
        }
        // completing: tell HubSpot.
        let mut output = e.output.clone();
        if let Some(o) = output.as_object_mut() {
            o.remove("hs_expiration_duration");
        }
        let url = format!(
            "{}/automation/v4/actions/callbacks/{}/complete",
            portal.api_base_url, e.callback_id
        );
        let result = client()
            .post(&url)
            .bearer_auth(&portal.access_token)
            .json(&json!({"outputFields": output}))
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {
                self.store()
                    .update_hubspot_execution(&e.callback_id, "done", &output, None, None, now)
                    .await?;
            }
            other => {
                let why = match other {
                    Ok(r) => format!("HubSpot answered {}", r.status()),
                    Err(err) => err.to_string(),
                };
                let (state, due) = if e.attempts + 1 >= MAX_ATTEMPTS {
                    ("done", None)
                } else {
                    ("completing", Some(now + backoff(e.attempts)))
                };
                self.store()
                    .update_hubspot_execution(
                        &e.callback_id,
                        state,
                        &e.output,
                        due,
                        Some(&why),
                        now,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Logs one message on its HubSpot record; false when it must wait for
    /// the message's hand-off.
    async fn log_communication(&self, l: &HubspotLogRow, now: DateTime<Utc>) -> Result<bool> {
        let message = self
            .store()
            .get_message(&l.account_id, &l.message_id)
            .await
            .map_err(EngineError::not_found("message"))?;
        match message.status {
            MessageStatus::Queued => {
                // Not handed off yet: look again next round while its first
                // hand-off is due, then at a calmer pace while it retries.
                let again = if message.attempts == 0 {
                    now
                } else {
                    now + Duration::seconds(30)
                };
                self.store()
                    .update_hubspot_log(&l.id, "pending", Some(again), None, None)
                    .await?;
                return Ok(false);
            }
            MessageStatus::Failed => {
                self.store()
                    .update_hubspot_log(
                        &l.id,
                        "dropped",
                        None,
                        Some("the message was not sent"),
                        None,
                    )
                    .await?;
                return Ok(true);
            }
            _ => {}
        }
        let Some(portal) = self.store().hubspot_portal(&l.portal_id).await? else {
            self.store()
                .update_hubspot_log(&l.id, "dropped", None, Some("portal disconnected"), None)
                .await?;
            return Ok(true);
        };
        let (kind, association) = object_kind(&l.object_type);
        // A communication made earlier whose association did not go
        // through is associated now, never created twice.
        let communication = match &l.communication_id {
            Some(id) => Ok(id.clone()),
            None => {
                self.create_communication(&portal, &message, l, association)
                    .await
            }
        };
        let result = match (communication, association) {
            (Ok(id), Some(_)) => Ok(id),
            // HubSpot publishes no communication association type id for
            // quotes, orders, carts, invoices, leads and users; its v4
            // "default association" call picks the type itself.
            (Ok(id), None) => self
                .associate_by_default(&portal, &id, kind, &l.object_id)
                .await
                .map(|()| id.clone())
                .map_err(|failure| (failure, Some(id))),
            (Err(failure), _) => Err((failure, None)),
        };
        match result {
            Ok(id) => {
                self.store()
                    .update_hubspot_log(&l.id, "logged", None, None, Some(&id))
                    .await?;
            }
            Err((HubspotFailure::Refused(why), made)) => {
                self.store()
                    .update_hubspot_log(&l.id, "dropped", None, Some(&why), made.as_deref())
                    .await?;
            }
            Err((HubspotFailure::Transient(why), made)) => {
                let (state, due) = if l.attempts + 1 >= MAX_ATTEMPTS {
                    ("dropped", None)
                } else {
                    ("pending", Some(now + backoff(l.attempts)))
                };
                self.store()
                    .update_hubspot_log(&l.id, state, due, Some(&why), made.as_deref())
                    .await?;
            }
        }
        Ok(true)
    }

    /// `POST /crm/v3/objects/communications`, associated inline when the
    /// association type id is known. Answers the communication's id.
    async fn create_communication(
        &self,
        portal: &HubspotPortalRow,
        message: &MessageRow,
        l: &HubspotLogRow,
        association: Option<u32>,
    ) -> std::result::Result<String, HubspotFailure> {
        let mut payload = json!({
            "properties": {
                "hs_communication_channel_type": "SMS",
                "hs_communication_logged_from": "CRM",
                "hs_communication_body": communication_body(message, &l.direction),
                "hs_timestamp": message.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            },
        });
        if let Some(association) = association {
            payload["associations"] = json!([{
                "to": {"id": l.object_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": association}],
            }]);
        }
        let url = format!("{}/crm/v3/objects/communications", portal.api_base_url);
        let response = client()
            .post(&url)
            .bearer_auth(&portal.access_token)
            .json(&payload)
            .send()
            .await;
        let response = classify_hubspot_answer(response, "communication")?;
        response
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| id_text(v.get("id")))
            .ok_or_else(|| HubspotFailure::Transient("HubSpot answered no communication id".into()))
    }

    /// `PUT /crm/v4/objects/communications/{id}/associations/default/{type}/{object}`.
    async fn associate_by_default(
        &self,
        portal: &HubspotPortalRow,
        communication_id: &str,
        kind: ObjectType,
        object_id: &str,
    ) -> std::result::Result<(), HubspotFailure> {
        let url = format!(
            "{}/crm/v4/objects/communications/{communication_id}/associations/default/{}/{object_id}",
            portal.api_base_url,
            hubspot_type_id(kind),
        );
        let response = client()
            .put(&url)
            .bearer_auth(&portal.access_token)
            .send()
            .await;
        classify_hubspot_answer(response, "association").map(|_| ())
    }

    /// The communication to log for a reply, when the conversation's last
    /// outbound message came from HubSpot's action for a record.
    pub(crate) async fn hubspot_reply_logs(
        &self,
        account: &AccountId,
        conversation: &ConversationId,
        inbound: &MessageRow,
    ) -> Result<Vec<HubspotLogRow>> {
        let Some(link) = self
            .store()
            .hubspot_link_of_conversation(account, conversation)
            .await?
        else {
            return Ok(Vec::new());
        };
        Ok(vec![HubspotLogRow {
            id: format!("hsl_{}", ulid::Ulid::new().to_string().to_lowercase()),
            account_id: account.clone(),
            portal_id: link.portal_id,
            message_id: inbound.id.clone(),
            direction: "inbound".into(),
            object_type: link.object_type,
            object_id: link.object_id,
            state: "pending".into(),
            due_at: Some(inbound.created_at),
            attempts: 0,
            last_error: None,
            communication_id: None,
            created_at: inbound.created_at,
        }])
    }
}

fn communication_body(m: &MessageRow, direction: &str) -> String {
    if direction == "inbound" {
        format!("SMS received from {} on {}:\n{}", m.from, m.to, m.body)
    } else {
        format!("SMS sent from {} to {}:\n{}", m.from, m.to, m.body)
    }
}
