//! Record filters: OR of groups, AND inside a group (DESIGN §5 operators).
//!
//! Filters are written by users ([`ConditionInput`]) and checked once against
//! an object type's schema ([`FilterGroups::parse`]); only the checked form
//! ([`FilterGroups`]) is ever evaluated. Evaluation is total: it never fails,
//! whatever the record holds.
//!
//! Value semantics, shared by every operator:
//! * missing, `null` and blank strings are *unknown* ([`is_empty_value`]);
//!   unknown values satisfy no positive comparison, while `neq` and `not_in`
//!   are true on them (HubSpot's "is not" includes "is unknown");
//! * strings compare trimmed and without regard to case;
//! * a JSON number and a numeric string compare as numbers (`"1500" == 1500`);
//! * a bool and the strings `"true"`/`"false"` compare as bools;
//! * ordering (`gt`…) is numeric when both sides are numbers, else
//!   chronological when both are ISO-8601 dates or datetimes, else by string.

use crate::object::{is_empty_value, ObjectType, Properties, PropertyName, PropertySchema};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Neq,
    Contains,
    StartsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    NotIn,
    IsKnown,
    IsUnknown,
    Changed,
    ChangedTo,
}

impl Op {
    pub const ALL: [Op; 14] = [
        Op::Eq,
        Op::Neq,
        Op::Contains,
        Op::StartsWith,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::In,
        Op::NotIn,
        Op::IsKnown,
        Op::IsUnknown,
        Op::Changed,
        Op::ChangedTo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::IsKnown => "is_known",
            Op::IsUnknown => "is_unknown",
            Op::Changed => "changed",
            Op::ChangedTo => "changed_to",
        }
    }

    /// Case-insensitive; None for anything that is not an operator.
    pub fn parse(s: &str) -> Option<Op> {
        let lower = s.trim().to_ascii_lowercase();
        Op::ALL.into_iter().find(|op| op.as_str() == lower)
    }

    /// Whether the operator compares against a value.
    pub fn takes_value(self) -> bool {
        !matches!(self, Op::IsKnown | Op::IsUnknown | Op::Changed)
    }

    fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::NotIn)
    }
}

/// One condition as written by a user (JSON or YAML).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConditionInput {
    pub property: String,
    #[schema(value_type = Op)]
    pub op: String,
    /// A list for `in`/`not_in`, none for `is_known`/`is_unknown`/`changed`,
    /// a scalar otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// A checked condition: the property exists in the schema, the operator is
/// known and `value` is present exactly when the operator takes one (an
/// array for `in`/`not_in`, a scalar otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub property: PropertyName,
    pub op: Op,
    pub value: Option<Value>,
}

/// OR of AND-groups. Empty matches nothing.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FilterGroups(pub Vec<Vec<Condition>>);

