//! `/api/file/…` writes: the upload protocol and deleting a stored file
//! (docs/services.md, "Files and uploads"). Reads (status, info, downloads)
//! are query-api's. Only the part route takes bodies over the usual 64 KiB.

use crate::{
    app::{files as app, Answer, Created, Origin},
    AppState,
};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, State},
    http::StatusCode,
    routing::{delete, post, put},
    Router,
};
use beaver_platform::http::{ApiError, ApiJson, ApiPath};
use beaver_writemodel::domain::files::{Initiate, PART_SIZE};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/file/uploads", post(initiate))
        .route(
            "/api/file/uploads/{file_id}/parts/{part_no}",
            // One byte over a part, so that a larger body is read far enough to be refused as such.
            put(put_part).layer(DefaultBodyLimit::max(PART_SIZE as usize + 1)),
        )
        .route("/api/file/uploads/{file_id}/complete", post(complete))
        .route("/api/file/uploads/{file_id}", delete(abort))
        .route("/api/file/{file_id}", delete(remove))
}

/// A file id from the path; a malformed one names nothing: 404.
fn file_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound("no such file".into()))
}

async fn initiate(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<Initiate>) -> Result<Created<app::Initiated>, ApiError> {
    app::initiate(&s, &origin, req).await
}

async fn put_part(State(s): State<AppState>, origin: Origin, ApiPath((id, n)): ApiPath<(String, String)>, body: Result<Bytes, BytesRejection>) -> Answer<app::PartAnswer> {
    let file_id = file_id(&id)?;
    let part_no = n.parse::<u32>().map_err(|_| ApiError::invalid("part_no", "part_no must be a positive number"))?;
    let body = body.map_err(|e| if e.status() == StatusCode::PAYLOAD_TOO_LARGE { ApiError::PayloadTooLarge } else { ApiError::BadRequest(e.body_text()) })?;
    app::put_part(&s, &origin, file_id, part_no, body).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Complete {
    content_hash: Option<String>,
}

/// The body is optional: none, `{}` or `{"content_hash": …}`.
async fn complete(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<String>, body: Bytes) -> Answer<app::StoredAnswer> {
    let file_id = file_id(&id)?;
    let req: Complete = if body.iter().all(u8::is_ascii_whitespace) {
        Complete::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid("body", e.to_string()))?
    };
    app::complete(&s, &origin, file_id, req.content_hash).await
}

async fn abort(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<String>) -> Answer<app::Aborted> {
    app::abort(&s, &origin, file_id(&id)?).await
}

async fn remove(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<String>) -> Answer<app::Deleted> {
    app::delete(&s, &origin, file_id(&id)?).await
}
