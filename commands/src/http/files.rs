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
};
use beaver_platform::{
    http::{ApiError, ApiJson, ApiPath},
    openapi::Envelope,
};
use beaver_writemodel::domain::files::{Initiate, PART_SIZE};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouterExt},
    routes,
};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(initiate))
        // One byte over a part, so that a larger body is read far enough to be refused as such.
        .routes(routes!(put_part).layer(DefaultBodyLimit::max(PART_SIZE as usize + 1)))
        .routes(routes!(complete))
        .routes(routes!(abort))
        .routes(routes!(remove))
}

/// A file id from the path; a malformed one names nothing: 404.
fn file_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound("no such file".into()))
}

/// Starts a resumable upload: the server fixes the part size and count.
#[utoipa::path(post, path = "/api/file/uploads", tag = "files", operation_id = "file_upload_initiate", request_body = Initiate,
    responses(
        (status = 201, description = "The upload, open for 24 h; send its parts next.", body = Envelope<app::Initiated>),
        (status = 413, description = "`too_large`: `size` is over the purpose's cap (chat 100 MiB; moment, feedback, log 20 MiB; avatar 5 MiB; emoji 2 MiB); or `payload_too_large`: the body is larger than 64 KiB."),
        (status = 422, description = "`invalid_field` naming `name`, `size`, `purpose` or `content_hash` (missing or not acceptable)."),
        (status = 429, description = "`too_many_requests`: the caller has 20 uploads open (`data.retry_after`: 60)."),
    ))]
async fn initiate(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<Initiate>) -> Result<Created<app::Initiated>, ApiError> {
    app::initiate(&s, &origin, req).await
}

/// Sends (or sends again, replacing it) one part of an upload, as raw bytes.
///
/// Every part but the last is exactly `part_size` (8,388,608) bytes, the
/// last is the rest. The body is read as it is, whatever its `Content-Type`.
/// This is the only route that takes a body over 64 KiB (the gateway lets
/// up to 9 MiB through).
#[utoipa::path(put, path = "/api/file/uploads/{file_id}/parts/{part_no}", tag = "files", operation_id = "file_upload_put_part",
    request_body(content = PartBytes, content_type = "application/octet-stream",
        description = "The part's bytes (any `Content-Type` is accepted): exactly `part_size` bytes, or the rest for the last part."),
    params(
        ("file_id" = Uuid, Path, description = "The upload's id (a malformed one is 404)."),
        ("part_no" = u32, Path, minimum = 1, description = "The part's number, from 1 to `part_count` (anything else is 422)."),
    ),
    responses(
        (status = 200, description = "The staged part, with the SHA-256 (hex) of its bytes.", body = Envelope<app::PartAnswer>),
        (status = 404, description = "`not_found`: no such upload, or someone else's."),
        (status = 410, description = "`gone`: the upload was completed, aborted or has expired."),
        (status = 413, description = "`payload_too_large`: the body is larger than `part_size` (from the gateway: larger than 9 MiB)."),
        (status = 422, description = "`invalid_field` naming `part_no` (not a number, or outside 1..=`part_count`); `wrong_part_size`: not the size this part must have."),
    ))]
async fn put_part(State(s): State<AppState>, origin: Origin, ApiPath((id, n)): ApiPath<(String, String)>, body: Result<Bytes, BytesRejection>) -> Answer<app::PartAnswer> {
    let file_id = file_id(&id)?;
    let part_no = n.parse::<u32>().map_err(|_| ApiError::invalid("part_no", "part_no must be a positive number"))?;
    let body = body.map_err(|e| if e.status() == StatusCode::PAYLOAD_TOO_LARGE { ApiError::PayloadTooLarge } else { ApiError::BadRequest(e.body_text()) })?;
    app::put_part(&s, &origin, file_id, part_no, body).await
}

/// A part's bytes, as they are (only for the REST contract: the handler reads the raw body).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, as = files::PartBytes)]
#[allow(dead_code)]
struct PartBytes(Vec<u8>);

/// The body of `complete`: optional, as are its fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Complete {
    /// `hex(sha256(join(",", hex(sha256(part_i)))))` over the parts in
    /// order, checked against the parts when given.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    content_hash: Option<String>,
}

/// Completes an upload: joins its parts, sniffs the type, decodes images, stores the file.
///
/// Completing a stored upload again answers the same file.
#[utoipa::path(post, path = "/api/file/uploads/{file_id}/complete", tag = "files", operation_id = "file_upload_complete",
    request_body(content = Option<Complete>, content_type = "application/json",
        description = "Optional: no body (or only white space), `{}` or `{\"content_hash\": …}`, read as JSON whatever its `Content-Type` (anything else, `null` too, is 422 naming `body`)."),
    params(("file_id" = Uuid, Path, description = "The upload's id (a malformed one is 404).")),
    responses(
        (status = 200, description = "The stored file (also when completed before).", body = Envelope<app::StoredAnswer>),
        (status = 404, description = "`not_found`: no such upload, or someone else's."),
        (status = 409, description = "`missing_parts`: some parts were never sent; their numbers are in `data.missing`."),
        (status = 410, description = "`gone`: the upload was aborted or has expired, or its stored file was deleted."),
        (status = 422, description = "`hash_mismatch`: the given (or announced) `content_hash` is not the parts'; `unsupported_type`: the content is not acceptable for the purpose (avatar and emoji: JPEG, PNG, GIF or WebP; moment: such an image or a video) or an image cannot be decoded — the upload stays open; `image_too_large`: an image over 16,384 px a side; `invalid_field` naming `body`: the body is not the JSON above."),
    ))]
async fn complete(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<String>, body: Bytes) -> Answer<app::StoredAnswer> {
    let file_id = file_id(&id)?;
    let req: Complete = if body.iter().all(u8::is_ascii_whitespace) {
        Complete::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid("body", e.to_string()))?
    };
    app::complete(&s, &origin, file_id, req.content_hash).await
}

/// Gives an open upload up; its staged parts are deleted.
#[utoipa::path(delete, path = "/api/file/uploads/{file_id}", tag = "files", operation_id = "file_upload_abort",
    params(("file_id" = Uuid, Path, description = "The upload's id (a malformed one is 404).")),
    responses(
        (status = 200, body = Envelope<app::Aborted>),
        (status = 404, description = "`not_found`: no such upload, or someone else's."),
        (status = 410, description = "`gone`: the upload was completed, aborted or has expired."),
    ))]
async fn abort(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<String>) -> Answer<app::Aborted> {
    app::abort(&s, &origin, file_id(&id)?).await
}

/// Deletes one of the caller's stored files; afterwards it is 404 for everyone.
#[utoipa::path(delete, path = "/api/file/{file_id}", tag = "files", operation_id = "file_delete",
    params(("file_id" = Uuid, Path, description = "The file's id (a malformed one is 404).")),
    responses(
        (status = 200, body = Envelope<app::Deleted>),
        (status = 404, description = "`not_found`: no such stored file, someone else's, or already deleted."),
    ))]
async fn remove(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<String>) -> Answer<app::Deleted> {
    app::delete(&s, &origin, file_id(&id)?).await
}