impl FilterGroups {
    /// Checks every condition against the schema. Errors are keyed by
    /// `{prefix}[g][c].property|op|value`; an empty group by `{prefix}[g]`.
    /// Every problem is recorded (R5); the returned groups hold only the
    /// conditions that passed, so use them only when `errors` stayed empty.
    pub fn parse(
        input: &[Vec<ConditionInput>],
        schema: &PropertySchema,
        prefix: &str,
        errors: &mut BTreeMap<String, String>,
    ) -> FilterGroups {
        let object_type = infer_object_type(schema);
        let mut groups = Vec::with_capacity(input.len());
        for (g, group) in input.iter().enumerate() {
            if group.is_empty() {
                errors.insert(
                    format!("{prefix}[{g}]"),
                    "a filter group needs at least one condition".to_string(),
                );
                continue;
            }
            let mut conditions = Vec::with_capacity(group.len());
            for (c, input) in group.iter().enumerate() {
                let key = format!("{prefix}[{g}][{c}]");
                if let Some(condition) = parse_condition(input, schema, object_type, &key, errors) {
                    conditions.push(condition);
                }
            }
            groups.push(conditions);
        }
        FilterGroups(groups)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `previous` is the record's properties before the change being
    /// evaluated (None on creation or when no change is being evaluated).
    pub fn matches(&self, current: &Properties, previous: Option<&Properties>) -> bool {
        self.0
            .iter()
            .any(|group| !group.is_empty() && group.iter().all(|c| c.matches(current, previous)))
    }
}

impl Condition {
    pub fn matches(&self, current: &Properties, previous: Option<&Properties>) -> bool {
        let name = self.property.as_str();
        let now = known(current.get(name));
        let value = self.value.as_ref();
        match self.op {
            Op::IsKnown => now.is_some(),
            Op::IsUnknown => now.is_none(),
            Op::Eq => both(now, value, loose_eq),
            Op::Neq => !both(now, value, loose_eq),
            Op::Contains => both(now, value, |a, b| lower_text(a).contains(&lower_text(b))),
            Op::StartsWith => both(now, value, |a, b| lower_text(a).starts_with(&lower_text(b))),
            Op::Gt => both(now, value, |a, b| compare(a, b) == Ordering::Greater),
            Op::Gte => both(now, value, |a, b| compare(a, b) != Ordering::Less),
            Op::Lt => both(now, value, |a, b| compare(a, b) == Ordering::Less),
            Op::Lte => both(now, value, |a, b| compare(a, b) != Ordering::Greater),
            Op::In => both(now, value, in_list),
            Op::NotIn => !both(now, value, in_list),
            Op::Changed => changed(now, previous.map(|p| known(p.get(name)))),
            Op::ChangedTo => {
                changed(now, previous.map(|p| known(p.get(name)))) && both(now, value, loose_eq)
            }
        }
    }
}

fn parse_condition(
    input: &ConditionInput,
    schema: &PropertySchema,
    object_type: Option<ObjectType>,
    key: &str,
    errors: &mut BTreeMap<String, String>,
) -> Option<Condition> {
    let property = match PropertyName::parse(&input.property) {
        Ok(name) if schema.get(name.as_str()).is_some() => Some(name),
        Ok(name) => {
            let why = match object_type {
                Some(t) => format!("unknown property `{name}` for {t}"),
                None => format!("unknown property `{name}`"),
            };
            errors.insert(format!("{key}.property"), why);
            None
        }
        Err(e) => {
            errors.insert(format!("{key}.property"), e.to_string());
            None
        }
    };

    let Some(op) = Op::parse(&input.op) else {
        let expected: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
        errors.insert(
            format!("{key}.op"),
            format!(
                "unknown operator `{}`; expected one of {}",
                input.op.trim(),
                expected.join(", ")
            ),
        );
        return None;
    };

    // A value given to an operator that takes none is ignored rather than
    // refused: editors often keep the last value when the operator changes.
    let value = if op.takes_value() {
        input.value.clone()
    } else {
        None
    };
    let value_ok = match (&value, op.takes_value()) {
        (_, false) => true,
        (None, true) => {
            errors.insert(
                format!("{key}.value"),
                format!("value is required for {}", op.as_str()),
            );
            false
        }
        (Some(Value::Array(items)), true) if op.takes_list() => {
            if items.iter().all(is_scalar) {
                true
            } else {
                errors.insert(
                    format!("{key}.value"),
                    "list items must be strings, numbers or bools".to_string(),
                );
                false
            }
        }
        (Some(_), true) if op.takes_list() => {
            errors.insert(
                format!("{key}.value"),
                format!("{} needs a list of values", op.as_str()),
            );
            false
        }
        (Some(v), true) => {
            if is_scalar(v) {
                true
            } else {
                errors.insert(
                    format!("{key}.value"),
                    format!("value for {} must be a string, number or bool", op.as_str()),
                );
                false
            }
        }
    };

    match (property, value_ok) {
        (Some(property), true) => Some(Condition {
            property,
            op,
            value,
        }),
        _ => None,
    }
}

/// The object type a schema was built for: schemas start with that type's
/// built-in properties, in order. Only used to word error messages.
fn infer_object_type(schema: &PropertySchema) -> Option<ObjectType> {
    let defs = schema.defs();
    ObjectType::ALL
        .into_iter()
        .filter(|t| {
            let builtin = t.default_properties();
            builtin.len() <= defs.len()
                && builtin
                    .iter()
                    .zip(defs)
                    .all(|(b, d)| b.name == d.name && b.kind == d.kind && b.label == d.label)
        })
        .max_by_key(|t| t.default_properties().len())
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// The value when it is known; unknown (missing, null, blank) is None.
fn known(v: Option<&Value>) -> Option<&Value> {
    if is_empty_value(v) {
        None
    } else {
        v
    }
}

/// Applies `f` when both the record's value is known and the condition has a
/// value; an unknown value satisfies no comparison.
fn both(now: Option<&Value>, value: Option<&Value>, f: impl Fn(&Value, &Value) -> bool) -> bool {
    match (now, value) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    }
}

/// `previous` is None when no change is being evaluated (creation): then a
/// property "changed" when it has a value at all.
fn changed(now: Option<&Value>, previous: Option<Option<&Value>>) -> bool {
    match previous {
        None => now.is_some(),
        Some(before) => match (now, before) {
            (None, None) => false,
            (Some(_), None) | (None, Some(_)) => true,
            // Value equality, not representation: `"1500"` → `1500` or
            // `"Lead"` → `"lead"` is no change worth re-running a workflow for.
            (Some(a), Some(b)) => !loose_eq(a, b),
        },
    }
}

fn in_list(a: &Value, list: &Value) -> bool {
    match list {
        Value::Array(items) => items
            .iter()
            .any(|item| !is_empty_value(Some(item)) && loose_eq(a, item)),
        single => loose_eq(a, single),
    }
}

/// The string form of a value, as users see it.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn lower_text(v: &Value) -> String {
    text(v).to_lowercase()
}

