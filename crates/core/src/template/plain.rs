//! Templates that are only text and `{{ object.property }}` tokens, with or
//! without a literal `default(…)` — nearly every SMS body — rendered by
//! concatenation instead of through minijinja.
//!
//! Why: a minijinja render builds a context of owned JSON maps, a value per
//! lookup and a recorder behind a mutex, which was most of the cost of
//! preparing a message (and of a dry run, which prepares a million). The
//! plain form reads the record's properties where they are.
//!
//! It must give exactly what minijinja gives, so it is narrow on purpose:
//! any other syntax (`{%`, `{#`, whitespace control, filters but `default`,
//! subscripts, expressions, reserved names) keeps the template on
//! minijinja, and so does a value that is not a scalar when it is rendered
//! (a list or map prints as minijinja prints it). The module's tests render
//! every plain template both ways and compare.

use super::{float_value, json_is_blank, GLOBALS};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// A template in plain form.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plain {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Token(Token),
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    /// Lowercased.
    object: String,
    /// Lowercased.
    property: Option<String>,
    /// `None`: no `default`; `Some("")` also for `default` without a value.
    default: Option<String>,
}

impl Token {
    fn name(&self) -> String {
        match &self.property {
            Some(p) => format!("{}.{}", self.object, p),
            None => self.object.clone(),
        }
    }
}

/// What a plain render reads an object from.
pub(super) enum Found<'a> {
    /// A property map. `lowered`: its keys are already lowercase, so only
    /// an exact lookup can match; otherwise the map is read as
    /// [`super::TemplateContext::insert`] would lowercase it.
    Props {
        map: &'a Map<String, Value>,
        lowered: bool,
    },
    /// A top-level value (`unsubscribe_url`).
    Value(&'a Value),
}

/// Why a plain render did not finish.
#[derive(Debug, PartialEq)]
pub(super) enum Stop {
    /// A token is blank and has no default: this token.
    Missing(String),
    /// A value minijinja must print (a list or a map): render with it.
    NotPlain,
}

/// Names the Jinja grammar gives a meaning of its own, which must stay on
/// minijinja wherever they appear.
const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None",
    "loop", "self", "super", "caller", "varargs", "kwargs",
];

impl Plain {
    /// The plain form of `source`, if it has one. `source` has already been
    /// compiled by minijinja, so only syntax it accepts reaches here.
    pub(super) fn parse(source: &str) -> Option<Self> {
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            push_text(&mut pieces, &rest[..start])?;
            let after = &rest[start + 2..];
            let end = after.find("}}")?;
            pieces.push(Piece::Token(token(&after[..end])?));
            rest = &after[end + 2..];
        }
        push_text(&mut pieces, rest)?;
        Some(Self { pieces })
    }

    /// Renders with `lookup` giving an object by lowercase name.
    pub(super) fn render<'a>(
        &self,
        lookup: impl Fn(&str) -> Option<Found<'a>>,
    ) -> Result<String, Stop> {
        let mut out = String::new();
        for piece in &self.pieces {
            let token = match piece {
                Piece::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Piece::Token(t) => t,
            };
            let value = match (lookup(&token.object), &token.property) {
                (None, _) => None,
                (Some(Found::Props { map, lowered }), Some(p)) => property(map, lowered, p),
                (Some(Found::Value(v)), None) => Some(v),
                // An object printed whole, or a property of a scalar.
                (Some(_), _) => return Err(Stop::NotPlain),
            };
            match value {
                Some(v) if !json_is_blank(v) => write_scalar(&mut out, v)?,
                _ => match &token.default {
                    // A blank default prints nothing, as minijinja's
                    // formatter prints no blank value.
                    Some(d) if d.trim().is_empty() => {}
                    Some(d) => out.push_str(d),
                    None => return Err(Stop::Missing(token.name())),
                },
            }
        }
        Ok(out)
    }
}

fn push_text(pieces: &mut Vec<Piece>, text: &str) -> Option<()> {
    if text.contains("{%") || text.contains("{#") {
        return None;
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
    Some(())
}

/// `object[.property] [| default[(literal)]]`, spaces around the parts.
fn token(expr: &str) -> Option<Token> {
    let (path, filter) = match expr.split_once('|') {
        Some((path, filter)) => (path, Some(filter.trim())),
        None => (expr, None),
    };
    // Whitespace control (`{{-`, `+}}`) stays on minijinja.
    if expr.starts_with(['-', '+']) || expr.ends_with(['-', '+']) {
        return None;
    }
    let path = path.trim();
    let (object, property) = match path.split_once('.') {
        Some((o, p)) => (o, Some(p)),
        None => (path, None),
    };
    if !is_name(object) || GLOBALS.contains(object) || property.is_some_and(|p| !is_name(p)) {
        return None;
    }
    let default = match filter {
        None => None,
        Some(f) => Some(default_literal(f)?),
    };
    Some(Token {
        object: object.to_lowercase(),
        property: property.map(str::to_lowercase),
        default,
    })
}

/// `default`, `d`, `default()`, `default("text")`, `d('text')`.
fn default_literal(filter: &str) -> Option<String> {
    let (name, args) = match filter.split_once('(') {
        Some((name, args)) => (name.trim_end(), Some(args.strip_suffix(')')?.trim())),
        None => (filter, None),
    };
    if name != "default" && name != "d" {
        return None;
    }
    let Some(args) = args.filter(|a| !a.is_empty()) else {
        return Some(String::new());
    };
    let quote = args.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let inner = args.strip_prefix(quote)?.strip_suffix(quote)?;
    if inner.contains(quote) || inner.contains('\\') {
        return None;
    }
    Some(inner.to_string())
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&s)
}

