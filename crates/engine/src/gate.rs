//! The per-send decisions no workflow can override, as pure functions shared
//! by the executor and the dry run (R24): consent (R18, R19) and quiet hours
//! (R21) before limits are touched, and the counters one send draws on (R9).

use crate::send_sms::PendingSend;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use smsflow_core::account::{AccountSettings, SendLimits};
use smsflow_core::consent::{check, ConsentBlock, ConsentStatus, Purpose, ALL_TYPES};
use smsflow_core::ids::{NumberId, UserId};
use smsflow_core::limits::{counter_keys, CounterKey, CounterSubject, Window};
use smsflow_core::message::ReasonCode;
use smsflow_core::phone::E164;
use smsflow_core::timezone::quiet_hours_deferral;

/// What the rules say about one prepared send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gate {
    /// On to the limits.
    Go,
    /// Skipped for good (R18, R19).
    Skip { code: ReasonCode, reason: String },
    /// Quiet hours at the recipient: wait until `until` (R21).
    Defer { until: DateTime<Utc> },
}

/// R18, R19, R21 for `p` at `now`. `purpose` is the purpose of the send's
/// subscription type (None without one); `status_of(phone, type)` is the
/// phone's current consent for a type id (`*` for every type).
pub(crate) fn gate_send(
    settings: &AccountSettings,
    p: &PendingSend,
    purpose: Option<Purpose>,
    status_of: impl Fn(&E164, &str) -> Option<ConsentStatus>,
    now: DateTime<Utc>,
) -> Gate {
    gate_send_with(p, purpose, status_of, || quiet_deferral(settings, p, now))
}

/// R21 alone: when quiet hours in the recipient's zones hold `p` back at
/// `now`, the moment they end. Pure, so a dry run works it out for many
/// messages in parallel and hands it to [`gate_send_with`].
pub(crate) fn quiet_deferral(
    settings: &AccountSettings,
    p: &PendingSend,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let quiet = settings.quiet_hours.as_ref()?;
    quiet_hours_deferral(now, &p.to, settings.time_zone, quiet)
}

/// [`gate_send`] with the quiet-hours deferral supplied by `quiet`, which is
/// only asked when consent lets the message through.
pub(crate) fn gate_send_with(
    p: &PendingSend,
    purpose: Option<Purpose>,
    status_of: impl Fn(&E164, &str) -> Option<ConsentStatus>,
    quiet: impl FnOnce() -> Option<DateTime<Utc>>,
) -> Gate {
    let type_status = p
        .subscription_type_id
        .as_ref()
        .and_then(|t| status_of(&p.to, t.as_str()));
    match check(
        purpose,
        type_status,
        status_of(&p.to, ALL_TYPES),
        p.marketing_contact,
    ) {
        Err(ConsentBlock::OptedOut) => {
            return Gate::Skip {
                code: ReasonCode::OptedOut,
                reason: format!("{} has opted out of these messages", p.to),
            };
        }
        Err(ConsentBlock::NotMarketingContact) => {
            return Gate::Skip {
                code: ReasonCode::NotMarketingContact,
                reason: "marketing messages go only to marketing contacts".into(),
            };
        }
        Ok(()) => {}
    }
    match quiet() {
        Some(until) => Gate::Defer { until },
        None => Gate::Go,
    }
}

/// The counters a send from `number` by `user` reserves at `now`, each with
/// its limit: the number's day and month, and the user's when there is one.
pub(crate) fn limit_keys(
    now: DateTime<Utc>,
    tz: Tz,
    limits: &SendLimits,
    number: &NumberId,
    user: Option<&UserId>,
) -> Vec<(CounterKey, i64)> {
    let placeholder_user = UserId::from_string(String::new());
    counter_keys(now, tz, number, user.unwrap_or(&placeholder_user))
        .into_iter()
        .filter(|k| user.is_some() || matches!(k.subject, CounterSubject::Number(_)))
        .map(|k| {
            let limit = match k.window {
                Window::Day => limits.day,
                Window::Month => limits.month,
            };
            (k, i64::from(limit))
        })
        .collect()
}

/// R20: the phone a manage-subscription step acts on — the contact's mobile
/// phone, else its phone. None when both are empty.
pub(crate) fn subscription_phone(
    record: &smsflow_core::object::Record,
    settings: &AccountSettings,
) -> Option<Result<E164, smsflow_core::phone::PhoneError>> {
    ["mobilephone", "phone"]
        .iter()
        .find_map(|p| match record.properties.get(*p) {
            Some(serde_json::Value::String(raw)) if !raw.trim().is_empty() => {
                Some(E164::parse(raw, Some(settings.default_country)))
            }
            _ => None,
        })
}
