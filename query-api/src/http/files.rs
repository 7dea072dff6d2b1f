//! `/api/file/…` reads: an upload's status (for resuming), a stored file's
//! info, and downloads streamed from the object store with Range support
//! (docs/services.md, "Files and uploads"). A download authenticates by
//! bearer header or `?access_token=` (for `<img src>`); any signed-in user
//! holding a file's random id may read it.

use crate::AppState;
use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use beaver_platform::{
    auth::{bearer, AuthUser},
    http::{ok, ApiError, ApiPath, ApiQuery},
    openapi::Envelope,
};
use beaver_readmodel::files::{self as read, FileRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(download))
        .routes(routes!(info))
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such file".into())
}

fn file_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| not_found())
}

fn rfc3339(t: time::PrimitiveDateTime) -> String {
    beaver_readmodel::rfc3339(t)
}

/// An upload as its owner resumes it.
#[derive(Debug, Serialize, ToSchema)]
struct UploadStatus {
    file_id: String,
    /// `uploading`, `stored`, `aborted` or `expired` (a stored file deleted since still reads `stored`).
    status: String,
    name: String,
    /// Bytes.
    size: i64,
    /// `chat`, `moment`, `feedback`, `log`, `avatar` or `emoji`.
    purpose: String,
    /// Bytes per part (the last part is the rest).
    part_size: i64,
    part_count: i32,
    /// The parts received so far, in order (empty unless `uploading`).
    parts: Vec<read::Part>,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// Reads an upload's progress, to resume it.
#[utoipa::path(get, path = "/api/file/uploads/{file_id}", tag = "files",
    params(("file_id" = Uuid, Path, description = "The upload's id.")),
    responses(
        (status = 200, description = "The upload and its received parts.", body = Envelope<UploadStatus>),
        (status = 404, description = "`not_found`: no such upload, or another user's."),
    ))]
async fn status(State(s): State<AppState>, user: AuthUser, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    let id = file_id(&id)?;
    let row = read::load(&s.pool, id).await?.filter(|r| r.owned_by(user.user_id)).ok_or_else(not_found)?;
    let expired = row.status == "uploading" && row.expires_at.assume_utc() < time::OffsetDateTime::now_utc();
    let status = match row.status.as_str() {
        "uploading" if expired => "expired".to_owned(),
        "deleted" => "stored".to_owned(),
        other => other.to_owned(),
    };
    // An upload past its expiry reads `expired` before the sweeper's
    // `UploadAborted` is projected; it lists no parts either way.
    let parts = if status == "uploading" { read::parts(&s.pool, id).await? } else { vec![] };
    Ok(ok(UploadStatus {
        file_id: row.file_id,
        status,
        name: row.name,
        size: row.size,
        purpose: row.purpose,
        part_size: row.part_size,
        part_count: row.part_count,
        parts,
        expires_at: rfc3339(row.expires_at),
    }))
}

/// A stored file as `info` shows it (what `complete` answered, plus owner and time).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = files::Info)]
struct Info {
    file_id: String,
    /// `/api/file/<file_id>`.
    url: String,
    /// `/api/file/<file_id>?thumb=1` for images with a thumbnail, else `null`.
    thumb_url: Option<String>,
    name: String,
    /// Bytes.
    size: i64,
    /// Sniffed from the bytes (`application/octet-stream` when unknown).
    mime: Option<String>,
    /// `image`, `video`, `audio` or `file`.
    kind: Option<String>,
    /// Pixels, for decoded images; else `null`.
    width: Option<i32>,
    height: Option<i32>,
    /// Hex SHA-256 of the parts' hex SHA-256s joined by commas.
    content_hash: Option<String>,
    owner_id: String,
    #[schema(format = DateTime)]
    created_at: String,
}

async fn stored(s: &AppState, id: Uuid) -> Result<FileRow, ApiError> {
    read::load(&s.pool, id).await?.filter(|r| r.status == "stored").ok_or_else(not_found)
}