/// `name` (lowercase) in `map`, as the lowercased map would hold it: the key
/// already in lowercase wins, else the last key that lowercases to it.
fn property<'a>(map: &'a Map<String, Value>, lowered: bool, name: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(name) {
        return Some(v);
    }
    if lowered {
        return None;
    }
    map.iter()
        .rev()
        .find(|(k, _)| k.chars().flat_map(char::to_lowercase).eq(name.chars()))
        .map(|(_, v)| v)
}

/// Writes a non-blank value as the template's formatter does.
fn write_scalar(out: &mut String, value: &Value) -> Result<(), Stop> {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            // Writing to a String cannot fail.
            let _ = if let Some(i) = n.as_i64() {
                write!(out, "{i}")
            } else if let Some(u) = n.as_u64() {
                write!(out, "{u}")
            } else {
                write!(out, "{}", float_value(n.as_f64().unwrap_or(f64::NAN)))
            };
        }
        Value::Null | Value::Array(_) | Value::Object(_) => return Err(Stop::NotPlain),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{RenderError, Template, TemplateContext};
    use super::*;
    use serde_json::json;

    #[test]
    fn r7_plain_form_is_found_only_for_text_and_simple_tokens() {
        for plain in [
            "Hi {{ contact.firstname }}!",
            "{{ Contact.FirstName }}{{ contact.lastname|default('x') }}",
            "{{Contact.FirstName}} {{contact.lastname|d('x')}}",
            "{{ contact.title | d }} {{ contact.title | default() }} {{ unsubscribe_url }}",
            "no tokens at all",
            "",
            "{ not a token } }}",
        ] {
            assert!(Plain::parse(plain).is_some(), "{plain}");
        }
        for jinja in [
            "{% if contact.title %}x{% endif %}",
            "{# note #}{{ contact.firstname }}",
            "{{- contact.firstname }}",
            "{{ contact.firstname -}}",
            "{{+ contact.firstname }}",
            "{{ contact.firstname | upper }}",
            "{{ contact.firstname | default(contact.lastname) }}",
            "{{ contact.firstname | default(\"a\\\"b\") }}",
            "{{ contact['firstname'] }}",
            "{{ contact.address.city }}",
            "{{ deal.amount * 2 }}",
            "{{ range(3) }}",
            "{{ true }}",
            "{{ contact.firstname | default('}}') }}",
        ] {
            assert!(Plain::parse(jinja).is_none(), "{jinja}");
        }
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    /// Every plain template over every context, rendered plain and through
    /// minijinja: the same text, or the same error.
    #[test]
    fn r7_plain_rendering_equals_minijinja_rendering() {
        let values = [
            json!("Anna"),
            json!(""),
            json!("   "),
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-17),
            json!(18446744073709551615u64),
            json!(1500.0),
            json!(12.5),
            json!(-0.1),
            json!(1e21),
            json!(1.5e-7),
            json!(9007199254740993.0),
            json!("Smith & <Sons>"),
            json!("Grüße 😀\n"),
            json!(["a", "b"]),
            json!({"city": "Köln"}),
        ];
        let templates = [
            "Hi {{ contact.firstname }}!",
            "Hi {{Contact.FirstName|default('there')}}!",
            "{{ contact.firstname | d(\"x\") }}-{{ contact.lastname | default }}-{{ contact.lastname | default('  ') }}",
            "{{ CONTACT.LASTNAME }} {{ deal.amount }} {{ company.name | default('co') }}",
            "{{ unsubscribe_url }} {{ promo_code | default('none') }}",
            "{{ promo_code }}",
            "{{ contact.firstname }} {{ contact }}",
            "{{ unsubscribe_url.part | default('p') }}",
            "trailing newline {{ contact.firstname }}\n",
        ];
        let mut compared = 0;
        for v in &values {
            for w in [&json!("Bob"), &json!(""), v] {
                let mut ctx = TemplateContext::default();
                ctx.insert(
                    "contact",
                    map(json!({ "FirstName": v, "lastname": w, "LastName": "upper" })),
                );
                ctx.insert("deal", map(json!({ "amount": v })));
                ctx.insert_value("unsubscribe_url", v.clone());
                for src in templates {
                    let t = Template::parse(src).unwrap();
                    assert!(t.plain.is_some(), "{src}");
                    let jinja = t.render_jinja(&ctx);
                    let plain = t.plain.as_ref().unwrap().render(|name| ctx.found(name));
                    match plain {
                        Ok(text) => assert_eq!(Ok(text), jinja, "{src} with {v}, {w}"),
                        Err(Stop::Missing(token)) => assert_eq!(
                            Err(RenderError::MissingToken { token }),
                            jinja,
                            "{src} with {v}, {w}"
                        ),
                        Err(Stop::NotPlain) => {}
                    }
                    assert_eq!(t.render(&ctx), jinja, "{src} with {v}, {w}");
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, values.len() * 3 * templates.len());
    }

    #[test]
    fn r7_plain_lookup_reads_a_raw_map_as_lowercased() {
        let raw = map(
            json!({ "FirstName": "Upper", "FIRSTNAME": "Shout", "firstname": "lower", "City": "Köln" }),
        );
        assert_eq!(property(&raw, false, "firstname"), Some(&json!("lower")));
        assert_eq!(property(&raw, false, "city"), Some(&json!("Köln")));
        assert_eq!(property(&raw, true, "city"), None);
        let mut ctx = TemplateContext::default();
        ctx.insert("contact", raw.clone());
        let t = Template::parse("{{ contact.city }} {{ contact.firstname }}").unwrap();
        let plain = t.plain.as_ref().unwrap().render(|name| {
            (name == "contact").then_some(Found::Props {
                map: &raw,
                lowered: false,
            })
        });
        assert_eq!(plain.map_err(|_| ()), t.render_jinja(&ctx).map_err(|_| ()));
    }
}
