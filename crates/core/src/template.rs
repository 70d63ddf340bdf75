//! Message templates with record tokens (R7).
//!
//! Bodies are minijinja templates: `Hi {{ contact.firstname | default("there") }}`.
//! What differs from plain Jinja, and why:
//!
//! * Object and property names match without regard to case, because users
//!   copy tokens from CRM screens (`{{Contact.FirstName}}`) while the CRM
//!   hands us lowercase internal names. [`TemplateContext`] stores everything
//!   lowercase; lookups lowercase the name asked for.
//! * A token whose value is missing, null or blank must not be sent as a
//!   hole in the text: rendering fails with [`RenderError::MissingToken`]
//!   unless the token has a `default(…)`, and `default` covers all three
//!   cases (Jinja's covers only undefined).
//! * Output is plain text: no HTML escaping; integral numbers print without
//!   a trailing `.0`.
//!
//! How a blank output is traced back to its token: every lookup that finds
//! nothing records the token in a per-render [`Recorder`]; the formatter,
//! which sees each `{{ … }}` value but not the expression, reads the last
//! recorded token when the value is blank. `default(…)` clears it.
//!
//! A [`Template`] compiles once in [`Template::parse`] and is then rendered
//! concurrently (it is `Send + Sync` and shared in an `Arc`).

mod plain;

use minijinja::value::{Enumerator, Object, ObjectRepr, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// A reference a template makes: `{{ contact.firstname }}` is object
/// `contact`, property `firstname`; `{{ unsubscribe_url }}` has no property.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenRef {
    /// Lowercased.
    pub object: String,
    /// Lowercased.
    pub property: Option<String>,
}

impl fmt::Display for TokenRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.property {
            Some(p) => write!(f, "{}.{}", self.object, p),
            None => f.write_str(&self.object),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template syntax error: {0}")]
    Syntax(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("token `{token}` is empty and has no default")]
    MissingToken { token: String },
    #[error("template could not be rendered: {0}")]
    Failed(String),
}

/// Values available to a template, by lowercase object name.
///
/// Cloning is cheap (shared, copy-on-write), so one context can be built per
/// enrollment and reused for every message of it.
#[derive(Clone, Debug, Default)]
pub struct TemplateContext {
    /// Lowercase name → an object (a JSON map with lowercase keys) or a
    /// top-level value (`unsubscribe_url`).
    objects: Arc<HashMap<String, Arc<Value>>>,
}

impl TemplateContext {
    /// Makes `properties` available as `{{ object.<property> }}`. Property
    /// names are lowercased; when two differ only by case, the one already
    /// in lowercase wins. Replaces an object inserted before under the same
    /// name.
    pub fn insert(&mut self, object: &str, properties: Map<String, Value>) {
        let properties = if properties.keys().all(|k| !has_uppercase(k)) {
            properties
        } else {
            let mut lowered = Map::with_capacity(properties.len());
            let (exact, other): (Vec<_>, Vec<_>) =
                properties.into_iter().partition(|(k, _)| !has_uppercase(k));
            for (k, v) in other.into_iter().chain(exact) {
                lowered.insert(k.to_lowercase(), v);
            }
            lowered
        };
        self.insert_value(object, Value::Object(properties));
    }

    /// Makes a top-level value available as `{{ name }}` (for example
    /// `unsubscribe_url`). Objects belong in [`TemplateContext::insert`].
    pub fn insert_value(&mut self, name: &str, value: Value) {
        Arc::make_mut(&mut self.objects).insert(name.to_lowercase(), Arc::new(value));
    }
}

impl TemplateContext {
    /// An object by lowercase name, for a plain render.
    fn found(&self, name: &str) -> Option<plain::Found<'_>> {
        Some(match &**self.objects.get(name)? {
            Value::Object(map) => plain::Found::Props { map, lowered: true },
            value => plain::Found::Value(value),
        })
    }
}

/// What a render reads, borrowed where it is: record properties as they are
/// stored, case and all (looked up as [`TemplateContext::insert`] would
/// lowercase them). Rendering from it copies nothing for a plain template
/// and only the [`Template::readable`] part of each object otherwise.
#[derive(Debug, Default)]
pub struct RenderScope<'a> {
    /// Lowercase name → what it reads; a later entry of a name wins.
    entries: Vec<(&'a str, Scoped<'a>)>,
}

