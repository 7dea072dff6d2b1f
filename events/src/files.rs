//! Files (the seed's "file" and "upload" services): the steps of a chunked
//! upload and the facts of a stored file. The bytes are never here — they
//! live in the object store; these events name them by key. Keyed by file id.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Everything that happens to one file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum FileEvent {
    UploadInitiated(UploadInitiated),
    UploadPartReceived(UploadPartReceived),
    FileStored(FileStored),
    UploadAborted(UploadAborted),
    FileDeleted(FileDeleted),
}

/// What a file is for; each purpose has its own size cap and content rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Chat,
    Moment,
    Feedback,
    Log,
    Avatar,
    Emoji,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Chat => "chat",
            Purpose::Moment => "moment",
            Purpose::Feedback => "feedback",
            Purpose::Log => "log",
            Purpose::Avatar => "avatar",
            Purpose::Emoji => "emoji",
        }
    }
}

/// A user announced an upload of `size` bytes in `part_count` parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadInitiated {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub size: u64,
    pub purpose: Purpose,
    pub part_size: u64,
    pub part_count: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The content hash the client announced; completion checks the parts against it.
    pub content_hash: Option<String>,
}

/// One part's bytes are staged in the store (a part sent again replaces it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadPartReceived {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub part_no: u32,
    pub size: u64,
    /// Hex SHA-256 of the part.
    pub sha256: String,
}

/// The upload is complete: the file's bytes are in the store at `blob_key`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileStored {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub name: String,
    pub size: u64,
    pub purpose: Purpose,
    /// Sniffed from the bytes.
    pub mime: String,
    /// `image`, `video`, `audio` or `file`.
    pub kind: String,
    /// `hex(sha256(join(",", hex(sha256(part_i)))))`.
    pub content_hash: String,
    pub blob_key: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumb_key: Option<String>,
}

/// Why an upload ended without a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortReason {
    Aborted,
    Expired,
}

/// The upload was given up (by its owner, or by the sweeper when it expired).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadAborted {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub reason: AbortReason,
}

/// The owner deleted a stored file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileDeleted {
    pub file_id: Uuid,
    pub owner_id: Uuid,
}

impl FileEvent {
    pub fn file_id(&self) -> Uuid {
        match self {
            FileEvent::UploadInitiated(e) => e.file_id,
            FileEvent::UploadPartReceived(e) => e.file_id,
            FileEvent::FileStored(e) => e.file_id,
            FileEvent::UploadAborted(e) => e.file_id,
            FileEvent::FileDeleted(e) => e.file_id,
        }
    }
}

impl DomainEvent for FileEvent {
    const AGGREGATE_TYPE: &'static str = "file";
    const TOPIC: &'static str = topics::FILES;

    fn event_type(&self) -> &'static str {
        match self {
            FileEvent::UploadInitiated(_) => "UploadInitiated",
            FileEvent::UploadPartReceived(_) => "UploadPartReceived",
            FileEvent::FileStored(_) => "FileStored",
            FileEvent::UploadAborted(_) => "UploadAborted",
            FileEvent::FileDeleted(_) => "FileDeleted",
        }
    }

    fn aggregate_id(&self) -> String {
        self.file_id().to_string()
    }
}
