//! Files and uploads (docs/services.md, "Files and uploads"): the pure
//! rules of each step. The app layer does the I/O — staging parts in the
//! object store, sniffing and decoding the content — and brings the facts
//! here to be decided.

use super::{Ctx, DomainError};
use beaver_events::files::{AbortReason, FileDeleted, FileEvent, FileStored, Purpose, UploadAborted, UploadInitiated, UploadPartReceived};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::Duration;
use uuid::Uuid;

/// Every part but the last has exactly this size.
pub const PART_SIZE: u64 = 8 * 1024 * 1024;
/// How long an upload may stay open by default (`upload_ttl_secs`).
pub const UPLOAD_TTL: Duration = Duration::hours(24);
/// Open uploads per user.
pub const MAX_OPEN_UPLOADS: i64 = 20;
/// Largest image side the decoder accepts.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
const MIB: u64 = 1024 * 1024;

/// A purpose's size cap in bytes.
pub fn cap(purpose: Purpose) -> u64 {
    match purpose {
        Purpose::Chat => 100 * MIB,
        Purpose::Moment | Purpose::Feedback | Purpose::Log => 20 * MIB,
        Purpose::Avatar => 5 * MIB,
        Purpose::Emoji => 2 * MIB,
    }
}

/// `POST /api/file/uploads`.
/// Every field is read as a JSON value and checked in [`decide_initiate`],
/// so that a missing or mistyped one is named.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Initiate {
    /// The file's name: 1 to 255 characters, no `/`, `\` or control characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 255)]
    pub name: serde_json::Value,
    /// Bytes, at least 1 and at most the purpose's cap.
    #[serde(default)]
    #[schema(value_type = u64, required = true, minimum = 1)]
    pub size: serde_json::Value,
    #[serde(default)]
    #[schema(value_type = Purpose, required = true)]
    pub purpose: serde_json::Value,
    /// 64 lower-case hex digits: what `complete` checks the parts against.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub content_hash: Option<String>,
}

fn invalid(field: &'static str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid(field, why.into())
}

/// A purpose by name.
pub fn purpose(name: &str) -> Option<Purpose> {
    Some(match name {
        "chat" => Purpose::Chat,
        "moment" => Purpose::Moment,
        "feedback" => Purpose::Feedback,
        "log" => Purpose::Log,
        "avatar" => Purpose::Avatar,
        "emoji" => Purpose::Emoji,
        _ => return None,
    })
}

/// What the size rule broke: too large for the purpose (413), or a field rule (422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitiateError {
    TooLarge { cap: u64 },
    /// [`MAX_OPEN_UPLOADS`] are open: 429.
    TooMany,
    Rule(DomainError),
}

impl From<DomainError> for InitiateError {
    fn from(e: DomainError) -> Self {
        InitiateError::Rule(e)
    }
}

/// Decides an upload with a new (random, v4) id, given how many uploads the
/// user has open.
pub fn decide_initiate(req: Initiate, open_uploads: i64, ttl: Duration, ctx: &Ctx, file_id: Uuid) -> Result<FileEvent, InitiateError> {
    let name = req.name.as_str().ok_or_else(|| invalid("name", "name must be a string"))?.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(invalid("name", "name must be 1 to 255 characters").into());
    }
    if name.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err(invalid("name", "name must not contain /, \\ or control characters").into());
    }
    let purpose = req.purpose.as_str().and_then(purpose).ok_or_else(|| invalid("purpose", "purpose must be one of chat, moment, feedback, log, avatar, emoji"))?;
    let size = req.size.as_u64().filter(|s| *s > 0).ok_or_else(|| invalid("size", "size must be a whole number of bytes, at least 1"))?;
    if size > cap(purpose) {
        return Err(InitiateError::TooLarge { cap: cap(purpose) });
    }
    if let Some(h) = &req.content_hash {
        if !is_hash(h) {
            return Err(invalid("content_hash", "content_hash must be 64 lower-case hex digits").into());
        }
    }
    if open_uploads >= MAX_OPEN_UPLOADS {
        return Err(InitiateError::TooMany);
    }
    Ok(FileEvent::UploadInitiated(UploadInitiated {
        file_id,
        owner_id: ctx.actor,
        name: name.to_owned(),
        size,
        purpose,
        part_size: PART_SIZE,
        part_count: size.div_ceil(PART_SIZE) as u32,
        expires_at: ctx.now + ttl,
        content_hash: req.content_hash,
    }))
}

