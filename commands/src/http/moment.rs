//! `/api/moment…` writes: posting, deleting, likes, comments
//! (docs/services.md, "Moments").

use crate::{
    app::{moment as app, Answer, Created, Origin},
    AppState,
};
use axum::{
    extract::State,
    routing::{delete, post, put},
    Router,
};
use beaver_platform::http::{ApiError, ApiJson, ApiPath};
use beaver_writemodel::domain::moment::{CommentRequest, PostRequest};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/moment", post(create))
        .route("/api/moment/{moment_id}", delete(remove))
        .route("/api/moment/{moment_id}/like", put(like).delete(unlike))
        .route("/api/moment/{moment_id}/comments", post(comment))
        .route("/api/moment/{moment_id}/comments/{comment_id}", delete(remove_comment))
}

/// An id from the path; a malformed one names nothing: 404.
fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound("moment not found".into()))
}

async fn create(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<PostRequest>) -> Result<Created<app::Posted>, ApiError> {
    app::post(&s, &origin, req).await
}

async fn remove(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Deleted> {
    app::delete(&s, &origin, id(&raw)?).await
}

async fn like(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Liked> {
    app::like(&s, &origin, id(&raw)?, true).await
}

async fn unlike(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Liked> {
    app::like(&s, &origin, id(&raw)?, false).await
}

async fn comment(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>, ApiJson(req): ApiJson<CommentRequest>) -> Result<Created<app::Commented>, ApiError> {
    app::comment(&s, &origin, id(&raw)?, req).await
}

async fn remove_comment(State(s): State<AppState>, origin: Origin, ApiPath((m, c)): ApiPath<(String, String)>) -> Answer<app::CommentDeleted> {
    let comment = Uuid::try_parse(&c).map_err(|_| ApiError::NotFound("comment not found".into()))?;
    app::delete_comment(&s, &origin, id(&m)?, comment).await
}
