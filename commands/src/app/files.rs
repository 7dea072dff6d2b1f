//! Files and uploads (docs/services.md, "Files and uploads"). The app layer
//! does what the pure rules in `domain::files` cannot: it stages each part
//! in the object store (then appends the fact), and at completion joins the
//! parts into a content-addressed blob, sniffs its type from the bytes and
//! decodes images under limits for their size and a thumbnail (both
//! `beaver_platform::files`, shared with `beaver-admin emoji import`), and
//! appends `FileStored`. A sweeper expires old uploads and
//! deletes blobs no stored file uses.

use super::{Created, Origin, Written};
use crate::AppState;
use beaver_events::{
    files::{AbortReason, FileEvent, FileStored, Purpose, UploadAborted},
    Actor, DomainEvent, Envelope,
};
use beaver_platform::{
    files::{blob_key, decode_image, part_key, sniff, thumb_key, ImageError},
    http::ApiError,
};
use beaver_readmodel::{files as read, progress::FILES_PROJECTOR};
use beaver_writemodel::domain::{
    files::{self as rules, CompleteError, Content, Initiate, InitiateError, StepError, UploadState},
    Ctx,
};
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

/// `POST /api/file/uploads` answers this.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Initiated {
    /// A UUIDv4: holding it is what lets a user read the file.
    pub file_id: Uuid,
    /// Fixed by the server: 8,388,608 bytes.
    pub part_size: u64,
    /// `ceil(size / part_size)`.
    pub part_count: u32,
    /// When the upload expires if not completed (RFC 3339).
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// A staged part.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartAnswer {
    pub part_no: u32,
    /// The part's length in bytes.
    pub size: u64,
    /// The SHA-256 of the part's bytes, in lower-case hex.
    pub sha256: String,
}

/// A stored file, as `complete` (and `info`) answer it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoredAnswer {
    pub file_id: Uuid,
    /// `/api/file/<file_id>`.
    pub url: String,
    /// `/api/file/<file_id>?thumb=1` for decoded images (a JPEG of at most 320 px a side), else `null`.
    pub thumb_url: Option<String>,
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Sniffed from the bytes (never taken from the name or the client); unknown content is `application/octet-stream`.
    pub mime: String,
    /// `image`, `video`, `audio` or `file`.
    pub kind: String,
    /// Pixels, for decoded images; else `null`.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// `hex(sha256(join(",", hex(sha256(part_i)))))` over the parts in order.
    pub content_hash: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Aborted {
    pub file_id: Uuid,
    /// Always `aborted`.
    pub status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = files::Deleted)]
pub struct Deleted {
    pub file_id: Uuid,
    /// Always `true`.
    pub deleted: bool,
}

impl From<FileStored> for StoredAnswer {
    fn from(f: FileStored) -> Self {
        let url = format!("/api/file/{}", f.file_id);
        StoredAnswer {
            file_id: f.file_id,
            thumb_url: f.thumb_key.as_ref().map(|_| format!("{url}?thumb=1")),
            url,
            name: f.name,
            size: f.size,
            mime: f.mime,
            kind: f.kind,
            width: f.width,
            height: f.height,
            content_hash: f.content_hash,
        }
    }
}

/// A stored file's row as `complete` answers it (a repeated completion).
fn stored_answer(file_id: Uuid, state: &UploadState, row: &read::FileRow) -> StoredAnswer {
    StoredAnswer::from(FileStored {
        file_id,
        owner_id: state.owner_id,
        name: row.name.clone(),
        size: row.size.max(0) as u64,
        purpose: state.purpose,
        mime: row.mime.clone().unwrap_or_default(),
        kind: row.kind.clone().unwrap_or_default(),
        content_hash: row.content_hash.clone().unwrap_or_default(),
        blob_key: row.blob_key.clone().unwrap_or_default(),
        width: row.width.map(|w| w as u32),
        height: row.height.map(|h| h as u32),
        thumb_key: row.thumb_key.clone(),
    })
}