fn is_hash(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a step needs to know of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadState {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub size: u64,
    pub purpose: Purpose,
    pub part_count: u32,
    /// `uploading`, `stored`, `aborted`, `expired` or `deleted`.
    pub status: String,
    pub expired: bool,
    /// The content hash announced at initiation, if any.
    pub expected_hash: Option<String>,
}

/// Why a step on an upload is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// Not the caller's, or no such upload: 404.
    NotFound,
    /// Completed, aborted or expired: 410.
    Gone,
    /// A part larger than the part size: 413.
    TooLarge,
    Rule(DomainError),
}

impl From<DomainError> for StepError {
    fn from(e: DomainError) -> Self {
        StepError::Rule(e)
    }
}

fn open(state: Option<&UploadState>, me: Uuid) -> Result<&UploadState, StepError> {
    let state = state.filter(|s| s.owner_id == me).ok_or(StepError::NotFound)?;
    if state.status != "uploading" || state.expired {
        return Err(StepError::Gone);
    }
    Ok(state)
}

/// The size part `part_no` must have.
pub fn expected_part_size(size: u64, part_count: u32, part_no: u32) -> u64 {
    if part_no < part_count {
        PART_SIZE
    } else {
        size - PART_SIZE * (part_count as u64 - 1)
    }
}

/// Decides a staged part (its bytes' length and hash, computed by the caller).
pub fn decide_part(state: Option<&UploadState>, part_no: u32, len: u64, sha256: String, ctx: &Ctx) -> Result<FileEvent, StepError> {
    let state = open(state, ctx.actor)?;
    if part_no == 0 || part_no > state.part_count {
        return Err(invalid("part_no", format!("part_no must be 1 to {}", state.part_count)).into());
    }
    if len > PART_SIZE {
        return Err(StepError::TooLarge);
    }
    let expected = expected_part_size(state.size, state.part_count, part_no);
    if len != expected {
        return Err(DomainError::Unprocessable("wrong_part_size", format!("part {part_no} must be {expected} bytes, not {len}")).into());
    }
    Ok(FileEvent::UploadPartReceived(UploadPartReceived { file_id: state.file_id, owner_id: state.owner_id, part_no, size: len, sha256 }))
}

/// `hex(sha256(join(",", hex(sha256(part_i)))))` over the parts in order.
pub fn content_hash(part_hashes: &[String]) -> String {
    hex::encode(Sha256::digest(part_hashes.join(",").as_bytes()))
}

/// The parts of `1..=part_count` not among `have`.
pub fn missing_parts(part_count: u32, have: &[u32]) -> Vec<u32> {
    (1..=part_count).filter(|n| !have.contains(n)).collect()
}

/// What `complete` checks before reading any content: the upload is open
/// and the caller's, every part is staged, and the client's hash (if any)
/// is the one the parts give. Answers the content hash.
pub fn check_complete(state: Option<&UploadState>, parts: &[(u32, String)], claimed: Option<&str>, ctx: &Ctx) -> Result<String, CompleteError> {
    let state = open(state, ctx.actor).map_err(CompleteError::Step)?;
    let have: Vec<u32> = parts.iter().map(|p| p.0).collect();
    let missing = missing_parts(state.part_count, &have);
    if !missing.is_empty() {
        return Err(CompleteError::Missing(missing));
    }
    let hashes: Vec<String> = parts.iter().map(|p| p.1.clone()).collect();
    let hash = content_hash(&hashes);
    for claimed in [claimed, state.expected_hash.as_deref()].into_iter().flatten() {
        if claimed != hash {
            return Err(CompleteError::Step(DomainError::Unprocessable("hash_mismatch", "content_hash does not match the parts".into()).into()));
        }
    }
    Ok(hash)
}

