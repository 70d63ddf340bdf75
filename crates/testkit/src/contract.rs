//! The contract check: every answer a test receives is held against the
//! server's own OpenAPI document, so the document cannot drift from what
//! the server really answers.
//!
//! [`ApiContract::check`] finds the operation a request reached (by path
//! template and method), the response the document gives for the status,
//! and validates the bodies against their JSON Schemas (Draft 2020-12,
//! OpenAPI 3.1's dialect). A status the document does not mention is a
//! violation; so is a body its schema refuses, and, on a 2xx, a request
//! body the documented request schema refuses (a schema must never be
//! stricter than the server). Paths and methods the document does not
//! describe are not checked: tests call them on purpose, to pin the
//! unknown-path and wrong-method answers.

use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// How much of an offending body a [`ContractViolation`] shows.
const SHOWN_BODY_CHARS: usize = 2000;

/// The media type whose schemas are checked.
const JSON: &str = "application/json";

/// An OpenAPI 3.1 document, ready to check requests and answers against.
pub struct ApiContract {
    /// The document's `paths`, as templates to match request paths with.
    templates: Vec<Template>,
    /// The whole document, to follow `$ref`s to responses and request
    /// bodies.
    doc: Value,
    /// The document's `components` with every object schema closed (see
    /// [`closed`]): answers are held to these, so a field the document
    /// does not name is drift too.
    closed_components: Value,
    /// Compiled validators by `"{method} {template} {status key} {side}"`:
    /// tests send many requests to few operations.
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// One path template, `/api/v1/workflows/{id}`, cut into segments.
struct Template {
    text: String,
    segments: Vec<Segment>,
}

enum Segment {
    Literal(String),
    Param,
}

impl Template {
    fn parse(text: &str) -> Self {
        let segments = text
            .split('/')
            .map(|seg| {
                if seg.len() > 2 && seg.starts_with('{') && seg.ends_with('}') {
                    Segment::Param
                } else {
                    Segment::Literal(seg.to_string())
                }
            })
            .collect();
        Self {
            text: text.to_string(),
            segments,
        }
    }

    /// Whether `path` (cut at `/`) is an instance of this template: same
    /// number of segments, literals equal, a parameter any non-empty one.
    fn matches(&self, path: &[&str]) -> bool {
        self.segments.len() == path.len()
            && self
                .segments
                .iter()
                .zip(path)
                .all(|(segment, actual)| match segment {
                    Segment::Literal(literal) => literal == actual,
                    Segment::Param => !actual.is_empty(),
                })
    }

    /// Of two matching templates, the one whose first differing segment
    /// is literal is the more specific (`/workflows/validate` beats
    /// `/workflows/{id}`).
    fn is_more_specific_than(&self, other: &Template) -> bool {
        let literal = |segment: &Segment| matches!(segment, Segment::Literal(_));
        self.segments
            .iter()
            .map(literal)
            .gt(other.segments.iter().map(literal))
    }
}

/// Which body broke the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A body the server accepted (2xx) that the request schema refuses.
    Request,
    /// The answer: an undescribed status, or a body its schema refuses.
    Response,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Request => "request",
            Side::Response => "response",
        })
    }
}

/// An exchange the OpenAPI document does not describe.
#[derive(Clone, Debug)]
pub struct ContractViolation {
    pub method: Method,
    /// The matched path template, `/api/v1/workflows/{id}`.
    pub template: String,
    pub status: u16,
    pub side: Side,
    /// What is wrong: each schema error with its instance path
    /// (`/results/0/created_at: 3 is not of type "string"`), or the
    /// undescribed status.
    pub problems: Vec<String>,
    /// The offending body as JSON, truncated.
    pub body: String,
}

impl fmt::Display for ContractViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "OpenAPI contract violation: {} {} answered {}, and the {} does not match the document:",
            self.method, self.template, self.status, self.side
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(f, "{} body: {}", self.side, self.body)
    }
}

impl std::error::Error for ContractViolation {}

