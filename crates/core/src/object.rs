//! Object types, their property definitions and records.

use crate::ids::RecordId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// A record's properties: lowercase property name → JSON value.
pub type Properties = Map<String, Value>;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectType {
    Contact,
    Company,
    Deal,
    Ticket,
    Quote,
    User,
    Order,
    Cart,
    Invoice,
    Lead,
}

impl ObjectType {
    pub const ALL: [ObjectType; 10] = [
        ObjectType::Contact,
        ObjectType::Company,
        ObjectType::Deal,
        ObjectType::Ticket,
        ObjectType::Quote,
        ObjectType::User,
        ObjectType::Order,
        ObjectType::Cart,
        ObjectType::Invoice,
        ObjectType::Lead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Contact => "contact",
            ObjectType::Company => "company",
            ObjectType::Deal => "deal",
            ObjectType::Ticket => "ticket",
            ObjectType::Quote => "quote",
            ObjectType::User => "user",
            ObjectType::Order => "order",
            ObjectType::Cart => "cart",
            ObjectType::Invoice => "invoice",
            ObjectType::Lead => "lead",
        }
    }

    /// The properties every account has for this type.
    pub fn default_properties(self) -> Vec<PropertyDef> {
        use PropertyType::*;
        let list: &[(&str, &str, PropertyType)] = match self {
            ObjectType::Contact => &[
                ("firstname", "First name", String),
                ("lastname", "Last name", String),
                ("email", "Email", String),
                ("phone", "Phone number", PhoneNumber),
                ("mobilephone", "Mobile phone number", PhoneNumber),
                ("lifecyclestage", "Lifecycle stage", Enumeration),
                ("marketing_contact", "Marketing contact status", Bool),
                ("sms_opted_out", "Opted out of SMS", Bool),
            ],
            ObjectType::Company => &[
                ("name", "Company name", String),
                ("domain", "Company domain", String),
                ("phone", "Phone number", PhoneNumber),
            ],
            ObjectType::Deal => &[
                ("dealname", "Deal name", String),
                ("amount", "Amount", Number),
                ("dealstage", "Deal stage", Enumeration),
                ("closedate", "Close date", Date),
                ("phone", "Phone number", PhoneNumber),
            ],
            ObjectType::Ticket => &[
                ("subject", "Ticket name", String),
                ("content", "Ticket description", String),
                ("status", "Ticket status", Enumeration),
                ("phone", "Phone number", PhoneNumber),
            ],
            ObjectType::Quote => &[
                ("title", "Quote name", String),
                ("amount", "Amount", Number),
                ("expirationdate", "Expiration date", Date),
                ("phone", "Phone number", PhoneNumber),
            ],
            ObjectType::User => &[
                ("firstname", "First name", String),
                ("lastname", "Last name", String),
                ("email", "Email", String),
                ("phone", "Phone number", PhoneNumber),
                ("mobilephone", "Mobile phone number", PhoneNumber),
            ],
            ObjectType::Order => &[
                ("name", "Order name", String),
                ("amount", "Total price", Number),
                ("status", "Order status", Enumeration),
                ("phone", "Phone number", PhoneNumber),
            ],
            ObjectType::Cart => &[
                ("name", "Cart name", String),
                ("amount", "Total price", Number),
                ("phone", "Phone number", PhoneNumber),
            ],
            ObjectType::Invoice => &[
                ("number", "Invoice number", String),
                ("amount", "Amount billed", Number),
                ("duedate", "Due date", Date),
                ("status", "Invoice status", Enumeration),
                ("phone", "Phone number", PhoneNumber),
            ],
            ObjectType::Lead => &[
                ("name", "Lead name", String),
                ("email", "Email", String),
                ("phone", "Phone number", PhoneNumber),
                ("mobilephone", "Mobile phone number", PhoneNumber),
                ("status", "Lead status", Enumeration),
            ],
        };
        list.iter()
            .map(|(name, label, kind)| PropertyDef {
                name: PropertyName::parse(name).expect("built-in property names are valid"),
                label: label.to_string(),
                kind: *kind,
            })
            .collect()
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown object type `{0}`; expected one of contact, company, deal, ticket, quote, user, order, cart, invoice, lead")]
pub struct UnknownObjectType(pub String);

impl FromStr for ObjectType {
    type Err = UnknownObjectType;

    /// Case-insensitive, and accepts the plural forms of the REST paths
    /// (`contacts`, `deals`, …) as HubSpot's URLs do.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let singular = match lower.strip_suffix("ies") {
            Some(stem) => format!("{stem}y"),
            None => lower.strip_suffix('s').unwrap_or(&lower).to_string(),
        };
        ObjectType::ALL
            .into_iter()
            .find(|t| t.as_str() == lower || t.as_str() == singular)
            .ok_or_else(|| UnknownObjectType(s.to_string()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    String,
    Number,
    Bool,
    Date,
    Datetime,
    Enumeration,
    PhoneNumber,
}

/// A property name: lowercase ASCII letters, digits and `_`, starting with a
/// letter, at most 100 characters. Names are matched without regard to case
/// (R7), so they are stored lowercase.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PropertyName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyNameError {
    #[error("property name is empty")]
    Empty,
    #[error("property name `{0}` must start with a letter and contain only letters, digits and _ (at most 100)")]
    Invalid(String),
}

impl PropertyName {
    pub fn parse(s: &str) -> Result<Self, PropertyNameError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(PropertyNameError::Empty);
        }
        let lower = s.to_ascii_lowercase();
        let ok = lower.len() <= 100
            && lower.starts_with(|c: char| c.is_ascii_lowercase())
            && lower
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(lower))
        } else {
            Err(PropertyNameError::Invalid(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PropertyName {
    type Error = PropertyNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PropertyName> for String {
    fn from(p: PropertyName) -> String {
        p.0
    }
}

impl fmt::Display for PropertyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PropertyDef {
    /// Lowercase internal name.
    #[schema(value_type = String, example = "mobilephone")]
    pub name: PropertyName,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: PropertyType,
}

/// All property definitions of one object type in one account: the built-in
/// ones plus the account's own.
#[derive(Clone, Debug, Default)]
pub struct PropertySchema {
    defs: Vec<PropertyDef>,
}

impl PropertySchema {
    pub fn new(object_type: ObjectType, custom: impl IntoIterator<Item = PropertyDef>) -> Self {
        let mut defs = object_type.default_properties();
        for def in custom {
            if !defs.iter().any(|d| d.name == def.name) {
                defs.push(def);
            }
        }
        Self { defs }
    }

    pub fn get(&self, name: &str) -> Option<&PropertyDef> {
        let lower = name.to_ascii_lowercase();
        self.defs.iter().find(|d| d.name.as_str() == lower)
    }

    pub fn defs(&self) -> &[PropertyDef] {
        &self.defs
    }
}

/// A link from one record to another (a deal's contacts, a ticket's contact).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Association {
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    pub id: RecordId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: RecordId,
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    pub properties: Properties,
    pub associations: Vec<Association>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Record {
    /// The first associated contact: the recipient of `contact.<prop>`
    /// tokens and recipient properties in non-contact workflows.
    pub fn primary_contact(&self) -> Option<&RecordId> {
        self.associations
            .iter()
            .find(|a| a.object_type == ObjectType::Contact)
            .map(|a| &a.id)
    }
}

/// Lowercases property names so lookups are case-insensitive (R7), and drops
/// nothing: values are kept as sent.
pub fn normalize_properties(props: Properties) -> Result<Properties, PropertyNameError> {
    let mut out = Map::with_capacity(props.len());
    for (k, v) in props {
        let name = PropertyName::parse(&k)?;
        out.insert(name.0, v);
    }
    Ok(out)
}

/// Whether a property value counts as empty: missing, null or a blank string.
pub fn is_empty_value(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_types_parse_singular_plural_and_any_case() {
        assert_eq!(
            "Contacts".parse::<ObjectType>().unwrap(),
            ObjectType::Contact
        );
        assert_eq!("deal".parse::<ObjectType>().unwrap(), ObjectType::Deal);
        assert_eq!(
            "COMPANIES".parse::<ObjectType>().unwrap(),
            ObjectType::Company
        );
        assert!("widget".parse::<ObjectType>().is_err());
    }

    #[test]
    fn property_names_are_lowercased_and_checked() {
        assert_eq!(
            PropertyName::parse("FirstName").unwrap().as_str(),
            "firstname"
        );
        assert!(PropertyName::parse("1abc").is_err());
        assert!(PropertyName::parse("a-b").is_err());
        assert_eq!(
            PropertyName::parse(" ").unwrap_err(),
            PropertyNameError::Empty
        );
    }

    #[test]
    fn contacts_ship_with_phone_properties() {
        let schema = PropertySchema::new(ObjectType::Contact, []);
        assert_eq!(
            schema.get("MobilePhone").unwrap().kind,
            PropertyType::PhoneNumber
        );
        assert_eq!(
            schema.get("sms_opted_out").unwrap().kind,
            PropertyType::Bool
        );
    }
}