/// Why `complete` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompleteError {
    Step(StepError),
    /// 409 `missing_parts`.
    Missing(Vec<u32>),
}

/// What the app layer learned from the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumb_key: Option<String>,
}

/// The kind of a MIME type.
pub fn kind_of(mime: &str) -> &'static str {
    match mime.split('/').next() {
        Some("image") => "image",
        Some("video") => "video",
        Some("audio") => "audio",
        _ => "file",
    }
}

/// The images Beaver decodes (and so may show inline and thumbnail).
pub const DECODED_IMAGES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Whether `mime` is acceptable for `purpose`.
pub fn check_purpose(purpose: Purpose, mime: &str) -> Result<(), DomainError> {
    let image = DECODED_IMAGES.contains(&mime);
    let ok = match purpose {
        Purpose::Avatar | Purpose::Emoji => image,
        Purpose::Moment => image || kind_of(mime) == "video",
        Purpose::Chat | Purpose::Feedback | Purpose::Log => true,
    };
    if ok {
        Ok(())
    } else {
        Err(DomainError::Unprocessable("unsupported_type", format!("{mime} is not accepted for {}", purpose.as_str())))
    }
}

/// The stored file.
pub fn decide_stored(state: &UploadState, content_hash: String, blob_key: String, content: Content) -> FileEvent {
    FileEvent::FileStored(FileStored {
        file_id: state.file_id,
        owner_id: state.owner_id,
        name: state.name.clone(),
        size: state.size,
        purpose: state.purpose,
        kind: kind_of(&content.mime).to_owned(),
        mime: content.mime,
        content_hash,
        blob_key,
        width: content.width,
        height: content.height,
        thumb_key: content.thumb_key,
    })
}

/// The owner gives an upload up.
pub fn decide_abort(state: Option<&UploadState>, ctx: &Ctx) -> Result<FileEvent, StepError> {
    let state = open(state, ctx.actor)?;
    Ok(FileEvent::UploadAborted(UploadAborted { file_id: state.file_id, owner_id: state.owner_id, reason: AbortReason::Aborted }))
}