fn step_error(e: StepError) -> ApiError {
    match e {
        StepError::NotFound => ApiError::NotFound("no such upload".into()),
        StepError::Gone => ApiError::Gone("the upload was completed, aborted or has expired".into()),
        StepError::TooLarge => ApiError::PayloadTooLarge,
        StepError::Rule(e) => e.into(),
    }
}

fn purpose_of(name: &str) -> Result<Purpose, ApiError> {
    rules::purpose(name).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a stored upload with an unknown purpose {name:?}")))
}

async fn upload_state(s: &AppState, file_id: Uuid) -> Result<(Option<UploadState>, Option<read::FileRow>), ApiError> {
    let Some(row) = read::load(&s.pool, file_id).await? else { return Ok((None, None)) };
    let now = time::OffsetDateTime::now_utc();
    let state = UploadState {
        file_id,
        owner_id: Uuid::try_parse(&row.owner_id).map_err(|e| ApiError::Internal(e.into()))?,
        name: row.name.clone(),
        size: row.size.max(0) as u64,
        purpose: purpose_of(&row.purpose)?,
        part_count: row.part_count.max(0) as u32,
        status: row.status.clone(),
        expired: row.expires_at.assume_utc() < now,
        expected_hash: row.expected_hash.clone(),
    };
    Ok((Some(state), Some(row)))
}

fn envelope(event: FileEvent, origin: &Origin) -> Envelope<FileEvent> {
    Envelope::new(event, Actor::User(origin.actor), origin.correlation.clone(), None)
}

/// Appends and waits until the files projection shows it.
async fn append_visible(s: &AppState, origin: &Origin, event: FileEvent) -> Result<bool, ApiError> {
    let position = s.append(&envelope(event, origin)).await?;
    s.visible(FILES_PROJECTOR, FileEvent::TOPIC, position).await
}

/// `POST /api/file/uploads`.
pub async fn initiate(s: &AppState, origin: &Origin, req: Initiate) -> Result<Created<Initiated>, ApiError> {
    let open = read::open_uploads(&s.pool, origin.actor).await?;
    let ttl = time::Duration::seconds(s.config.upload_ttl_secs.min(i64::MAX as u64) as i64);
    let event = match rules::decide_initiate(req, open, ttl, &Ctx::live(origin.actor), Uuid::new_v4()) {
        Ok(e) => e,
        Err(InitiateError::TooLarge { cap }) => return Err(ApiError::TooLarge(format!("at most {cap} bytes for this purpose"))),
        Err(InitiateError::TooMany) => return Err(ApiError::TooManyRequests { retry_after_secs: 60 }),
        Err(InitiateError::Rule(e)) => return Err(e.into()),
    };
    let FileEvent::UploadInitiated(u) = &event else { unreachable!("initiate decides an initiation") };
    let answer = Initiated {
        file_id: u.file_id,
        part_size: u.part_size,
        part_count: u.part_count,
        expires_at: u.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    };
    let visible = append_visible(s, origin, event).await?;
    Ok(Created { visible, repeat: false, data: answer })
}

/// `PUT /api/file/uploads/{id}/parts/{n}`: the bytes are staged first (a
/// part sent again overwrites them), then the fact is appended.
pub async fn put_part(s: &AppState, origin: &Origin, file_id: Uuid, part_no: u32, body: Bytes) -> Result<Written<PartAnswer>, ApiError> {
    let (state, _) = upload_state(s, file_id).await?;
    let sha256 = hex::encode(Sha256::digest(&body));
    let event = rules::decide_part(state.as_ref(), part_no, body.len() as u64, sha256.clone(), &Ctx::live(origin.actor)).map_err(step_error)?;
    let size = body.len() as u64;
    s.files.put(&part_key(file_id, part_no), body).await.map_err(|e| ApiError::Unavailable(e.into()))?;
    let visible = append_visible(s, origin, event).await?;
    Ok(Written::new(visible, PartAnswer { part_no, size, sha256 }))
}

