//! JSON shapes of the resources (DESIGN §5 "Bodies"). Users' scripts rely on
//! them: change with care.

use serde_json::{json, Value};
use smsflow_core::object::Record;
use smsflow_store::{
    AccountRow, ActionLogRow, EngagementRow, EnrollmentRow, MessageRow, NumberRow, Page,
    SubscriptionTypeRow, UserRow, WorkflowRow,
};

pub fn list<T>(page: Page<T>, f: impl Fn(&T) -> Value) -> Value {
    json!({"results": page.results.iter().map(f).collect::<Vec<_>>(), "next_cursor": page.next_cursor})
}

pub fn all<T>(items: &[T], f: impl Fn(&T) -> Value) -> Value {
    json!({"results": items.iter().map(f).collect::<Vec<_>>(), "next_cursor": null})
}

pub fn account(a: &AccountRow) -> Value {
    let s = &a.settings;
    json!({
        "id": a.id, "name": a.name, "entitlements": s.entitlements, "time_zone": s.time_zone.name(),
        "default_country": s.default_country, "limits": s.limits, "quiet_hours": s.quiet_hours, "keywords": s.keywords, "delivery": s.delivery,
        "created_at": a.created_at,
    })
}

pub fn user(u: &UserRow) -> Value {
    json!({
        "id": u.id, "name": u.name, "email": u.email, "provider": u.provider,
        "external_id": u.external_id, "created_at": u.created_at,
    })
}

pub fn number(n: &NumberRow) -> Value {
    json!({
        "id": n.id, "e164": n.e164, "label": n.label, "provider": n.provider,
        "capabilities": {"sms": n.sms, "mms": n.mms, "voice": n.voice},
        "throughput": n.throughput, "user_ids": n.user_ids, "external_id": n.external_id,
        "created_at": n.created_at,
    })
}

pub fn record(r: &Record) -> Value {
    json!({
        "id": r.id, "type": r.object_type, "properties": r.properties, "associations": r.associations,
        "created_at": r.created_at, "updated_at": r.updated_at,
    })
}

pub fn workflow(w: &WorkflowRow) -> Value {
    let mut v = serde_json::to_value(&w.definition).unwrap_or_else(|_| json!({}));
    if let Some(obj) = v.as_object_mut() {
        obj.insert("id".into(), json!(w.id));
        obj.insert("name".into(), json!(w.name));
        obj.insert("object_type".into(), json!(w.object_type));
        obj.insert("state".into(), json!(w.state.as_str()));
        obj.insert("revision".into(), json!(w.revision));
        obj.insert("published_revision".into(), json!(w.published_revision));
        obj.insert("created_at".into(), json!(w.created_at));
        obj.insert("updated_at".into(), json!(w.updated_at));
    }
    v
}

pub fn enrollment(e: &EnrollmentRow) -> Value {
    json!({
        "id": e.id, "workflow_id": e.workflow_id, "revision": e.revision, "record_id": e.record_id,
        "state": e.state.as_str(), "step": e.step, "due_at": e.due_at, "last_error": e.last_error,
        "created_at": e.created_at, "updated_at": e.updated_at,
    })
}

pub fn action_log(l: &ActionLogRow) -> Value {
    json!({
        "id": l.id, "workflow_id": l.workflow_id, "action_id": l.action_id, "record_id": l.record_id,
        "enrollment_id": l.enrollment_id, "outcome": l.outcome, "reason_code": l.reason_code,
        "reason": l.reason, "message_id": l.message_id, "at": l.at,
    })
}

pub fn message(m: &MessageRow) -> Value {
    json!({
        "id": m.id, "direction": m.direction, "from": m.from, "to": m.to, "body": m.body,
        "encoding": m.encoding, "segments": m.segments, "status": m.status, "provider": m.provider,
        "provider_message_id": m.provider_message_id, "error_code": m.error_code, "error": m.error,
        "number_id": m.number_id, "user_id": m.user_id, "record_id": m.record_id,
        "workflow_id": m.workflow_id, "conversation_id": m.conversation_id,
        "idempotency_key": m.idempotency_key, "created_at": m.created_at, "updated_at": m.updated_at,
    })
}

pub fn engagement(e: &EngagementRow) -> Value {
    json!({"id": e.id, "type": e.kind, "message_id": e.message_id, "body": e.body, "at": e.at})
}

pub fn subscription_type(t: &SubscriptionTypeRow) -> Value {
    json!({"id": t.id, "name": t.name, "purpose": t.purpose, "created_at": t.created_at})
}
