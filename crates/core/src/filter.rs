//! Record filters: OR of groups, AND inside a group (DESIGN §5 operators).
//! INTERFACE — implementation in progress.

use crate::object::{Properties, PropertyName, PropertySchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// One condition as written by a user (JSON or YAML).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionInput {
    pub property: String,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// A checked condition.
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
    /// `{prefix}[g][c].property|op|value`.
    pub fn parse(
        input: &[Vec<ConditionInput>],
        schema: &PropertySchema,
        prefix: &str,
        errors: &mut BTreeMap<String, String>,
    ) -> FilterGroups {
        let _ = (input, schema, prefix, errors);
        unimplemented!()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `previous` is the record's properties before the change being
    /// evaluated (None on creation or when no change is being evaluated).
    pub fn matches(&self, current: &Properties, previous: Option<&Properties>) -> bool {
        let _ = (current, previous);
        unimplemented!()
    }
}