#[derive(Debug)]
enum Scoped<'a> {
    Props(&'a Map<String, Value>),
    Value(&'a Value),
}

impl<'a> RenderScope<'a> {
    /// `{{ object.<property> }}`, like [`TemplateContext::insert`].
    /// `object` must be lowercase (the object type names are).
    pub fn insert(&mut self, object: &'a str, properties: &'a Map<String, Value>) {
        self.entries.push((object, Scoped::Props(properties)));
    }

    /// `{{ name }}`, like [`TemplateContext::insert_value`]; `name` lowercase.
    pub fn insert_value(&mut self, name: &'a str, value: &'a Value) {
        self.entries.push((name, Scoped::Value(value)));
    }

    fn found(&self, name: &str) -> Option<plain::Found<'a>> {
        let (_, scoped) = self.entries.iter().rev().find(|(n, _)| *n == name)?;
        Some(match scoped {
            Scoped::Props(map) => plain::Found::Props {
                map,
                lowered: false,
            },
            // As the context holds it: a map given as a value is not
            // lowercased.
            Scoped::Value(Value::Object(map)) => plain::Found::Props { map, lowered: true },
            Scoped::Value(value) => plain::Found::Value(value),
        })
    }

    /// The owned context minijinja renders from, with what `template` can read.
    fn context(&self, template: &Template) -> TemplateContext {
        let mut ctx = TemplateContext::default();
        for (name, scoped) in &self.entries {
            match scoped {
                Scoped::Props(map) => ctx.insert(name, template.readable(name, map)),
                Scoped::Value(value) => ctx.insert_value(name, (*value).clone()),
            }
        }
        ctx
    }
}

fn has_uppercase(s: &str) -> bool {
    s.chars().any(char::is_uppercase)
}

/// Looks `name` up in a lowercase-keyed map: exact first (the common case,
/// no allocation), then lowercased.
fn get_ci<'a, V>(get: impl Fn(&str) -> Option<&'a V>, name: &str) -> Option<&'a V> {
    match get(name) {
        Some(v) => Some(v),
        None if has_uppercase(name) => get(&name.to_lowercase()),
        None => None,
    }
}

/// Names the environment provides (`range`, `namespace`…); the context must
/// not shadow them with absent objects.
static GLOBALS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    Environment::new()
        .globals()
        .map(|(name, _)| name.to_string())
        .collect()
});

/// Context name under which a render's [`Recorder`] is reachable from the
/// formatter and filters. Not a valid CRM object name.
const RECORDER: &str = "__smsflow_recorder";

/// Per-render trace of tokens that came out empty.
#[derive(Debug, Default)]
struct Recorder {
    state: Mutex<RecorderState>,
}

#[derive(Debug, Default)]
struct RecorderState {
    /// The most recent lookup that found nothing, not yet accounted for by
    /// an output or a `default`.
    pending: Option<String>,
    /// The token a blank output was blamed on.
    missing: Option<String>,
}

