//! `/api/moment…` writes: posting, deleting, likes, comments
//! (docs/services.md, "Moments").

use crate::{
    app::{moment as app, Answer, Created, Origin},
    AppState,
};
use axum::extract::State;
use beaver_platform::{
    http::{ApiError, ApiJson, ApiPath},
    openapi::Envelope,
};
use beaver_writemodel::domain::moment::{CommentRequest, PostRequest};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(remove))
        .routes(routes!(like))
        .routes(routes!(unlike))
        .routes(routes!(comment))
        .routes(routes!(remove_comment))
}

/// An id from the path; a malformed one names nothing: 404.
fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound("moment not found".into()))
}

/// Posts a moment (text and up to nine of the caller's photos or videos) to their friends, or some of them.
#[utoipa::path(post, path = "/api/moment", tag = "moments", operation_id = "moment_post", request_body = PostRequest,
    responses(
        (status = 201, description = "The new moment's id (a UUIDv7) and time.", body = Envelope<app::Posted>),
        (status = 422, description = "`invalid_field` naming `text` (too long, control characters, or neither text nor media), `media` (not the caller's own stored images or videos, or more than nine), `visibility` or `users` (not the caller's friends, missing for `selected`/`except`, or given for `friends`/`private`)."),
    ))]
async fn create(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<PostRequest>) -> Result<Created<app::Posted>, ApiError> {
    app::post(&s, &origin, req).await
}

/// Deletes one of the caller's moments.
#[utoipa::path(delete, path = "/api/moment/{moment_id}", tag = "moments", operation_id = "moment_delete",
    params(("moment_id" = Uuid, Path, description = "The moment's id.")),
    responses(
        (status = 200, body = Envelope<app::Deleted>),
        (status = 404, description = "`not_found`: not the caller's, already deleted, unknown (or a malformed id)."),
    ))]
async fn remove(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Deleted> {
    app::delete(&s, &origin, id(&raw)?).await
}

/// Likes a moment the caller may see; idempotent (no second notification).
#[utoipa::path(put, path = "/api/moment/{moment_id}/like", tag = "moments", operation_id = "moment_like",
    params(("moment_id" = Uuid, Path, description = "The moment's id.")),
    responses(
        (status = 200, description = "`liked: true`.", body = Envelope<app::Liked>),
        (status = 404, description = "`not_found`: the caller may not see the moment (the same answer as an unknown or deleted one)."),
    ))]
async fn like(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Liked> {
    app::like(&s, &origin, id(&raw)?, true).await
}

/// Takes the caller's like back; idempotent.
#[utoipa::path(delete, path = "/api/moment/{moment_id}/like", tag = "moments", operation_id = "moment_unlike",
    params(("moment_id" = Uuid, Path, description = "The moment's id.")),
    responses(
        (status = 200, description = "`liked: false`.", body = Envelope<app::Liked>),
        (status = 404, description = "`not_found`: the caller may not see the moment (the same answer as an unknown or deleted one)."),
    ))]
async fn unlike(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Liked> {
    app::like(&s, &origin, id(&raw)?, false).await
}

/// Comments on a moment the caller may see, or replies to a comment on it.
#[utoipa::path(post, path = "/api/moment/{moment_id}/comments", tag = "moments", operation_id = "moment_comment", request_body = CommentRequest,
    params(("moment_id" = Uuid, Path, description = "The moment's id.")),
    responses(
        (status = 201, description = "The new comment's id and time.", body = Envelope<app::Commented>),
        (status = 404, description = "`not_found`: the caller may not see the moment, or `reply_to` is not a comment of this moment the caller can see (or not an id)."),
        (status = 422, description = "`invalid_field` naming `text`."),
    ))]
async fn comment(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>, ApiJson(req): ApiJson<CommentRequest>) -> Result<Created<app::Commented>, ApiError> {
    app::comment(&s, &origin, id(&raw)?, req).await
}

/// Deletes a comment: by its writer, or by the moment's author.
#[utoipa::path(delete, path = "/api/moment/{moment_id}/comments/{comment_id}", tag = "moments", operation_id = "moment_delete_comment",
    params(
        ("moment_id" = Uuid, Path, description = "The moment's id."),
        ("comment_id" = Uuid, Path, description = "The comment's id."),
    ),
    responses(
        (status = 200, body = Envelope<app::CommentDeleted>),
        (status = 404, description = "`not_found`: no such comment on this moment, already deleted, the moment deleted, or the caller is neither its writer nor the moment's author."),
    ))]
async fn remove_comment(State(s): State<AppState>, origin: Origin, ApiPath((m, c)): ApiPath<(String, String)>) -> Answer<app::CommentDeleted> {
    let comment = Uuid::try_parse(&c).map_err(|_| ApiError::NotFound("comment not found".into()))?;
    app::delete_comment(&s, &origin, id(&m)?, comment).await
}
