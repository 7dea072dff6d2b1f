//! `POST /api/user/register`, `PUT /api/user/profile`, `PATCH /api/user/settings`.

use crate::{
    app::{settings, user as app, Answer, Origin},
    AppState,
};
use axum::{extract::State, Extension};
use beaver_platform::{
    http::{ApiJson, CorrelationId},
    openapi::Envelope,
};
use beaver_writemodel::domain::user::{RegisterUser, UpdateProfile};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(update_profile))
        .routes(routes!(patch_settings))
}

/// Creates an account (no token needed); log in afterwards for tokens.
#[utoipa::path(post, path = "/api/user/register", tag = "accounts", operation_id = "user_register", request_body = RegisterUser,
    security(()),
    responses(
        (status = 200, description = "The new account.", body = Envelope<app::Registered>),
        (status = 409, description = "`username_taken`, `email_taken` or `phone_taken`."),
        (status = 422, description = "`invalid_field`: `username`, `password`, `nickname`, `email` or `phone`."),
    ))]
async fn register(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, ApiJson(req): ApiJson<RegisterUser>) -> Answer<app::Registered> {
    app::register(&s, c.0, req).await
}

/// Changes the caller's public profile (any subset of its fields).
#[utoipa::path(put, path = "/api/user/profile", tag = "accounts", operation_id = "user_update_profile", request_body = UpdateProfile,
    responses(
        (status = 200, description = "The profile after the change (unchanged fields included).", body = Envelope<app::Profile>),
        (status = 404, description = "The caller's account is not in the read model (`not_found`)."),
        (status = 422, description = "`invalid_field`: `nickname`, `avatar` (not an http(s) URL or absolute path, or a file that is not one of the caller's own stored images), `signature`, or `body` (no field given, an unknown field, a mistyped value or an unknown `gender`)."),
    ))]
async fn update_profile(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<UpdateProfile>) -> Answer<app::Profile> {
    app::update_profile(&s, &origin, req).await
}

/// Changes the caller's settings with a JSON merge patch (RFC 7396).
///
/// Objects merge, a value replaces, `null` puts the default back; the
/// answer is the whole new document. Every refusal is 422 `invalid_field`
/// with `data.field` the JSON path (`privacy.friend_requests`,
/// `notifications.do_not_disturb.time_zone`, `body` when the patch is not an
/// object), and changes nothing. A patch that changes nothing appends
/// nothing (docs/services.md, "Settings").
#[utoipa::path(patch, path = "/api/user/settings", tag = "accounts", operation_id = "user_patch_settings",
    request_body(
        description = "A JSON merge patch of the settings document: any part of `privacy`, `notifications`, `client` (no other keys outside `client`).",
        content(
            (Object = "application/merge-patch+json"),
            (Object = "application/json"),
        ),
    ),
    responses(
        (status = 200, description = "The whole new document.", body = Envelope<settings::Document>),
        (status = 422, description = "`invalid_field`, `data.field` the JSON path of the refused value (`body` if the patch is not an object); nothing is changed."),
    ))]
async fn patch_settings(State(s): State<AppState>, origin: Origin, ApiJson(patch): ApiJson<serde_json::Value>) -> Answer<settings::Document> {
    settings::patch(&s, &origin, patch).await
}
