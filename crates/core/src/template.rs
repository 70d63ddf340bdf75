//! Message templates with record tokens (R7). INTERFACE — implementation in progress.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// A reference a template makes: `{{ contact.firstname }}` is object
/// `contact`, property `firstname`; `{{ unsubscribe_url }}` has no property.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenRef {
    /// Lowercased.
    pub object: String,
    /// Lowercased.
    pub property: Option<String>,
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
#[derive(Clone, Debug, Default)]
pub struct TemplateContext {
    objects: HashMap<String, Map<String, Value>>,
}

impl TemplateContext {
    pub fn insert(&mut self, object: &str, properties: Map<String, Value>) {
        self.objects.insert(object.to_ascii_lowercase(), properties);
    }
}

/// A parsed template. Cheap to render many times.
pub struct Template {
    source: String,
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        Ok(Self { source: source.to_string() })
    }
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn tokens(&self) -> Vec<TokenRef> {
        unimplemented!()
    }
    pub fn render(&self, ctx: &TemplateContext) -> Result<String, RenderError> {
        let _ = ctx;
        unimplemented!()
    }
}
