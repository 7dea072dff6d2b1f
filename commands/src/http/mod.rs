//! The HTTP surface of the write side, one module per URL resource. Handlers
//! only extract the request (the caller's [`crate::app::Origin`], path and
//! body), call one app function and return its typed answer; errors are
//! `ApiError`s, rendered in the one envelope by beaver-platform.

mod auth;
mod call;
mod chat;
mod emoji;
mod feedback;
mod files;
mod friend;
mod group;
mod health;
mod moment;
mod notification;
mod track;
mod user;

use crate::AppState;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;

/// Every documented route: each is added with `routes!` from its
/// `#[utoipa::path]` annotation, so routing and the contract are one.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(user::router())
        .merge(auth::router())
        .merge(friend::router())
        .merge(chat::router())
        .merge(group::router())
        .merge(track::router())
        .merge(feedback::router())
        .merge(files::router())
        .merge(emoji::router())
        .merge(notification::router())
        .merge(moment::router())
        .merge(call::router())
}

pub fn router(state: &AppState) -> Router<AppState> {
    let (api, _) = api().split_for_parts();
    api.merge(health::router(state))
}

/// This tier's part of the REST contract (OpenAPI 3.1), finished with the
/// shared envelope, errors and bearer scheme; the gateway serves it merged
/// with query-api's.
pub fn openapi() -> serde_json::Value {
    beaver_platform::openapi::finish(api().into_openapi())
}

#[cfg(test)]
mod tests {
    /// The contract builds, every operation declares its path parameters,
    /// and a copy is left in target/ for review (the full checks are in
    /// tests/tests/openapi.rs).
    #[test]
    fn the_contract_builds() {
        let doc = super::openapi();
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(concat!("../target/openapi-", env!("CARGO_PKG_NAME"), ".json"));
        let problems = beaver_platform::openapi::write_and_check(&doc, &out);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