/// Sniffs, checks and (for images) decodes the stored blob.
async fn examine(s: &AppState, purpose: Purpose, blob: &str, content_hash: &str) -> Result<Content, ApiError> {
    let bytes = s.files.get(blob).await.map_err(|e| ApiError::Unavailable(e.into()))?;
    let mime = sniff(&bytes);
    rules::check_purpose(purpose, &mime)?;
    if !rules::DECODED_IMAGES.contains(&mime.as_str()) {
        return Ok(Content { mime, width: None, height: None, thumb_key: None });
    }
    let decoded = tokio::task::spawn_blocking(move || decode_image(&bytes, rules::MAX_IMAGE_SIDE)).await.map_err(|e| ApiError::Internal(e.into()))?;
    match decoded {
        Ok(image) => {
            let key = thumb_key(content_hash);
            s.files.put(&key, image.thumbnail.into()).await.map_err(|e| ApiError::Unavailable(e.into()))?;
            Ok(Content { mime, width: Some(image.width), height: Some(image.height), thumb_key: Some(key) })
        }
        Err(ImageError::TooLarge(_)) => Err(ApiError::Unprocessable { kind: "image_too_large", message: format!("images may be at most {} px a side", rules::MAX_IMAGE_SIDE) }),
        Err(e @ ImageError::Undecodable(_)) => Err(ApiError::Unprocessable { kind: "unsupported_type", message: e.to_string() }),
    }
}

/// `POST /api/file/uploads/{id}/complete`.
pub async fn complete(s: &AppState, origin: &Origin, file_id: Uuid, claimed: Option<String>) -> Result<Written<StoredAnswer>, ApiError> {
    let (state, row) = upload_state(s, file_id).await?;
    // Completing again answers the stored file (idempotent).
    if let (Some(st), Some(row)) = (&state, &row) {
        if st.owner_id == origin.actor && st.status == "stored" {
            return Ok(Written::new(true, stored_answer(file_id, st, row)));
        }
    }
    let parts = read::parts(&s.pool, file_id).await?;
    let staged: Vec<(u32, String)> = parts.iter().map(|p| (p.part_no.max(0) as u32, p.sha256.clone())).collect();
    let hash = match rules::check_complete(state.as_ref(), &staged, claimed.as_deref(), &Ctx::live(origin.actor)) {
        Ok(h) => h,
        Err(CompleteError::Step(e)) => return Err(step_error(e)),
        Err(CompleteError::Missing(missing)) => return Err(ApiError::MissingParts { missing }),
    };
    let state = state.expect("checked: an open upload");
    let blob = blob_key(&hash);
    // The caller's own earlier copy, or these bytes already stored (by anyone:
    // storage is shared silently, nothing in the answer says so).
    let content = match read::own_copy(&s.pool, origin.actor, &hash).await? {
        Some(copy) if s.files.size(&blob).await.map_err(|e| ApiError::Unavailable(e.into()))?.is_some() => {
            rules::check_purpose(state.purpose, copy.mime.as_deref().unwrap_or_default())?;
            Content { mime: copy.mime.unwrap_or_default(), width: copy.width.map(|w| w as u32), height: copy.height.map(|h| h as u32), thumb_key: copy.thumb_key }
        }
        _ => {
            if s.files.size(&blob).await.map_err(|e| ApiError::Unavailable(e.into()))?.is_none() {
                let keys: Vec<String> = (1..=state.part_count).map(|n| part_key(file_id, n)).collect();
                s.files.concatenate(&keys, &blob).await.map_err(|e| ApiError::Unavailable(e.into()))?;
            }
            examine(s, state.purpose, &blob, &hash).await?
        }
    };
    let event = rules::decide_stored(&state, hash, blob, content);
    let visible = append_visible(s, origin, event.clone()).await?;
    for n in 1..=state.part_count {
        if let Err(e) = s.files.delete(&part_key(file_id, n)).await {
            tracing::warn!(error = %e, %file_id, "could not delete a staged part; the sweeper will not retry it");
        }
    }
    let FileEvent::FileStored(f) = event else { unreachable!("decide_stored decides a stored file") };
    Ok(Written::new(visible, f.into()))
}

