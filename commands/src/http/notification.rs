//! `/api/notification/…` writes: marking read, deleting, push tokens
//! (docs/services.md, "Notifications").

use crate::{
    app::{notification as app, Answer, Origin},
    AppState,
};
use axum::extract::State;
use beaver_platform::{
    http::{ApiError, ApiJson, ApiPath},
    openapi::Envelope,
};
use beaver_writemodel::domain::notification::{ReadRequest, RegisterRequest};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read))
        .routes(routes!(register))
        .routes(routes!(revoke))
        .routes(routes!(remove))
}

/// Marks inbox items read: all, a category, every item up to a position, or some ids.
///
/// Exactly one of the four selectors. Marking read items again changes nothing.
#[utoipa::path(post, path = "/api/notification/read", tag = "notifications", operation_id = "notification_read", request_body = ReadRequest,
    responses(
        (status = 200, description = "The unread counts after the change.", body = Envelope<app::ReadAnswer>),
        (status = 404, description = "`not_found`: some of `ids` are unknown, deleted or another user's; nothing is marked."),
        (status = 422, description = "`invalid_field` naming `all` (none or several selectors, or not `true`), `category`, `up_to` or `ids`."),
    ))]
async fn read(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<ReadRequest>) -> Answer<app::ReadAnswer> {
    app::read(&s, &origin, req).await
}

/// Deletes one of the caller's inbox items.
#[utoipa::path(delete, path = "/api/notification/{notification_id}", tag = "notifications", operation_id = "notification_delete",
    params(("notification_id" = Uuid, Path, description = "The item's id.")),
    responses(
        (status = 200, body = Envelope<app::Deleted>),
        (status = 404, description = "`not_found`: unknown, another user's or already deleted (or a malformed id)."),
    ))]
async fn remove(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Deleted> {
    // A malformed id names nothing: 404.
    let id = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("notification not found".into()))?;
    app::delete(&s, &origin, id).await
}

/// Registers the push token of the calling session's device (replacing the device's earlier one).
#[utoipa::path(post, path = "/api/notification/push-tokens", tag = "notifications", operation_id = "notification_register_push_token", request_body = RegisterRequest,
    responses(
        (status = 200, body = Envelope<app::Registered>),
        (status = 422, description = "`invalid_field` naming `device_id`, `platform` or `token`."),
    ))]
async fn register(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<RegisterRequest>) -> Answer<app::Registered> {
    app::register(&s, &origin, req).await
}

/// Removes the caller's push token of a device.
#[utoipa::path(delete, path = "/api/notification/push-tokens/{device_id}", tag = "notifications", operation_id = "notification_revoke_push_token",
    params(("device_id" = String, Path, description = "1 to 64 of `A-Z a-z 0-9 . _ : -`.")),
    responses(
        (status = 200, body = Envelope<app::Revoked>),
        (status = 404, description = "`not_found`: the caller has no token for this device (or the id is malformed)."),
    ))]
async fn revoke(State(s): State<AppState>, origin: Origin, ApiPath(device_id): ApiPath<String>) -> Answer<app::Revoked> {
    app::revoke(&s, &origin, &device_id).await
}
