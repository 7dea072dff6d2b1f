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
    routing::get,
    Router,
};
use beaver_platform::{
    auth::{bearer, AuthUser},
    http::{ok, ApiError, ApiPath, ApiQuery},
};
use beaver_readmodel::files::{self as read, FileRow};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/file/uploads/{file_id}", get(status))
        .route("/api/file/{file_id}", get(download))
        .route("/api/file/{file_id}/info", get(info))
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

#[derive(Debug, Serialize)]
struct UploadStatus {
    file_id: String,
    status: String,
    name: String,
    size: i64,
    purpose: String,
    part_size: i64,
    part_count: i32,
    parts: Vec<read::Part>,
    expires_at: String,
}

async fn status(State(s): State<AppState>, user: AuthUser, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    let id = file_id(&id)?;
    let row = read::load(&s.pool, id).await?.filter(|r| r.owned_by(user.user_id)).ok_or_else(not_found)?;
    let expired = row.status == "uploading" && row.expires_at.assume_utc() < time::OffsetDateTime::now_utc();
    let status = match row.status.as_str() {
        "uploading" if expired => "expired".to_owned(),
        "deleted" => "stored".to_owned(),
        other => other.to_owned(),
    };
    let parts = if row.status == "uploading" { read::parts(&s.pool, id).await? } else { vec![] };
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
#[derive(Debug, Serialize)]
struct Info {
    file_id: String,
    url: String,
    thumb_url: Option<String>,
    name: String,
    size: i64,
    mime: Option<String>,
    kind: Option<String>,
    width: Option<i32>,
    height: Option<i32>,
    content_hash: Option<String>,
    owner_id: String,
    created_at: String,
}

async fn stored(s: &AppState, id: Uuid) -> Result<FileRow, ApiError> {
    read::load(&s.pool, id).await?.filter(|r| r.status == "stored").ok_or_else(not_found)
}

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

#[derive(Debug, Deserialize)]
struct DownloadQuery {
    thumb: Option<String>,
    access_token: Option<String>,
}

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