impl ApiContract {
    /// Reads the document's `paths`; schemas are compiled on first use.
    pub fn new(doc: &Value) -> ApiContract {
        let templates = doc["paths"]
            .as_object()
            .map(|paths| paths.keys().map(|path| Template::parse(path)).collect())
            .unwrap_or_default();
        let mut closed_components = doc["components"].clone();
        if let Some(schemas) = doc["components"]["schemas"].as_object() {
            let mut both = Map::new();
            for (name, schema) in schemas {
                both.insert(name.clone(), closed(schema, false));
                both.insert(format!("{name}{OPEN}"), closed(schema, true));
            }
            closed_components["schemas"] = Value::Object(both);
        }
        ApiContract {
            templates,
            doc: doc.clone(),
            closed_components,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// Checks one exchange: `path` as sent (a query string is ignored),
    /// the status answered, the JSON body sent if any, and the body
    /// answered.
    ///
    /// # Errors
    ///
    /// A [`ContractViolation`] when the document does not describe the
    /// status, the answer's body does not match its schema, or a request
    /// body the server accepted does not match the request schema.
    /// Paths and methods the document does not describe are `Ok`.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        request_body: Option<&Value>,
        response_body: &Value,
    ) -> Result<(), ContractViolation> {
        self.check_exchange(method, path, status, request_body, Some(response_body))
    }

    /// [`ApiContract::check`], where `response_body` is `None` when the
    /// answer had no body at all: its status is checked, not its body.
    pub(crate) fn check_exchange(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        request_body: Option<&Value>,
        response_body: Option<&Value>,
    ) -> Result<(), ContractViolation> {
        let Some(template) = self.template_for(path) else {
            return Ok(());
        };
        let operation = &self.doc["paths"][&template.text][method.as_str().to_ascii_lowercase()];
        if !operation.is_object() {
            return Ok(());
        }
        let violation =
            |side: Side, problems: Vec<String>, body: Option<&Value>| ContractViolation {
                method: method.clone(),
                template: template.text.clone(),
                status,
                side,
                problems,
                body: body.map_or_else(|| "(none)".to_string(), shown),
            };
        let empty = Map::new();
        let responses = operation["responses"].as_object().unwrap_or(&empty);
        let Some(key) = response_key(responses, status) else {
            let described: Vec<&str> = responses.keys().map(String::as_str).collect();
            let problem = format!(
                "the document describes no {status} answer (it describes: {})",
                described.join(", ")
            );
            return Err(violation(Side::Response, vec![problem], response_body));
        };

        if let Some(body) = response_body {
            let response = self.resolve(&responses[key]);
            if let Some(schema) = json_schema(response) {
                let name = format!("{method} {} {key} response", template.text);
                let problems = self.validate(&name, schema, body, true);
                if !problems.is_empty() {
                    return Err(violation(Side::Response, problems, Some(body)));
                }
            }
        }

        if let (true, Some(body)) = ((200..300).contains(&status), request_body) {
            let request = self.resolve(&operation["requestBody"]);
            if let Some(schema) = json_schema(request) {
                let name = format!("{method} {} request", template.text);
                let problems = self.validate(&name, schema, body, false);
                if !problems.is_empty() {
                    return Err(violation(Side::Request, problems, Some(body)));
                }
            }
        }
        Ok(())
    }

    /// The most specific template `path` is an instance of.
    fn template_for(&self, path: &str) -> Option<&Template> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .filter(|template| template.matches(&segments))
            .fold(None, |best: Option<&Template>, template| match best {
                Some(b) if !template.is_more_specific_than(b) => Some(b),
                _ => Some(template),
            })
    }

    /// Follows a `{"$ref": "#/…"}` (a response or request body kept under
    /// `components`) to what it names.
    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        // A bound, so a cycle of refs cannot hang a test.
        for _ in 0..8 {
            match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
                Some(pointer) => value = self.doc.pointer(pointer).unwrap_or(&Value::Null),
                None => break,
            }
        }
        value
    }

    /// The schema errors of `instance`, each with its instance path.
    fn validate(&self, name: &str, schema: &Value, instance: &Value, answer: bool) -> Vec<String> {
        let validator = match self.validator(name, schema, answer) {
            Ok(validator) => validator,
            Err(problem) => return vec![problem],
        };
        validator
            .iter_errors(instance)
            .map(|error| {
                let at = error.instance_path().to_string();
                let at = if at.is_empty() { "(root)" } else { &at };
                format!("{at}: {error}")
            })
            .collect()
    }

    /// The compiled validator for `schema`, compiled once per `name`.
    /// The schema is embedded in a root that carries the document's
    /// `components` (closed ones for an answer), so its
    /// `#/components/schemas/…` refs resolve.
    fn validator(
        &self,
        name: &str,
        schema: &Value,
        answer: bool,
    ) -> Result<Arc<jsonschema::Validator>, String> {
        let cached = self
            .validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        if let Some(validator) = cached {
            return Ok(validator);
        }
        let (schema, components) = if answer {
            (closed(schema, false), &self.closed_components)
        } else {
            (schema.clone(), &self.doc["components"])
        };
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/$defs/checked",
            "$defs": {"checked": schema},
            "components": components,
        });
        let validator = jsonschema::draft202012::options()
            .build(&root)
            .map_err(|e| format!("the documented schema does not compile: {e}"))?;
        let validator = Arc::new(validator);
        self.validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), Arc::clone(&validator));
        Ok(validator)
    }
}