/// Reads a stored file's facts (any signed-in user holding its id).
#[utoipa::path(get, path = "/api/file/{file_id}/info", tag = "files",
    params(("file_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The stored file.", body = Envelope<Info>),
        (status = 404, description = "`not_found`: no such file, or it is unfinished, aborted or deleted."),
    ))]
async fn info(State(s): State<AppState>, _user: AuthUser, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    let row = stored(&s, file_id(&id)?).await?;
    let url = format!("/api/file/{}", row.file_id);
    Ok(ok(Info {
        thumb_url: row.thumb_key.as_ref().map(|_| format!("{url}?thumb=1")),
        url,
        file_id: row.file_id,
        name: row.name,
        size: row.size,
        mime: row.mime,
        kind: row.kind,
        width: row.width,
        height: row.height,
        content_hash: row.content_hash,
        owner_id: row.owner_id,
        created_at: rfc3339(row.created_at),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DownloadQuery {
    /// `1` or `true`: the JPEG thumbnail (at most 320 px a side) instead of the file; any other value: the file.
    #[param(example = "1")]
    thumb: Option<String>,
    /// An access token, for clients that cannot send the `Authorization` header (`<img src>`);
    /// the header wins when both are given.
    access_token: Option<String>,
}

/// The bytes of a download (documentation only: they are streamed).
#[derive(ToSchema)]
#[schema(as = files::Bytes, value_type = String, format = Binary)]
#[allow(dead_code)]
struct Bytes(Vec<u8>);

/// A `Range: bytes=…` header against `size`: `None` for the whole file,
/// `Err(())` when unsatisfiable (or not one byte range).
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(raw) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let spec = raw.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') || size == 0 {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().map_err(|_| ())?, size - 1),
        (a, b) => (a.parse().map_err(|_| ())?, b.parse::<u64>().map_err(|_| ())?.min(size - 1)),
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

fn quoted(name: &str) -> String {
    name.chars().map(|c| if c == '"' || c == '\\' || !c.is_ascii() || c.is_ascii_control() { '_' } else { c }).collect()
}

/// Downloads a stored file (or its thumbnail), whole or one byte range.
///
/// Any signed-in user holding the file's id may read it. The token comes by the
/// `Authorization: Bearer` header or, for `<img src>`, by `?access_token=`.
/// The bytes are streamed with `Content-Type` = the sniffed MIME type (`image/jpeg`
/// for a thumbnail; content a browser would run — HTML, XHTML, XML, SVG,
/// JavaScript — and unknown content as `application/octet-stream`). There are
/// no conditional requests (`ETag`, `If-None-Match`, `If-Range` are not used);
/// errors are JSON envelopes.
#[utoipa::path(get, path = "/api/file/{file_id}", tag = "files",
    params(
        ("file_id" = Uuid, Path),
        DownloadQuery,
        ("Range" = Option<String>, Header, description = "One byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n` (an end past the file is the end). Anything else — several ranges, another unit, a malformed or unsatisfiable range — is 416."),
    ),
    responses(
        (status = 200, description = "The whole file.", content_type = "*/*", body = inline(Bytes),
            headers(
                ("Content-Length" = u64, description = "The file's size."),
                ("Accept-Ranges" = String, description = "`bytes`."),
                ("Cache-Control" = String, description = "`private, max-age=86400`."),
                ("X-Content-Type-Options" = String, description = "`nosniff`."),
                ("Content-Disposition" = String, description = "`inline` for images, audio and video, else `attachment; filename=\"<name>\"` (non-ASCII and control characters, `\"` and `\\` replaced by `_`)."),
            )),
        (status = 206, description = "The requested range.", content_type = "*/*", body = inline(Bytes),
            headers(
                ("Content-Range" = String, description = "`bytes <first>-<last>/<size>`."),
                ("Content-Length" = u64, description = "The range's length."),
                ("Accept-Ranges" = String, description = "`bytes`."),
                ("Cache-Control" = String, description = "`private, max-age=86400`."),
                ("X-Content-Type-Options" = String, description = "`nosniff`."),
                ("Content-Disposition" = String, description = "As for 200."),
            )),
        (status = 401, description = "`unauthorized`: no valid token, neither in the header nor in `access_token`."),
        (status = 404, description = "`not_found`: no such file, or it is unfinished, aborted or deleted; or `thumb` was asked of a file without a thumbnail."),
        (status = 416, description = "`range_not_satisfiable`: the range is malformed, starts past the end, is not one range, or the file is empty.",
            headers(("Content-Range" = String, description = "`bytes */<size>`."))),
    ))]
async fn download(State(s): State<AppState>, headers: HeaderMap, ApiPath(id): ApiPath<String>, ApiQuery(q): ApiQuery<DownloadQuery>) -> Result<Response, ApiError> {
    // The bearer header, else the query's token (an <img src> cannot send headers).
    let token = bearer(&headers).map(str::to_owned).or(q.access_token).ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
    s.auth.verify(&token).await.map_err(ApiError::from)?;
    let row = stored(&s, file_id(&id)?).await?;
    let thumb = q.thumb.as_deref().is_some_and(|t| t == "1" || t == "true");
    let (key, mime, name) = if thumb {
        let key = row.thumb_key.clone().ok_or_else(|| ApiError::NotFound("this file has no thumbnail".into()))?;
        (key, "image/jpeg".to_owned(), format!("{}.thumb.jpg", row.name))
    } else {
        (row.blob_key.clone().ok_or_else(not_found)?, row.mime.clone().unwrap_or_else(|| "application/octet-stream".into()), row.name.clone())
    };
    // Content a browser would run (HTML, XML, SVG, scripts) is never served
    // as its own type, whatever else protects it.
    let active = ["text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "application/javascript", "text/javascript"];
    let mime = if active.contains(&mime.as_str()) { "application/octet-stream".to_owned() } else { mime };
    let size = s.files.size(&key).await.map_err(|e| ApiError::Unavailable(e.into()))?.ok_or_else(not_found)?;
    let inline = matches!(beaver_writemodel::domain::files::kind_of(&mime), "image" | "audio" | "video") && mime != "image/svg+xml";
    let disposition = if inline { "inline".to_owned() } else { format!("attachment; filename=\"{}\"", quoted(&name)) };
    let (status, start, end) = match range(&headers, size) {
        Ok(None) => (StatusCode::OK, 0, size.saturating_sub(1)),
        Ok(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Err(()) => {
            let mut r = ApiError::RangeNotSatisfiable(format!("the file has {size} bytes")).into_response();
            r.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"));
            return Ok(r);
        }
    };
    let length = if size == 0 { 0 } else { end - start + 1 };
    let body = if length == 0 {
        Body::empty()
    } else {
        Body::from_stream(s.files.stream(&key, start..end + 1).await.map_err(|e| ApiError::Unavailable(e.into()))?)
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&mime).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")).expect("ascii"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
        range(&h, size)
    }

    #[test]
    fn byte_ranges_are_read_as_rfc_9110_says() {
        assert_eq!(r("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(r("bytes=90-200", 100), Ok(Some((90, 99))), "an end past the file is the end");
        assert_eq!(r("bytes=-5", 100), Ok(Some((95, 99))));
        assert_eq!(r("bytes=-500", 100), Ok(Some((0, 99))));
        assert_eq!(r("bytes=95-", 100), Ok(Some((95, 99))));
        assert_eq!(r("bytes=100-", 100), Err(()));
        assert_eq!(r("bytes=5-2", 100), Err(()));
        assert_eq!(r("bytes=0-1,3-4", 100), Err(()));
        assert_eq!(r("items=0-1", 100), Err(()));
        assert_eq!(range(&HeaderMap::new(), 100), Ok(None));
    }
}