impl Recorder {
    fn with<R>(&self, f: impl FnOnce(&mut RecorderState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
    fn empty_lookup(&self, token: String) {
        self.with(|s| s.pending = Some(token));
    }
}

impl Object for Recorder {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn render(self: &Arc<Self>, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

fn recorder<'a>(state: &State, slot: &'a mut Option<minijinja::Value>) -> Option<&'a Recorder> {
    *slot = state.lookup(RECORDER);
    slot.as_ref()?.downcast_object_ref::<Recorder>()
}

/// Whether a value counts as empty for R7: missing, null or blank.
fn is_blank(value: &minijinja::Value) -> bool {
    value.is_undefined()
        || value.is_none()
        || value.as_str().is_some_and(|s| s.trim().is_empty())
        || value.downcast_object_ref::<Absent>().is_some()
}

fn json_is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Converts a property value. Integral floats become integers so that a CRM
/// amount stored as `1500.0` prints `1500`.
fn to_jinja(value: &Value) -> minijinja::Value {
    match value {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                minijinja::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                minijinja::Value::from(u)
            } else {
                float_value(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(_) | Value::Object(_) => minijinja::Value::from_serialize(value),
    }
}

/// Largest magnitude below which every integral f64 is an exact i64.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

fn float_value(f: f64) -> minijinja::Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < EXACT_INT {
        minijinja::Value::from(f as i64)
    } else {
        minijinja::Value::from(f)
    }
}

/// The render context: objects by case-insensitive name.
#[derive(Debug)]
struct Root {
    objects: Arc<HashMap<String, Arc<Value>>>,
    recorder: minijinja::Value,
}

impl Root {
    fn recorder(&self) -> &Recorder {
        self.recorder
            .downcast_object_ref::<Recorder>()
            .expect("root holds a recorder")
    }
}

impl Object for Root {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let name = key.as_str()?;
        if name == RECORDER {
            return Some(self.recorder.clone());
        }
        match get_ci(|k| self.objects.get(k), name) {
            Some(value) => match &**value {
                Value::Object(_) => Some(minijinja::Value::from_object(Props {
                    object: name.to_lowercase(),
                    props: Arc::clone(value),
                    recorder: self.recorder.clone(),
                })),
                scalar => {
                    if json_is_blank(scalar) {
                        self.recorder().empty_lookup(name.to_lowercase());
                    }
                    Some(to_jinja(scalar))
                }
            },
            // Let the environment resolve `range()`, `namespace()`…
            None if GLOBALS.contains(name) => None,
            None => {
                let object = name.to_lowercase();
                self.recorder().empty_lookup(object.clone());
                Some(minijinja::Value::from_object(Absent {
                    object,
                    recorder: self.recorder.clone(),
                }))
            }
        }
    }
}

/// One object's properties.
#[derive(Debug)]
struct Props {
    object: String,
    /// Always a `Value::Object` with lowercase keys.
    props: Arc<Value>,
    recorder: minijinja::Value,
}

impl Props {
    fn map(&self) -> &Map<String, Value> {
        match &*self.props {
            Value::Object(map) => map,
            _ => unreachable!("Props always wraps a JSON object"),
        }
    }
}

impl Object for Props {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let name = key.as_str()?;
        let found = get_ci(|k| self.map().get(k), name);
        if found.is_none_or(json_is_blank) {
            if let Some(r) = self.recorder.downcast_object_ref::<Recorder>() {
                r.empty_lookup(format!("{}.{}", self.object, name.to_lowercase()));
            }
        }
        found.map(to_jinja)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.map()
                .keys()
                .map(|k| minijinja::Value::from(k.as_str()))
                .collect(),
        )
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.map().is_empty()
    }
}

/// An object the context does not have (no associated deal, say). Unlike
/// undefined it remembers its name, so `{{ deal.amount }}` is reported as
/// `deal.amount` rather than `deal`. Falsy and renders as nothing.
#[derive(Debug)]
struct Absent {
    object: String,
    recorder: minijinja::Value,
}