/// `DELETE /api/file/uploads/{id}`.
pub async fn abort(s: &AppState, origin: &Origin, file_id: Uuid) -> Result<Written<Aborted>, ApiError> {
    let (state, _) = upload_state(s, file_id).await?;
    let event = rules::decide_abort(state.as_ref(), &Ctx::live(origin.actor)).map_err(step_error)?;
    let part_count = state.map(|s| s.part_count).unwrap_or(0);
    let visible = append_visible(s, origin, event).await?;
    delete_parts(s, file_id, part_count).await;
    Ok(Written::new(visible, Aborted { file_id, status: "aborted" }))
}

async fn delete_parts(s: &AppState, file_id: Uuid, part_count: u32) {
    for n in 1..=part_count {
        if let Err(e) = s.files.delete(&part_key(file_id, n)).await {
            tracing::warn!(error = %e, %file_id, "could not delete a staged part");
        }
    }
}

/// `DELETE /api/file/{id}`: the owner's stored file.
pub async fn delete(s: &AppState, origin: &Origin, file_id: Uuid) -> Result<Written<Deleted>, ApiError> {
    let (state, _) = upload_state(s, file_id).await?;
    let event = rules::decide_delete(state.as_ref(), &Ctx::live(origin.actor)).map_err(|_| ApiError::NotFound("no such file".into()))?;
    let visible = append_visible(s, origin, event).await?;
    Ok(Written::new(visible, Deleted { file_id, deleted: true }))
}

/// Every `file_sweep_secs`: expires open uploads past their expiry (and
/// deletes their staged parts), and deletes blobs and thumbnails that no
/// stored file uses. Several commands instances may sweep at once: an
/// expiry appended twice is applied once, and a blob is deleted only when
/// unused.
pub async fn sweep_loop(s: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    if s.config.file_sweep_secs == 0 {
        return;
    }
    let every = Duration::from_secs(s.config.file_sweep_secs);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = sweep(&s).await {
            tracing::warn!(error = %e, "file sweep failed; retrying next time");
        }
    }
}

/// One sweep.
pub async fn sweep(s: &AppState) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    for row in read::expired_uploads(&s.pool, time::PrimitiveDateTime::new(now.date(), now.time()), 500).await? {
        let (Ok(file_id), Ok(owner_id)) = (Uuid::try_parse(&row.file_id), Uuid::try_parse(&row.owner_id)) else { continue };
        let event = FileEvent::UploadAborted(UploadAborted { file_id, owner_id, reason: AbortReason::Expired });
        s.append(&Envelope::new(event, Actor::System, format!("file-sweeper-{}", Uuid::now_v7()), None)).await?;
        delete_parts(s, file_id, row.part_count.max(0) as u32).await;
        metrics::counter!("files_uploads_expired_total").increment(1);
    }
    // Blobs: a content hash no stored file uses any more. An upload being
    // completed right now writes its blob before its FileStored is
    // projected, so only blobs older than `file_blob_grace_secs` (an hour) count.
    let blobs = s.files.list_older("blobs", std::time::Duration::from_secs(s.config.file_blob_grace_secs)).await?;
    let hashes: Vec<String> = blobs.iter().filter_map(|k| k.rsplit('/').next().map(str::to_owned)).collect();
    let used = read::hashes_in_use(&s.pool, &hashes).await?;
    for hash in hashes.iter().filter(|h| !used.contains(*h)) {
        s.files.delete(&blob_key(hash)).await?;
        s.files.delete(&thumb_key(hash)).await?;
        metrics::counter!("files_blobs_swept_total").increment(1);
    }
    Ok(())
}
