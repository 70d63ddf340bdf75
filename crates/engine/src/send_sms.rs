//! The send-SMS action up to the outbox: recipient (R6), rendering (R7),
//! encoding (R8). Pure: everything it needs is handed in, so the executor can
//! prepare a whole batch before one transaction reserves limits and queues
//! the messages.

use serde_json::{json, Map, Value};
use smsflow_core::account::AccountSettings;
use smsflow_core::consent::is_marketing_contact;
use smsflow_core::encoding::{analyze, smart_encode, SmsInfo};
use smsflow_core::ids::{NumberId, RecordId, SubscriptionTypeId, UserId};
use smsflow_core::message::{Outcome, ReasonCode};
use smsflow_core::object::{is_empty_value, ObjectType, Record};
use smsflow_core::phone::E164;
use smsflow_core::template::{RenderError, RenderScope};
use smsflow_core::workflow::{PropertyRef, SendSmsStep, MAX_BODY_CHARS};
use smsflow_store::{NumberRow, UserRow};

/// A message ready to be limited and queued.
#[derive(Debug, Clone)]
pub(crate) struct PendingSend {
    pub from: E164,
    pub to: E164,
    pub body: String,
    pub info: SmsInfo,
    pub number_id: NumberId,
    pub user_id: Option<UserId>,
    pub provider: String,
    /// The contact the message went to when it is not the enrolled record.
    pub contact_id: Option<RecordId>,
    pub subscription_type_id: Option<SubscriptionTypeId>,
    /// Whether the recipient contact is a marketing contact (R19).
    pub marketing_contact: bool,
}

pub(crate) enum Prepared {
    /// The action ends here without a message.
    Done {
        outcome: Outcome,
        code: ReasonCode,
        reason: String,
    },
    Send(Box<PendingSend>),
}

fn done(outcome: Outcome, code: ReasonCode, reason: impl Into<String>) -> Prepared {
    Prepared::Done {
        outcome,
        code,
        reason: reason.into(),
    }
}

/// What the send step sees of the world.
pub(crate) struct SendInputs<'a> {
    pub settings: &'a AccountSettings,
    pub record: &'a Record,
    /// The primary associated contact (the record itself in contact workflows).
    pub contact: Option<&'a Record>,
    pub number: Option<&'a NumberRow>,
    pub user: Option<&'a UserRow>,
    /// Numbers known valid: a recipient already written in one of these
    /// exact E.164 forms is taken without parsing it again.
    pub validated: KnownPhones<'a>,
}

/// Phones from the phone index, validated when their record was written.
/// The default knows none: every recipient is parsed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KnownPhones<'a> {
    /// The record's own.
    pub own: &'a [E164],
    /// Other records' (a page's contacts).
    pub others: Option<&'a foldhash::HashSet<E164>>,
}

impl KnownPhones<'_> {
    fn get(&self, raw: &str) -> Option<&E164> {
        self.own
            .iter()
            .find(|p| p.as_str() == raw)
            .or_else(|| self.others?.get(raw))
    }
}

fn property_of<'a>(
    r: &PropertyRef,
    inputs: &'a SendInputs<'_>,
) -> (Option<&'a Value>, Option<&'a Record>) {
    match r {
        PropertyRef::Own(p) => (
            inputs.record.properties.get(p.as_str()),
            Some(inputs.record),
        ),
        PropertyRef::Contact(p) => match inputs.contact {
            Some(c) => (c.properties.get(p.as_str()), Some(c)),
            None => (None, None),
        },
    }
}

fn value_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