/// The suffix of a component's open twin, which an `allOf` member refers
/// to (see [`closed`]).
const OPEN: &str = "__open";

/// `schema` with every object schema that lists `properties` (or merges
/// others with `allOf`) closed by `unevaluatedProperties: false`, so an
/// answer may carry only the fields its schema names. Members of an
/// `allOf` stay open — the merged object as a whole is closed, and a
/// member sees only its own fields — so a `$ref` among them points at the
/// component's open twin (`Name__open`, which [`ApiContract::new`] adds).
/// Only schema keywords are walked, never `enum`s or examples, which hold
/// data.
fn closed(schema: &Value, in_all_of: bool) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        let walked = match (key.as_str(), value) {
            ("properties" | "patternProperties" | "$defs", Value::Object(children)) => {
                Value::Object(
                    children
                        .iter()
                        .map(|(name, child)| (name.clone(), closed(child, false)))
                        .collect(),
                )
            }
            ("allOf", Value::Array(members)) => {
                Value::Array(members.iter().map(|m| closed(m, true)).collect())
            }
            ("oneOf" | "anyOf" | "prefixItems", Value::Array(members)) => {
                Value::Array(members.iter().map(|m| closed(m, false)).collect())
            }
            ("items" | "additionalProperties" | "not" | "contains", Value::Object(_)) => {
                closed(value, false)
            }
            ("$ref", Value::String(reference))
                if in_all_of && reference.starts_with("#/components/schemas/") =>
            {
                Value::String(format!("{reference}{OPEN}"))
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), walked);
    }
    let merges = object.contains_key("properties") || object.contains_key("allOf");
    if merges && !in_all_of && !object.contains_key("additionalProperties") {
        out.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

/// The key of the response the document gives for `status`: the exact
/// code, else its class (`4XX`, `4xx`), else `default` — except that a
/// success never falls to `default` when the operation describes no
/// success at all.
fn response_key(responses: &Map<String, Value>, status: u16) -> Option<&str> {
    let class = status / 100;
    let candidates = [
        status.to_string(),
        format!("{class}XX"),
        format!("{class}xx"),
    ];
    if let Some(key) = candidates
        .iter()
        .find_map(|c| responses.get_key_value(c.as_str()).map(|(k, _)| k.as_str()))
    {
        return Some(key);
    }
    let success_described = responses.keys().any(|k| k.starts_with('2'));
    if class == 2 && !success_described {
        return None;
    }
    responses
        .get_key_value("default")
        .map(|(key, _)| key.as_str())
}

/// `content["application/json"].schema` of a response or request body.
fn json_schema(described: &Value) -> Option<&Value> {
    described.get("content")?.get(JSON)?.get("schema")
}

/// `body` as JSON, cut to about [`SHOWN_BODY_CHARS`] characters.
fn shown(body: &Value) -> String {
    let text = body.to_string();
    match text.char_indices().nth(SHOWN_BODY_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small document: a list whose items are a `$ref`'d component, a
    /// literal path beside a templated one, a 204, and a request schema.
    fn doc() -> Value {
        let error = json!({
            "description": "refused",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        });
        json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/api/v1/workflows": {
                    "get": {"responses": {
                        "200": {"description": "a page", "content": {"application/json": {"schema": {
                            "type": "object",
                            "required": ["results"],
                            "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/Workflow"}}}
                        }}}},
                        "4XX": error,
                    }},
                    "post": {
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewWorkflow"}}}},
                        "responses": {
                            "201": {"description": "created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Workflow"}}}},
                            "4XX": error,
                        }
                    }
                },
                "/api/v1/workflows/{id}": {
                    "get": {"responses": {
                        "200": {"description": "one", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Workflow"}}}},
                        "4XX": error,
                    }},
                    "delete": {"responses": {"204": {"description": "gone"}, "4XX": error}}
                },
                "/api/v1/workflows/validate": {
                    "post": {"responses": {
                        "200": {"description": "verdict", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["valid"], "properties": {"valid": {"type": "boolean"}}
                        }}}}
                    }}
                },
                "/api/v1/usage": {
                    "get": {"responses": {"default": {"description": "anything"}}}
                },
                "/api/v1/workflows/{id}/publish": {
                    "post": {"responses": {
                        "200": {"description": "a workflow and more", "content": {"application/json": {"schema": {
                            "allOf": [
                                {"$ref": "#/components/schemas/Workflow"},
                                {"type": "object", "required": ["enrolled"], "properties": {"enrolled": {"type": "integer"}}}
                            ]
                        }}}}
                    }}
                }
            },
            "components": {"schemas": {
                "Workflow": {
                    "type": "object",
                    "required": ["id", "created_at"],
                    "properties": {"id": {"type": "string"}, "created_at": {"type": "string"}}
                },
                "NewWorkflow": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "minLength": 1}}
                },
                "ErrorBody": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}}
                },
                "ErrorDetail": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                }
            }}
        })
    }

    fn workflow() -> Value {
        json!({"id": "wf_1", "created_at": "2026-03-10T18:00:00Z"})
    }

    #[test]
    fn a_body_that_matches_its_schema_passes() {
        let contract = ApiContract::new(&doc());
        let page = json!({"results": [workflow(), workflow()]});
        assert!(contract
            .check(&Method::GET, "/api/v1/workflows?limit=5", 200, None, &page)
            .is_ok());
        // Twice: the second check uses the cached validator.
        assert!(contract
            .check(&Method::GET, "/api/v1/workflows", 200, None, &page)
            .is_ok());
    }

    #[test]
    fn a_wrong_type_inside_a_referenced_component_fails_naming_its_instance_path() {
        let contract = ApiContract::new(&doc());
        let page = json!({"results": [{"id": "wf_1", "created_at": 3}]});
        let violation = contract
            .check(&Method::GET, "/api/v1/workflows", 200, None, &page)
            .expect_err("created_at is not a string");
        assert_eq!(violation.side, Side::Response);
        assert_eq!(violation.template, "/api/v1/workflows");
        let shown = violation.to_string();
        assert!(
            shown.contains(r#"/results/0/created_at: 3 is not of type "string""#),
            "{shown}"
        );
        assert!(
            shown.contains("GET /api/v1/workflows answered 200"),
            "{shown}"
        );
        assert!(shown.contains(r#""created_at":3"#), "{shown}");

        // Two levels of refs: ErrorBody → ErrorDetail.
        let violation = contract
            .check(
                &Method::GET,
                "/api/v1/workflows/wf_1",
                404,
                None,
                &json!({"error": {"code": 7, "message": "no"}}),
            )
            .expect_err("code is not a string");
        assert!(
            violation.problems[0].starts_with("/error/code: 7 is not of type"),
            "{violation}"
        );
    }

    #[test]
    fn literal_path_segments_beat_templates() {
        let contract = ApiContract::new(&doc());
        // Checked against /validate's schema, not /{id}'s (which has no POST).
        let violation = contract
            .check(
                &Method::POST,
                "/api/v1/workflows/validate",
                200,
                None,
                &json!({"valid": "yes"}),
            )
            .expect_err("valid is not a boolean");
        assert_eq!(violation.template, "/api/v1/workflows/validate");
        assert!(contract
            .check(
                &Method::POST,
                "/api/v1/workflows/validate",
                200,
                None,
                &json!({"valid": true}),
            )
            .is_ok());
        // And a template still takes what no literal claims.
        let violation = contract
            .check(
                &Method::GET,
                "/api/v1/workflows/wf_1",
                200,
                None,
                &json!({}),
            )
            .expect_err("a workflow needs an id");
        assert_eq!(violation.template, "/api/v1/workflows/{id}");
    }

    #[test]
    fn unknown_paths_and_methods_are_not_checked() {
        let contract = ApiContract::new(&doc());
        let junk = json!("not even an object");
        for (method, path) in [
            (Method::GET, "/api/v1/no-such-resource"),
            (Method::GET, "/api/v1/workflows/wf_1/extra"),
            (Method::GET, "/api/v1/workflows//"),
            (Method::PATCH, "/api/v1/workflows/wf_1"),
            (Method::PUT, "/api/v1/workflows"),
        ] {
            assert!(
                contract.check(&method, path, 404, None, &junk).is_ok(),
                "{method} {path}"
            );
        }
        // An empty segment is no id.
        assert!(contract
            .check(&Method::GET, "/api/v1/workflows/", 500, None, &junk)
            .is_ok());
    }

    #[test]
    fn a_status_the_document_does_not_describe_is_a_violation() {
        let contract = ApiContract::new(&doc());
        let violation = contract
            .check(&Method::GET, "/api/v1/workflows", 500, None, &json!(null))
            .expect_err("no 5XX is described");
        assert!(
            violation.to_string().contains("describes no 500"),
            "{violation}"
        );
        // A success other than the one described.
        assert!(contract
            .check(&Method::POST, "/api/v1/workflows", 200, None, &workflow())
            .is_err());
        // /validate describes no 4XX.
        assert!(contract
            .check(
                &Method::POST,
                "/api/v1/workflows/validate",
                400,
                None,
                &json!({})
            )
            .is_err());
        // `default` covers what is not named…
        assert!(contract
            .check(&Method::GET, "/api/v1/usage", 404, None, &json!(1))
            .is_ok());
        // …but not a success when the operation describes none.
        assert!(contract
            .check(&Method::GET, "/api/v1/usage", 200, None, &json!(1))
            .is_err());
    }

    #[test]
    fn a_204_without_content_passes() {
        let contract = ApiContract::new(&doc());
        assert!(contract
            .check(
                &Method::DELETE,
                "/api/v1/workflows/wf_1",
                204,
                None,
                &Value::Null
            )
            .is_ok());
        assert!(contract
            .check_exchange(&Method::DELETE, "/api/v1/workflows/wf_1", 204, None, None)
            .is_ok());
    }

    #[test]
    fn an_accepted_request_body_that_breaks_the_request_schema_is_a_violation() {
        let contract = ApiContract::new(&doc());
        let violation = contract
            .check(
                &Method::POST,
                "/api/v1/workflows",
                201,
                Some(&json!({"name": ""})),
                &workflow(),
            )
            .expect_err("the server accepted a body the schema refuses");
        assert_eq!(violation.side, Side::Request);
        assert!(violation.problems[0].starts_with("/name: "), "{violation}");
        assert!(violation
            .to_string()
            .contains("request body: {\"name\":\"\"}"));
        assert!(contract
            .check(
                &Method::POST,
                "/api/v1/workflows",
                201,
                Some(&json!({"name": "Welcome"})),
                &workflow(),
            )
            .is_ok());
    }

    #[test]
    fn a_refused_request_body_is_not_checked() {
        let contract = ApiContract::new(&doc());
        let error = json!({"error": {"code": "validation_failed", "message": "name is empty"}});
        assert!(contract
            .check(
                &Method::POST,
                "/api/v1/workflows",
                422,
                Some(&json!({"name": ""})),
                &error,
            )
            .is_ok());
        // The answer still is: a 4XX must have the error shape.
        assert!(contract
            .check(
                &Method::POST,
                "/api/v1/workflows",
                422,
                Some(&json!({"name": ""})),
                &json!("Unprocessable"),
            )
            .is_err());
    }

    #[test]
    fn long_bodies_are_truncated_in_the_message() {
        let long = json!({"results": [{"id": "x".repeat(5000), "created_at": 1}]});
        let contract = ApiContract::new(&doc());
        let violation = contract
            .check(&Method::GET, "/api/v1/workflows", 200, None, &long)
            .expect_err("created_at is not a string");
        assert!(
            violation.body.chars().count() < 2100,
            "{}",
            violation.body.len()
        );
        assert!(violation.body.ends_with("bytes in all)"));
    }

    #[test]
    fn an_answer_field_the_document_does_not_name_is_a_violation() {
        let contract = ApiContract::new(&doc());
        let mut answer = workflow();
        answer["secret"] = json!("leaked");
        let violation = contract
            .check(&Method::GET, "/api/v1/workflows/wf_1", 200, None, &answer)
            .expect_err("secret is not in the schema");
        assert!(
            violation.problems.iter().any(|p| p.contains("secret")),
            "{violation}"
        );
        // Inside a list item too.
        let page = json!({"results": [answer]});
        assert!(contract
            .check(&Method::GET, "/api/v1/workflows", 200, None, &page)
            .is_err());
    }

    #[test]
    fn a_merged_answer_may_carry_the_fields_of_every_part_and_no_others() {
        let contract = ApiContract::new(&doc());
        let path = "/api/v1/workflows/wf_1/publish";
        let mut answer = workflow();
        answer["enrolled"] = json!(3);
        assert!(contract
            .check(&Method::POST, path, 200, None, &answer)
            .is_ok());
        answer["secret"] = json!("leaked");
        assert!(contract
            .check(&Method::POST, path, 200, None, &answer)
            .is_err());
    }

    #[test]
    fn a_request_body_may_carry_fields_its_schema_does_not_name() {
        // The server decides what it refuses; the check only holds an
        // accepted body to what the schema does say.
        let contract = ApiContract::new(&doc());
        let sent = json!({"name": "Welcome", "note": "kept by the server"});
        assert!(contract
            .check(
                &Method::POST,
                "/api/v1/workflows",
                201,
                Some(&sent),
                &workflow()
            )
            .is_ok());
    }
}
