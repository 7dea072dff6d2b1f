//! The `files` read model (from `beaver.files.v1`): uploads in progress
//! with their staged parts, and stored files. Commands check uploads and
//! find a user's own earlier copy of some content here; query-api serves
//! status, info and downloads; the sweeper finds expired uploads and
//! unreferenced blobs.

use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use std::collections::HashSet;
use time::PrimitiveDateTime;
use uuid::Uuid;

/// One file (an upload, or what it became).
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct FileRow {
    pub file_id: String,
    pub owner_id: String,
    pub name: String,
    pub size: i64,
    pub purpose: String,
    pub part_size: i64,
    pub part_count: i32,
    /// `uploading`, `stored`, `aborted`, `expired` or `deleted`.
    pub status: String,
    pub expires_at: PrimitiveDateTime,
    pub mime: Option<String>,
    pub kind: Option<String>,
    pub content_hash: Option<String>,
    pub blob_key: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumb_key: Option<String>,
    pub created_at: PrimitiveDateTime,
    /// The content hash announced at initiation.
    pub expected_hash: Option<String>,
}

impl FileRow {
    pub fn owned_by(&self, user: Uuid) -> bool {
        self.owner_id == user.to_string()
    }
}

/// A staged part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
#[schema(as = files::Part)]
pub struct Part {
    /// From 1.
    pub part_no: i32,
    pub size: i64,
    /// Hex SHA-256 of the part's bytes.
    pub sha256: String,
}

const COLUMNS: &str = "file_id, owner_id, name, size, purpose, part_size, part_count, status, expires_at, mime, kind, content_hash, \
                       blob_key, width, height, thumb_key, created_at, expected_hash";

pub async fn load(pool: &MySqlPool, file_id: Uuid) -> Result<Option<FileRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM files WHERE file_id = ?")).bind(file_id.to_string()).fetch_optional(pool).await
}

/// An upload's staged parts, in order.
pub async fn parts(pool: &MySqlPool, file_id: Uuid) -> Result<Vec<Part>, sqlx::Error> {
    sqlx::query_as("SELECT part_no, size, sha256 FROM file_parts WHERE file_id = ? ORDER BY part_no").bind(file_id.to_string()).fetch_all(pool).await
}

/// How many uploads `owner` has open.
pub async fn open_uploads(pool: &MySqlPool, owner: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE owner_id = ? AND status = 'uploading'").bind(owner.to_string()).fetch_one(pool).await
}

/// `owner`'s own earlier stored file with this content (instant completion
/// reuses its blob and facts; another user's never counts).
pub async fn own_copy(pool: &MySqlPool, owner: Uuid, content_hash: &str) -> Result<Option<FileRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM files WHERE owner_id = ? AND content_hash = ? AND status IN ('stored', 'deleted') ORDER BY created_at LIMIT 1"
    ))
    .bind(owner.to_string())
    .bind(content_hash)
    .fetch_optional(pool)
    .await
}

/// Uploads still open after `now`'s expiry (the sweeper's work).
pub async fn expired_uploads(pool: &MySqlPool, now: PrimitiveDateTime, limit: u32) -> Result<Vec<FileRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM files WHERE status = 'uploading' AND expires_at < ? LIMIT ?")).bind(now).bind(limit).fetch_all(pool).await
}

/// The content hashes among `hashes` that some stored (not deleted) file
/// still uses, or that an upload in progress may complete into.
pub async fn hashes_in_use(pool: &MySqlPool, hashes: &[String]) -> Result<HashSet<String>, sqlx::Error> {
    if hashes.is_empty() {
        return Ok(HashSet::new());
    }
    let mut q = sqlx::QueryBuilder::new("SELECT DISTINCT content_hash FROM files WHERE status = 'stored' AND content_hash IN (");
    let mut sep = q.separated(", ");
    for h in hashes {
        sep.push_bind(h.clone());
    }
    q.push(")");
    let rows: Vec<(String,)> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Whether every file of `ids` is stored (not unfinished, aborted or deleted).
pub async fn all_stored(pool: &MySqlPool, ids: &[Uuid]) -> Result<bool, sqlx::Error> {
    let wanted: HashSet<Uuid> = ids.iter().copied().collect();
    let found = crate::subset(pool, "SELECT file_id FROM files WHERE status = 'stored' AND ", &[], &wanted.iter().copied().collect::<Vec<_>>(), "file_id").await?;
    Ok(found.len() == wanted.len())
}