pub(crate) fn prepare(step: &SendSmsStep, inputs: &SendInputs<'_>) -> Prepared {
    if !inputs.settings.entitlements.sms {
        return done(
            Outcome::Failed,
            ReasonCode::SmsNotEnabled,
            smsflow_core::account::SMS_NOT_ENABLED,
        );
    }
    let Some(number) = inputs.number.filter(|n| n.sms) else {
        return done(
            Outcome::Failed,
            ReasonCode::ProviderError,
            format!("number {} is gone or cannot send SMS", step.from_number_id),
        );
    };
    // R6: the first non-empty of the property and its fallback.
    let mut chosen = None;
    for r in std::iter::once(&step.recipient).chain(step.fallback.as_ref()) {
        let (v, owner) = property_of(r, inputs);
        if !is_empty_value(v) {
            chosen = v.map(|v| (value_text(v), owner));
            break;
        }
    }
    let Some((raw, owner)) = chosen else {
        return done(
            Outcome::Skipped,
            ReasonCode::NoRecipient,
            "the recipient property and its fallback are empty",
        );
    };
    let known = inputs.validated.get(raw.trim());
    let to = match known {
        Some(p) => p.clone(),
        None => match E164::parse(&raw, Some(inputs.settings.default_country)) {
            Ok(p) => p,
            Err(e) => return done(Outcome::Failed, ReasonCode::InvalidPhone, e.to_string()),
        },
    };
    // Sender and number are built only for a template that reads them.
    let sender = inputs.user.filter(|_| step.body.reads("sender")).map(|u| {
        let mut sender = Map::new();
        sender.insert("name".into(), json!(u.name));
        sender.insert("email".into(), json!(u.email));
        sender
    });
    let num = step.body.reads("number").then(|| {
        let mut num = Map::new();
        num.insert("e164".into(), json!(number.e164.as_str()));
        num.insert("label".into(), json!(number.label));
        num
    });
    let empty = Map::new();
    let mut scope = RenderScope::default();
    scope.insert(
        inputs.record.object_type.as_str(),
        &inputs.record.properties,
    );
    // In a contact workflow the contact is the record, inserted just above.
    if let Some(c) = inputs.contact.filter(|c| c.id != inputs.record.id) {
        scope.insert(ObjectType::Contact.as_str(), &c.properties);
    }
    scope.insert("sender", sender.as_ref().unwrap_or(&empty));
    scope.insert("number", num.as_ref().unwrap_or(&empty));
    let body = match step.body.render_scope(&scope) {
        Ok(b) => b,
        Err(RenderError::MissingToken { token }) => {
            return done(
                Outcome::Failed,
                ReasonCode::MissingToken,
                format!("token `{token}` is empty and has no default"),
            )
        }
        Err(e) => return done(Outcome::Failed, ReasonCode::MissingToken, e.to_string()),
    };
    let body = if step.smart_encoding {
        smart_encode(&body).into_owned()
    } else {
        body
    };
    if body.trim().is_empty() {
        return done(
            Outcome::Failed,
            ReasonCode::MissingToken,
            "the message rendered empty",
        );
    }
    let chars = body.chars().count();
    if chars > MAX_BODY_CHARS {
        return done(
            Outcome::Failed,
            ReasonCode::BodyTooLong,
            format!(
                "the rendered message has {chars} characters; at most {MAX_BODY_CHARS} can be sent"
            ),
        );
    }
    let contact_id = owner
        .filter(|o| o.id != inputs.record.id)
        .map(|o| o.id.clone());
    // R19 asks about the contact the message goes to: the phone's owner when
    // that is a contact, else the record's primary contact.
    let recipient_contact = owner
        .filter(|o| o.object_type == ObjectType::Contact)
        .or(inputs.contact);
    let marketing_contact = recipient_contact
        .is_some_and(|c| is_marketing_contact(c.properties.get("marketing_contact")));
    Prepared::Send(Box::new(PendingSend {
        from: number.e164.clone(),
        to,
        info: analyze(&body),
        body,
        number_id: number.id.clone(),
        user_id: step.sender_user_id.clone(),
        provider: number.provider.clone(),
        contact_id,
        subscription_type_id: step.subscription_type_id.clone(),
        marketing_contact,
    }))
}