impl Object for Absent {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        if let (Some(name), Some(r)) = (
            key.as_str(),
            self.recorder.downcast_object_ref::<Recorder>(),
        ) {
            r.empty_lookup(format!("{}.{}", self.object, name.to_lowercase()));
        }
        None
    }

    fn is_true(self: &Arc<Self>) -> bool {
        false
    }

    fn render(self: &Arc<Self>, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// `default` for R7: applies to missing, null and blank values (Jinja's
/// applies to undefined only). Any explicit default satisfies the token,
/// even an empty one: `default("")` is the author saying blank is fine.
fn default_filter(
    state: &State,
    value: minijinja::Value,
    other: Option<minijinja::Value>,
    _also_falsy: Option<bool>,
) -> minijinja::Value {
    if !is_blank(&value) {
        return value;
    }
    let mut slot = None;
    if let Some(r) = recorder(state, &mut slot) {
        r.with(|s| s.pending = None);
    }
    other.unwrap_or_else(|| minijinja::Value::from(""))
}

/// Writes one `{{ … }}` value, failing the render on a blank token.
fn format_value(
    out: &mut minijinja::Output,
    state: &State,
    value: &minijinja::Value,
) -> Result<(), Error> {
    let mut slot = None;
    let pending = recorder(state, &mut slot).and_then(|r| {
        r.with(|s| {
            let pending = s.pending.take();
            if is_blank(value) && pending.is_some() {
                s.missing.clone_from(&pending);
            }
            pending
        })
    });
    if is_blank(value) {
        // A blank that no token produced (`{{ "" }}`) is the author's choice.
        return match pending {
            Some(token) => Err(Error::new(
                ErrorKind::UndefinedError,
                format!("token `{token}` is empty"),
            )),
            None => Ok(()),
        };
    }
    // Jinja prints Python's `True`; SMS readers expect `true`.
    if value.kind() == ValueKind::Bool {
        return out
            .write_str(if value.is_true() { "true" } else { "false" })
            .map_err(Error::from);
    }
    if value.is_number() && !value.is_integer() {
        if let Ok(f) = f64::try_from(value.clone()) {
            return minijinja::escape_formatter(out, state, &float_value(f));
        }
    }
    minijinja::escape_formatter(out, state, value)
}

const NAME: &str = "body";

/// A parsed template. Cheap to render many times.
pub struct Template {
    source: String,
    env: Environment<'static>,
    tokens: Vec<TokenRef>,
    /// Per object the template names: the properties it reads, or `None`
    /// when it uses the object as a whole (see [`Template::readable`]).
    reads: HashMap<String, Option<Vec<String>>>,
    /// The template without minijinja, when it is only text and simple
    /// tokens (see [`plain`]).
    plain: Option<plain::Plain>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Compiles `source`; reports malformed syntax (unclosed `{{`, unknown
    /// tags…) as [`TemplateError::Syntax`] with its line.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // Missing objects must reach the formatter (to be reported as a
        // missing token) instead of failing on the attribute lookup.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_keep_trailing_newline(true);
        env.set_formatter(format_value);
        env.add_filter("default", default_filter);
        env.add_filter("d", default_filter);
        env.add_template_owned(NAME, source.to_string())
            .map_err(syntax_error)?;
        let tokens = {
            let tmpl = env.get_template(NAME).map_err(syntax_error)?;
            collect_tokens(source, tmpl.undeclared_variables(true))
        };
        let mut reads: HashMap<String, Option<Vec<String>>> = HashMap::new();
        for t in &tokens {
            let entry = reads.entry(t.object.clone()).or_insert(Some(Vec::new()));
            match (&t.property, entry) {
                (Some(p), Some(named)) => named.push(p.clone()),
                (None, entry) => *entry = None,
                (Some(_), None) => {}
            }
        }
        Ok(Self {
            plain: plain::Plain::parse(source),
            source: source.to_string(),
            env,
            tokens,
            reads,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every object/property the template may read (in `{{ }}`, filters,
    /// conditions, loops), lowercased, deduplicated, in order of first
    /// appearance. Names the template defines itself (`{% set %}`, loop
    /// variables) and environment functions are left out.
    pub fn tokens(&self) -> Vec<TokenRef> {
        self.tokens.clone()
    }

    /// The part of `properties` this template can read as `object`, for
    /// [`TemplateContext::insert`]: only the properties its tokens name when
    /// every use of the object names a property, all of them when one does
    /// not (`{% if contact %}`, `{{ contact | tojson }}`, a subscript by a
    /// variable). Rendering gives the same text or error with either, and
    /// copying a whole record per message was most of the cost of building
    /// a context.
    pub fn readable(&self, object: &str, properties: &Map<String, Value>) -> Map<String, Value> {
        let named = match get_ci(|k| self.reads.get(k), object) {
            None => return Map::new(),
            Some(None) => return properties.clone(),
            Some(Some(named)) => named,
        };
        let is_named = |k: &str| named.iter().any(|n| n == k);
        properties
            .iter()
            .filter(|(k, _)| {
                if has_uppercase(k) {
                    is_named(&k.to_lowercase())
                } else {
                    is_named(k)
                }
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Whether the template reads `object` at all (lowercase).
    pub fn reads(&self, object: &str) -> bool {
        self.reads.contains_key(object)
    }

    /// Renders the template. Fails as a whole, never half-rendered, when a
    /// token is empty without a default.
    pub fn render(&self, ctx: &TemplateContext) -> Result<String, RenderError> {
        self.render_plain_or(|name| ctx.found(name), || self.render_jinja(ctx))
    }

    /// [`Template::render`] from borrowed properties.
    pub fn render_scope(&self, scope: &RenderScope<'_>) -> Result<String, RenderError> {
        self.render_plain_or(
            |name| scope.found(name),
            || self.render_jinja(&scope.context(self)),
        )
    }

    /// The plain render (see [`plain`]) from `lookup` when the template has
    /// a plain form and its values are plain; `jinja` otherwise.
    fn render_plain_or<'a>(
        &self,
        lookup: impl Fn(&str) -> Option<plain::Found<'a>>,
        jinja: impl FnOnce() -> Result<String, RenderError>,
    ) -> Result<String, RenderError> {
        match self.plain.as_ref().map(|p| p.render(lookup)) {
            Some(Ok(text)) => Ok(text),
            Some(Err(plain::Stop::Missing(token))) => Err(RenderError::MissingToken { token }),
            Some(Err(plain::Stop::NotPlain)) | None => jinja(),
        }
    }

    fn render_jinja(&self, ctx: &TemplateContext) -> Result<String, RenderError> {
        let recorder = minijinja::Value::from_object(Recorder::default());
        let root = Arc::new(Root {
            objects: Arc::clone(&ctx.objects),
            recorder: recorder.clone(),
        });
        let tmpl = self
            .env
            .get_template(NAME)
            .map_err(|e| RenderError::Failed(e.to_string()))?;
        tmpl.render(minijinja::Value::from_dyn_object(root.clone()))
            .map_err(|err| {
                let r = root.recorder();
                let token = r.with(|s| {
                    s.missing.take().or_else(|| {
                        (err.kind() == ErrorKind::UndefinedError)
                            .then(|| s.pending.take())
                            .flatten()
                    })
                });
                match token {
                    Some(token) => RenderError::MissingToken { token },
                    None => RenderError::Failed(err.to_string()),
                }
            })
    }
}

fn syntax_error(err: Error) -> TemplateError {
    let detail = err
        .detail()
        .map_or_else(|| err.kind().to_string(), str::to_string);
    TemplateError::Syntax(match err.line() {
        Some(line) => format!("{detail} (line {line})"),
        None => detail,
    })
}

/// Turns minijinja's dotted undeclared names (`Contact.FirstName.x`) into
/// token references ordered by where they first appear in `source`.
fn collect_tokens(source: &str, names: HashSet<String>) -> Vec<TokenRef> {
    let lowered_source = source.to_lowercase();
    let mut found: Vec<(usize, TokenRef)> = Vec::new();
    let mut seen = HashSet::new();
    for name in names {
        let lowered = name.to_lowercase();
        let mut parts = lowered.split('.');
        let object = parts.next().unwrap_or_default().to_string();
        if object.is_empty() || object == RECORDER || GLOBALS.contains(&object) {
            continue;
        }
        let token = TokenRef {
            object,
            property: parts.next().map(str::to_string),
        };
        if !seen.insert(token.clone()) {
            continue;
        }
        let position = lowered_source
            .find(&token.to_string())
            .or_else(|| lowered_source.find(&token.object))
            .unwrap_or(usize::MAX);
        found.push((position, token));
    }
    found.sort();
    found.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn ctx() -> TemplateContext {
        let mut c = TemplateContext::default();
        c.insert(
            "contact",
            map(json!({
                "firstname": "Anna",
                "LastName": "Müller",
                "nickname": null,
                "title": "",
                "city": "   ",
            })),
        );
        c.insert(
            "Deal",
            map(json!({ "amount": 1500.0, "rate": 12.5, "count": 3, "won": true })),
        );
        c.insert("sender", map(json!({ "name": "Bob" })));
        c.insert("number", map(json!({ "e164": "+14155550100" })));
        c.insert_value("unsubscribe_url", json!("https://x.test/u/1"));
        c
    }

    fn render(src: &str) -> Result<String, RenderError> {
        Template::parse(src).unwrap().render(&ctx())
    }

    fn missing(token: &str) -> Result<String, RenderError> {
        Err(RenderError::MissingToken {
            token: token.into(),
        })
    }

    #[test]
    fn r7_lowercase_tokens_resolve() {
        assert_eq!(
            render("Hi {{ contact.firstname }}, {{ deal.amount }} from {{ sender.name }} {{ number.e164 }}"),
            Ok("Hi Anna, 1500 from Bob +14155550100".into())
        );
    }

    #[test]
    fn r7_tokens_match_without_regard_to_case() {
        assert_eq!(
            render("{{Contact.FirstName}} {{CONTACT.lastname}} {{ contact.LASTNAME }} {{ DEAL.Amount }}"),
            Ok("Anna Müller Müller 1500".into())
        );
        assert_eq!(
            render("{{ Unsubscribe_URL }}"),
            Ok("https://x.test/u/1".into())
        );
    }

    #[test]
    fn r7_lowercase_key_wins_over_case_variant() {
        let mut c = TemplateContext::default();
        c.insert(
            "contact",
            map(json!({ "FirstName": "Upper", "firstname": "lower" })),
        );
        let t = Template::parse("{{ contact.firstname }}").unwrap();
        assert_eq!(t.render(&c), Ok("lower".into()));
    }

    #[test]
    fn r7_default_applies_to_missing_null_and_blank_values() {
        for prop in ["unknownprop", "nickname", "title", "city"] {
            assert_eq!(
                render(&format!(
                    "Hi {{{{ contact.{prop} | default(\"there\") }}}}!"
                )),
                Ok("Hi there!".into()),
                "{prop}"
            );
            assert_eq!(
                render(&format!("Hi {{{{ Contact.{prop}|default('there') }}}}!")),
                Ok("Hi there!".into()),
                "{prop}"
            );
        }
        assert_eq!(
            render("{{ contact.firstname | default('there') }}"),
            Ok("Anna".into())
        );
        assert_eq!(render("{{ contact.title | d('x') }}"), Ok("x".into()));
    }

    #[test]
    fn r7_default_applies_to_a_missing_object() {
        let t = Template::parse("{{ company.name | default('your company') }}").unwrap();
        assert_eq!(t.render(&ctx()), Ok("your company".into()));
        let t = Template::parse("{{ contact.firstname | default('there') }}").unwrap();
        assert_eq!(t.render(&TemplateContext::default()), Ok("there".into()));
    }

    #[test]
    fn r7_explicit_empty_default_is_allowed() {
        assert_eq!(
            render("Hi{{ contact.title | default('') }}!"),
            Ok("Hi!".into())
        );
    }

    #[test]
    fn r7_empty_token_without_default_fails_missing_token() {
        assert_eq!(
            render("Hi {{ contact.unknownprop }}"),
            missing("contact.unknownprop")
        );
        assert_eq!(
            render("Hi {{ contact.nickname }}"),
            missing("contact.nickname")
        );
        assert_eq!(render("Hi {{ Contact.Title }}"), missing("contact.title"));
        assert_eq!(render("Hi {{ contact.city }}"), missing("contact.city"));
        assert_eq!(render("{{ company.name }}"), missing("company.name"));
        assert_eq!(render("{{ promo_code }}"), missing("promo_code"));
        assert_eq!(
            render("{{ contact.firstname | default('x') }} {{ contact.title | upper }}"),
            missing("contact.title")
        );
        let t = Template::parse("Hi {{ contact.firstname }}").unwrap();
        assert_eq!(
            t.render(&TemplateContext::default()),
            missing("contact.firstname")
        );
    }

    #[test]
    fn r7_conditions_on_empty_tokens_do_not_fail() {
        assert_eq!(
            render("{% if contact.title %}{{ contact.title }} {% endif %}{{ contact.firstname }}"),
            Ok("Anna".into())
        );
        assert_eq!(
            render("{% if company %}x{% else %}y{% endif %}"),
            Ok("y".into())
        );
        assert_eq!(
            render("{{ contact.nickname or contact.firstname }}"),
            Ok("Anna".into())
        );
    }

    #[test]
    fn r7_numbers_and_bools_render_naturally() {
        assert_eq!(
            render("{{ deal.amount }} {{ deal.rate }} {{ deal.count }} {{ deal.won }} {{ deal.amount * 2 }}"),
            Ok("1500 12.5 3 true 3000".into())
        );
    }

    #[test]
    fn r7_no_html_escaping() {
        let mut c = TemplateContext::default();
        c.insert(
            "contact",
            map(json!({ "company": "Smith & Sons <\"Ltd\">" })),
        );
        let t = Template::parse("{{ contact.company }}").unwrap();
        assert_eq!(t.render(&c), Ok("Smith & Sons <\"Ltd\">".into()));
    }

    #[test]
    fn r7_unicode_bodies_render() {
        assert_eq!(
            render("Hei {{ contact.firstname }}! Grüße — “{{ contact.lastname }}” 😀\n"),
            Ok("Hei Anna! Grüße — “Müller” 😀\n".into())
        );
    }

    #[test]
    fn r7_tokens_lists_every_reference_in_order() {
        let t = Template::parse(
            "{% if Contact.FirstName %}Hi {{ contact.firstname | default(sender.name) }}{% endif %} \
             {{ deal.amount }} {{ unsubscribe_url }} {% for i in range(2) %}{{ i }}{% endfor %}\
             {% set x = number.e164 %}{{ x }} {{ contact.address.city }}",
        )
        .unwrap();
        let tok = |o: &str, p: Option<&str>| TokenRef {
            object: o.into(),
            property: p.map(Into::into),
        };
        assert_eq!(
            t.tokens(),
            vec![
                tok("contact", Some("firstname")),
                tok("sender", Some("name")),
                tok("deal", Some("amount")),
                tok("unsubscribe_url", None),
                tok("number", Some("e164")),
                tok("contact", Some("address")),
            ]
        );
    }

    #[test]
    fn r7_syntax_error_is_reported() {
        for src in [
            "Hi {{ contact.firstname",
            "{% if x %}",
            "{{ }}",
            "{% bogus %}",
        ] {
            assert!(
                matches!(Template::parse(src), Err(TemplateError::Syntax(_))),
                "{src}"
            );
        }
        let Err(TemplateError::Syntax(msg)) = Template::parse("a\n{{ contact. }}") else {
            panic!("expected a syntax error");
        };
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn template_is_send_sync_and_renders_concurrently() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Template>();
        assert_send_sync::<TemplateContext>();
        let t = Arc::new(Template::parse("Hi {{ contact.firstname }}").unwrap());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let t = Arc::clone(&t);
                std::thread::spawn(move || t.render(&ctx()))
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Ok("Hi Anna".into()));
        }
    }

    #[test]
    fn r7_rendering_from_the_readable_properties_equals_rendering_from_all() {
        let contact = map(json!({
            "firstname": "Anna",
            "LastName": "Müller",
            "lastname": "Mueller",
            "nickname": null,
            "title": "",
            "city": "Köln",
            "score": 1500.0,
            "tags": ["a", "b"],
            "address": {"city": "Köln"},
        }));
        let with = |props: Map<String, Value>| {
            let mut c = TemplateContext::default();
            c.insert("contact", props);
            c.insert("deal", map(json!({"amount": 3})));
            c
        };
        for src in [
            "Hi {{ contact.firstname }}",
            "Hi {{ Contact.LastName }} from {{ contact.CITY }}",
            "Hi {{ contact.nickname | default(contact.firstname) }}",
            "Hi {{ contact.title }}",
            "Hi {{ contact.missing }}",
            "{{ contact.score }} {{ deal.amount }} {{ contact.address.city }}",
            "{% if contact %}known{% endif %} {{ contact.firstname }}",
            "{% for k in contact %}{{ k }},{% endfor %}",
            "{{ contact | length }} {{ contact.tags | join('/') }}",
            "{% set key = 'city' %}{{ contact[key] }}",
            "{{ contact['firstname'] }} {{ contact.firstname }}",
            "{% set c = contact %}{{ c.lastname }}",
            "{% if contact.city == 'Köln' %}{{ contact.firstname|upper }}{% endif %}",
            "no tokens at all",
        ] {
            let t = Template::parse(src).unwrap();
            let readable = t.readable("Contact", &contact);
            assert_eq!(
                t.render(&with(readable.clone())),
                t.render(&with(contact.clone())),
                "{src} (readable: {readable:?})"
            );
            let mut scope = RenderScope::default();
            let deal = map(json!({"amount": 3}));
            scope.insert("contact", &contact);
            scope.insert("deal", &deal);
            assert_eq!(
                t.render_scope(&scope),
                t.render(&with(contact.clone())),
                "{src} from a scope"
            );
        }
        let t = Template::parse("Hi {{ Contact.FirstName }}").unwrap();
        assert_eq!(
            t.readable("contact", &contact).keys().collect::<Vec<_>>(),
            ["firstname"],
            "only the named property is copied"
        );
    }
}
