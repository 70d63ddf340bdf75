//! `GET /api/openapi.json`: the REST API described as OpenAPI 3.1. Every
//! `/api/v1` route is registered through `utoipa-axum`'s `routes!` together
//! with its `#[utoipa::path]` description, so a route cannot be served
//! without being described. Request and response bodies are the types the
//! handlers parse and serialise (`api::v1::views` and the engine's inputs),
//! so their schemas come from the same code; the test kit checks every
//! answer the API tests get against this document.

use crate::error::ErrorBody;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref};
use utoipa::{PartialSchema, ToSchema};

/// Fills in what the routes do not say: the title, version and the two
/// bearer tokens (an account's, and the server admin's for `/accounts`).
pub(crate) fn finish(mut api: OpenApi) -> OpenApi {
    api.info.title = "smsflow".into();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.info.description = Some(
        "Automated, two-way SMS from CRM workflows. Lists answer {results, next_cursor} \
         and page with ?limit= and ?after=; errors answer {error: {code, message, fields}}."
            .into(),
    );
    // Every operation answers the error shape on 4xx and takes a bearer
    // token: the admin's under /accounts, an account's everywhere else.
    let error = error_response("Bad input (422 names every bad field), not found, or refused");
    // 502 when a provider or HubSpot refuses or fails a call made on the
    // request's behalf (`provider_error`), 500 when the server itself fails.
    let failure = error_response(
        "A provider failed the call made for this request (502), or the server failed (500)",
    );
    for (path, item) in api.paths.paths.iter_mut() {
        let token = if path.starts_with("/api/v1/accounts") {
            "admin_token"
        } else {
            "account_token"
        };
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .insert("4XX".into(), error.clone().into());
            operation
                .responses
                .responses
                .insert("5XX".into(), failure.clone().into());
            operation.security = Some(vec![SecurityRequirement::new(token, Vec::<String>::new())]);
        }
    }
    let components = api.components.get_or_insert_with(Default::default);
    let mut schemas = vec![("ErrorBody".to_string(), ErrorBody::schema())];
    ErrorBody::schemas(&mut schemas);
    components.schemas.extend(schemas);
    for (name, what) in [
        ("account_token", "An account's API token"),
        ("admin_token", "The server admin token"),
    ] {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(what))
            .build();
        components
            .security_schemes
            .insert(name.to_string(), SecurityScheme::Http(scheme).into());
    }
    api
}

/// A response in the error shape.
fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}