/// The owner deletes a stored file (anyone else: not found).
pub fn decide_delete(state: Option<&UploadState>, ctx: &Ctx) -> Result<FileEvent, StepError> {
    let state = state.filter(|s| s.owner_id == ctx.actor && s.status == "stored").ok_or(StepError::NotFound)?;
    Ok(FileEvent::FileDeleted(FileDeleted { file_id: state.file_id, owner_id: state.owner_id }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, user};

    fn initiate(size: u64, purpose: &str) -> Initiate {
        Initiate { name: "cat.png".into(), size: size.into(), purpose: purpose.into(), content_hash: None }
    }

    fn upload(owner: Uuid, size: u64) -> UploadState {
        UploadState {
            file_id: Uuid::new_v4(),
            owner_id: owner,
            name: "f".into(),
            size,
            purpose: Purpose::Chat,
            part_count: size.div_ceil(PART_SIZE) as u32,
            status: "uploading".into(),
            expired: false,
            expected_hash: None,
        }
    }

    #[test]
    fn an_upload_gets_its_parts_and_expiry_and_each_bad_field_is_named() {
        let c = ctx(user());
        let FileEvent::UploadInitiated(e) = decide_initiate(initiate(PART_SIZE + 1, "chat"), 0, UPLOAD_TTL, &c, Uuid::new_v4()).unwrap() else { panic!() };
        assert_eq!((e.part_count, e.part_size, e.expires_at), (2, PART_SIZE, c.now + UPLOAD_TTL));
        let field = |r: Initiate| match decide_initiate(r, 0, UPLOAD_TTL, &c, Uuid::new_v4()) {
            Err(InitiateError::Rule(e)) => e.kind(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(Initiate { name: "a/b".into(), ..initiate(1, "chat") }), "name");
        assert_eq!(field(Initiate { name: "x".repeat(256).into(), ..initiate(1, "chat") }), "name");
        assert_eq!(field(initiate(0, "chat")), "size");
        assert_eq!(field(initiate(1, "zip")), "purpose");
        assert_eq!(field(Initiate { size: serde_json::json!("10"), ..initiate(1, "chat") }), "size");
        assert_eq!(field(Initiate { size: serde_json::json!(1.5), ..initiate(1, "chat") }), "size");
        assert_eq!(field(Initiate { name: serde_json::Value::Null, ..initiate(1, "chat") }), "name");
        assert_eq!(decide_initiate(initiate(5 * MIB + 1, "avatar"), 0, UPLOAD_TTL, &c, Uuid::new_v4()), Err(InitiateError::TooLarge { cap: 5 * MIB }));
        assert!(decide_initiate(initiate(5 * MIB, "avatar"), 0, UPLOAD_TTL, &c, Uuid::new_v4()).is_ok());
        assert_eq!(decide_initiate(initiate(1, "chat"), MAX_OPEN_UPLOADS, UPLOAD_TTL, &c, Uuid::new_v4()), Err(InitiateError::TooMany));
    }

    #[test]
    fn parts_must_have_their_exact_size_and_only_the_owner_may_send_them() {
        let me = user();
        let u = upload(me, PART_SIZE + 10);
        let c = ctx(me);
        assert!(decide_part(Some(&u), 1, PART_SIZE, "h".into(), &c).is_ok());
        assert!(decide_part(Some(&u), 2, 10, "h".into(), &c).is_ok());
        assert!(matches!(decide_part(Some(&u), 2, 11, "h".into(), &c), Err(StepError::Rule(e)) if e.kind() == "wrong_part_size"));
        assert!(matches!(decide_part(Some(&u), 1, 10, "h".into(), &c), Err(StepError::Rule(e)) if e.kind() == "wrong_part_size"));
        assert!(matches!(decide_part(Some(&u), 3, 10, "h".into(), &c), Err(StepError::Rule(e)) if e.kind() == "part_no"));
        assert_eq!(decide_part(Some(&u), 1, PART_SIZE + 1, "h".into(), &c), Err(StepError::TooLarge));
        assert_eq!(decide_part(Some(&u), 1, PART_SIZE, "h".into(), &ctx(user())), Err(StepError::NotFound));
        let done = UploadState { status: "stored".into(), ..u.clone() };
        assert_eq!(decide_part(Some(&done), 1, PART_SIZE, "h".into(), &c), Err(StepError::Gone));
        let late = UploadState { expired: true, ..u };
        assert_eq!(decide_abort(Some(&late), &c), Err(StepError::Gone));
    }

    #[test]
    fn completing_needs_every_part_and_the_hash_of_their_hashes() {
        let me = user();
        let u = upload(me, PART_SIZE + 10);
        let c = ctx(me);
        assert_eq!(check_complete(Some(&u), &[(2, "b".into())], None, &c), Err(CompleteError::Missing(vec![1])));
        let parts = [(1, "a".to_owned()), (2, "b".to_owned())];
        let hash = check_complete(Some(&u), &parts, None, &c).unwrap();
        assert_eq!(hash, hex::encode(Sha256::digest(b"a,b")));
        assert!(check_complete(Some(&u), &parts, Some(&"0".repeat(64)), &c).is_err());
        assert_eq!(check_complete(Some(&u), &parts, Some(&hash), &c).unwrap(), hash);
        let promised = UploadState { expected_hash: Some("0".repeat(64)), ..u };
        assert!(matches!(check_complete(Some(&promised), &parts, None, &c), Err(CompleteError::Step(StepError::Rule(e))) if e.kind() == "hash_mismatch"));
    }

    #[test]
    fn avatars_and_emoji_are_images_and_moments_images_or_videos() {
        assert!(check_purpose(Purpose::Avatar, "image/png").is_ok());
        assert_eq!(check_purpose(Purpose::Avatar, "text/plain").unwrap_err().kind(), "unsupported_type");
        assert_eq!(check_purpose(Purpose::Emoji, "image/svg+xml").unwrap_err().kind(), "unsupported_type");
        assert!(check_purpose(Purpose::Moment, "video/mp4").is_ok());
        assert!(check_purpose(Purpose::Chat, "application/octet-stream").is_ok());
        assert_eq!(kind_of("audio/ogg"), "audio");
    }
}