fn as_number(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // `"inf"` and `"NaN"` parse as f64 but are words, not numbers.
    n.is_finite().then_some(n)
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An ISO-8601 date or datetime as an instant (UTC; dates at midnight).
fn as_instant(v: &Value) -> Option<DateTime<Utc>> {
    let s = match v {
        Value::String(s) => s.trim(),
        _ => return None,
    };
    // Every accepted form starts `YYYY-`; most compared strings ("lead",
    // names, phones) are rejected here without trying the five formats,
    // which was most of a dry run's filter time.
    let b = s.as_bytes();
    if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Some(naive.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// Equality as users mean it (see the module docs).
fn loose_eq(a: &Value, b: &Value) -> bool {
    // Numeric only when one side really is a number: two strings such as
    // "+1555" and "1555" are different phone numbers, not equal numbers.
    if matches!(a, Value::Number(_)) || matches!(b, Value::Number(_)) {
        if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
            return x == y;
        }
    }
    if matches!(a, Value::Bool(_)) || matches!(b, Value::Bool(_)) {
        if let (Some(x), Some(y)) = (as_bool(a), as_bool(b)) {
            return x == y;
        }
    }
    if let (Some(x), Some(y)) = (as_instant(a), as_instant(b)) {
        return x == y;
    }
    // Most comparisons are of two ASCII strings (`lifecyclestage eq lead`
    // on every record of a dry run): compared in place, not lowercased
    // into new strings. Other text lowercases as Unicode says.
    if let (Value::String(x), Value::String(y)) = (a, b) {
        let (x, y) = (x.trim(), y.trim());
        if x.is_ascii() && y.is_ascii() {
            return x.eq_ignore_ascii_case(y);
        }
    }
    lower_text(a) == lower_text(b)
}

fn compare(a: &Value, b: &Value) -> Ordering {
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        return x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    }
    if let (Some(x), Some(y)) = (as_instant(a), as_instant(b)) {
        return x.cmp(&y);
    }
    lower_text(a).cmp(&lower_text(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contact_schema() -> PropertySchema {
        PropertySchema::new(ObjectType::Contact, [])
    }

    fn props(v: Value) -> Properties {
        v.as_object()
            .cloned()
            .expect("test properties are an object")
    }

    fn inputs(v: Value) -> Vec<Vec<ConditionInput>> {
        serde_json::from_value(v).expect("test filter input")
    }

    fn parse_ok(v: Value) -> FilterGroups {
        let mut errors = BTreeMap::new();
        let groups = FilterGroups::parse(&inputs(v), &contact_schema(), "f", &mut errors);
        assert!(errors.is_empty(), "unexpected errors: {errors:?}");
        groups
    }

    fn deal_schema() -> PropertySchema {
        PropertySchema::new(ObjectType::Deal, [])
    }

    /// One condition on the deal schema, evaluated without a change.
    fn deal_cond(op: &str, value: Value, record: Value) -> bool {
        let mut errors = BTreeMap::new();
        let input = json!([[{"property": "amount", "op": op, "value": value}]]);
        let groups = FilterGroups::parse(&inputs(input), &deal_schema(), "f", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        groups.matches(&props(record), None)
    }

    fn cond(property: &str, op: &str, value: Option<Value>) -> FilterGroups {
        let mut c = json!({"property": property, "op": op});
        if let Some(v) = value {
            c["value"] = v;
        }
        parse_ok(json!([[c]]))
    }

    #[test]
    fn r5_every_bad_condition_is_reported_at_once_with_its_path() {
        let mut errors = BTreeMap::new();
        let input = inputs(json!([
            [{"property": "lifecyclestage", "op": "eq", "value": "lead"},
             {"property": "favcolor", "op": "eq", "value": "red"}],
            [],
            [{"property": "email", "op": "like", "value": "x"},
             {"property": "email", "op": "eq"},
             {"property": "email", "op": "in", "value": "a@b.c"},
             {"property": "1bad", "op": "is_known"},
             {"property": "email", "op": "eq", "value": {"nested": true}}]
        ]));
        FilterGroups::parse(&input, &contact_schema(), "enrollment.filters", &mut errors);
        assert_eq!(
            errors
                .get("enrollment.filters[0][1].property")
                .map(String::as_str),
            Some("unknown property `favcolor` for contact")
        );
        assert!(errors.contains_key("enrollment.filters[1]"));
        assert!(errors["enrollment.filters[2][0].op"].contains("unknown operator `like`"));
        assert_eq!(
            errors["enrollment.filters[2][1].value"],
            "value is required for eq"
        );
        assert_eq!(
            errors["enrollment.filters[2][2].value"],
            "in needs a list of values"
        );
        assert!(errors.contains_key("enrollment.filters[2][3].property"));
        assert!(errors.contains_key("enrollment.filters[2][4].value"));
        assert_eq!(errors.len(), 7, "{errors:?}");
    }

    #[test]
    fn unknown_property_names_the_object_type_of_the_schema() {
        let mut errors = BTreeMap::new();
        let input = inputs(json!([[{"property": "firstname", "op": "is_known"}]]));
        FilterGroups::parse(&input, &deal_schema(), "p", &mut errors);
        assert_eq!(
            errors["p[0][0].property"],
            "unknown property `firstname` for deal"
        );
    }

    #[test]
    fn operators_and_property_names_parse_without_regard_to_case() {
        let g = cond("FirstName", "EQ", Some(json!("Ann")));
        assert_eq!(g.0[0][0].property.as_str(), "firstname");
        assert_eq!(g.0[0][0].op, Op::Eq);
        let g = cond("email", "is_known", Some(json!("ignored")));
        assert_eq!(g.0[0][0].value, None);
    }

    #[test]
    fn groups_are_or_conditions_inside_a_group_are_and() {
        let g = parse_ok(json!([
            [{"property": "lifecyclestage", "op": "eq", "value": "lead"},
             {"property": "mobilephone", "op": "is_known"}],
            [{"property": "email", "op": "contains", "value": "@vip."}]
        ]));
        assert!(g.matches(
            &props(json!({"lifecyclestage": "lead", "mobilephone": "+15551234567"})),
            None
        ));
        assert!(!g.matches(&props(json!({"lifecyclestage": "lead"})), None));
        assert!(g.matches(&props(json!({"email": "a@vip.example"})), None));
        assert!(!g.matches(&props(json!({"email": "a@example.com"})), None));
        assert!(!FilterGroups::default().matches(&props(json!({"email": "x"})), None));
    }

    #[test]
    fn eq_and_neq_ignore_case_and_surrounding_space_and_compare_numbers_and_bools() {
        let g = cond("lifecyclestage", "eq", Some(json!("Lead")));
        assert!(g.matches(&props(json!({"lifecyclestage": "  lead "})), None));
        assert!(!g.matches(&props(json!({"lifecyclestage": "customer"})), None));
        assert!(!g.matches(&props(json!({})), None));
        assert!(!g.matches(&props(json!({"lifecyclestage": "leads"})), None));
        // Beyond ASCII, case is folded as Unicode says.
        let g = cond("firstname", "eq", Some(json!("ÖRJAN")));
        assert!(g.matches(&props(json!({"firstname": " örjan"})), None));
        assert!(!g.matches(&props(json!({"firstname": "orjan"})), None));

        assert!(deal_cond("eq", json!(1500), json!({"amount": "1500"})));
        assert!(deal_cond("eq", json!("1500"), json!({"amount": 1500.0})));
        assert!(!deal_cond("eq", json!(1500), json!({"amount": "1501"})));

        let g = cond("sms_opted_out", "eq", Some(json!(true)));
        assert!(g.matches(&props(json!({"sms_opted_out": true})), None));
        assert!(g.matches(&props(json!({"sms_opted_out": "TRUE"})), None));
        assert!(!g.matches(&props(json!({"sms_opted_out": false})), None));
        assert!(!g.matches(&props(json!({})), None));
        let g = cond("sms_opted_out", "eq", Some(json!("false")));
        assert!(g.matches(&props(json!({"sms_opted_out": false})), None));

        let g = cond("lifecyclestage", "neq", Some(json!("customer")));
        assert!(g.matches(&props(json!({"lifecyclestage": "lead"})), None));
        assert!(!g.matches(&props(json!({"lifecyclestage": "Customer"})), None));
        // HubSpot's "is not" includes "is unknown".
        assert!(g.matches(&props(json!({})), None));
        assert!(g.matches(&props(json!({"lifecyclestage": "  "})), None));
    }

    #[test]
    fn contains_and_starts_with_are_case_insensitive_on_the_string_form() {
        let g = cond("email", "contains", Some(json!("EXAMPLE")));
        assert!(g.matches(&props(json!({"email": "ann@example.com"})), None));
        assert!(!g.matches(&props(json!({"email": "ann@test.com"})), None));
        assert!(!g.matches(&props(json!({})), None));
        let g = cond("firstname", "starts_with", Some(json!("an")));
        assert!(g.matches(&props(json!({"firstname": "Anna"})), None));
        assert!(!g.matches(&props(json!({"firstname": "Joanna"})), None));
        assert!(deal_cond("contains", json!("50"), json!({"amount": 1500})));
    }

    #[test]
    fn ordering_is_numeric_then_chronological_then_by_string() {
        assert!(deal_cond("gt", json!(1000), json!({"amount": "1500"})));
        assert!(!deal_cond("gt", json!(1500), json!({"amount": 1500})));
        assert!(deal_cond("gte", json!(1500), json!({"amount": 1500})));
        // Numeric, not lexicographic: "900" < "1000".
        assert!(deal_cond("lt", json!("1000"), json!({"amount": "900"})));
        assert!(deal_cond("lte", json!(900), json!({"amount": 900})));
        assert!(!deal_cond("lt", json!(900), json!({})));
        assert!(!deal_cond("gt", json!(900), json!({"amount": null})));

        let mut errors = BTreeMap::new();
        let input = inputs(json!([[{"property": "closedate", "op": "lt", "value": "2024-03-01"}]]));
        let g = FilterGroups::parse(&input, &deal_schema(), "f", &mut errors);
        assert!(g.matches(&props(json!({"closedate": "2024-02-29T23:59:59Z"})), None));
        assert!(!g.matches(
            &props(json!({"closedate": "2024-03-01T00:00:01+00:00"})),
            None
        ));
        assert!(g.matches(&props(json!({"closedate": "2024-02-10"})), None));

        let g = cond("lastname", "gt", Some(json!("m")));
        assert!(g.matches(&props(json!({"lastname": "Smith"})), None));
        assert!(!g.matches(&props(json!({"lastname": "Adams"})), None));
    }

    #[test]
    fn in_and_not_in_compare_against_every_element() {
        let g = cond("lifecyclestage", "in", Some(json!(["lead", "MQL"])));
        assert!(g.matches(&props(json!({"lifecyclestage": "mql"})), None));
        assert!(!g.matches(&props(json!({"lifecyclestage": "customer"})), None));
        assert!(!g.matches(&props(json!({})), None));
        assert!(deal_cond(
            "in",
            json!([100, "1500"]),
            json!({"amount": 1500})
        ));
        let g = cond("lifecyclestage", "not_in", Some(json!(["lead", "mql"])));
        assert!(g.matches(&props(json!({"lifecyclestage": "customer"})), None));
        assert!(!g.matches(&props(json!({"lifecyclestage": "Lead"})), None));
        assert!(g.matches(&props(json!({})), None));
    }

    #[test]
    fn is_known_and_is_unknown_treat_null_and_blank_as_unknown() {
        let known = cond("mobilephone", "is_known", None);
        let unknown = cond("mobilephone", "is_unknown", None);
        for (record, has) in [
            (json!({"mobilephone": "+15551234567"}), true),
            (json!({"mobilephone": ""}), false),
            (json!({"mobilephone": "   "}), false),
            (json!({"mobilephone": null}), false),
            (json!({}), false),
        ] {
            assert_eq!(known.matches(&props(record.clone()), None), has, "{record}");
            assert_eq!(
                unknown.matches(&props(record.clone()), None),
                !has,
                "{record}"
            );
        }
    }

    #[test]
    fn changed_compares_with_the_previous_values() {
        let g = cond("lifecyclestage", "changed", None);
        let before = props(json!({"lifecyclestage": "lead"}));
        assert!(g.matches(&props(json!({"lifecyclestage": "customer"})), Some(&before)));
        assert!(!g.matches(&props(json!({"lifecyclestage": "lead"})), Some(&before)));
        assert!(!g.matches(&props(json!({"lifecyclestage": " LEAD"})), Some(&before)));
        // Becoming known or unknown is a change.
        assert!(g.matches(
            &props(json!({"lifecyclestage": "lead"})),
            Some(&props(json!({})))
        ));
        assert!(g.matches(&props(json!({"lifecyclestage": null})), Some(&before)));
        assert!(!g.matches(
            &props(json!({})),
            Some(&props(json!({"lifecyclestage": ""})))
        ));
    }

    #[test]
    fn changed_without_previous_values_means_known_now() {
        let g = cond("lifecyclestage", "changed", None);
        assert!(g.matches(&props(json!({"lifecyclestage": "lead"})), None));
        assert!(!g.matches(&props(json!({})), None));
    }

    #[test]
    fn changed_to_needs_a_change_and_the_new_value() {
        let g = cond("lifecyclestage", "changed_to", Some(json!("customer")));
        let before = props(json!({"lifecyclestage": "lead"}));
        assert!(g.matches(&props(json!({"lifecyclestage": "Customer"})), Some(&before)));
        assert!(!g.matches(&props(json!({"lifecyclestage": "mql"})), Some(&before)));
        let already = props(json!({"lifecyclestage": "customer"}));
        assert!(!g.matches(
            &props(json!({"lifecyclestage": "customer"})),
            Some(&already)
        ));
        // On creation the value is new.
        assert!(g.matches(&props(json!({"lifecyclestage": "customer"})), None));
        assert!(!g.matches(&props(json!({})), None));
    }

    #[test]
    fn changed_to_requires_a_value_but_changed_does_not() {
        let mut errors = BTreeMap::new();
        let input = inputs(json!([[{"property": "email", "op": "changed_to"},
                                   {"property": "email", "op": "changed"}]]));
        FilterGroups::parse(&input, &contact_schema(), "f", &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors["f[0][0].value"], "value is required for changed_to");
    }
}
