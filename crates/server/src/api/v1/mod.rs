//! `/api/v1`: the REST API of DESIGN §5. Ids are strings; creating answers
//! 201 with the whole resource; lists answer `{results, next_cursor}`.

mod accounts;
mod consent;
mod conversations;
mod directory;
mod dry_run;
mod integrations;
mod messages;
mod objects;
mod providers;
mod sandbox;
mod sms_messages;
mod views;
mod workflows;

use crate::AppState;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(accounts::router())
        .merge(consent::router())
        .merge(conversations::router())
        .merge(directory::router())
        .merge(objects::router())
        .merge(workflows::router())
        .merge(dry_run::router())
        .merge(messages::router())
        .merge(sandbox::router())
        .merge(providers::router())
        .merge(sms_messages::router())
        .merge(integrations::router())
}
