//! `beaver.files.v1` → tables `files` and `file_parts`. Each event moves a
//! file along uploading → stored | aborted | expired, stored → deleted (a
//! file stored without an upload, an official pack's image, starts at
//! stored), and a step that does not apply to the current status is
//! ignored, so a replay (or an expiry appended twice) converges on the same
//! rows.

use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{files::AbortReason, topics, FileEvent, RawEnvelope};
use beaver_readmodel::progress::FILES_PROJECTOR;
use sqlx::{MySql, Transaction};
use super::sync::utc;

pub struct Files;

#[async_trait::async_trait]
impl Projection for Files {
    fn name(&self) -> &'static str {
        FILES_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::FILES]
    }

    async fn apply(&self, tx: &mut Transaction<'static, MySql>, _ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = super::at(&env);
        match env.decode::<FileEvent>()?.payload {
            FileEvent::UploadInitiated(e) => {
                sqlx::query(
                    "INSERT IGNORE INTO files (file_id, owner_id, name, size, purpose, part_size, part_count, status, expires_at, expected_hash, \
                     created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'uploading', ?, ?, ?, ?)",
                )
                .bind(e.file_id.to_string())
                .bind(e.owner_id.to_string())
                .bind(&e.name)
                .bind(e.size as i64)
                .bind(e.purpose.as_str())
                .bind(e.part_size as i64)
                .bind(e.part_count as i32)
                .bind(utc(e.expires_at))
                .bind(&e.content_hash)
                .bind(when)
                .bind(when)
                .execute(&mut **tx)
                .await?;
            }
            FileEvent::UploadPartReceived(e) => {
                sqlx::query(
                    "INSERT INTO file_parts (file_id, part_no, size, sha256) \
                     SELECT ?, ?, ?, ? FROM files WHERE file_id = ? AND status = 'uploading' \
                     ON DUPLICATE KEY UPDATE size = VALUES(size), sha256 = VALUES(sha256)",
                )
                .bind(e.file_id.to_string())
                .bind(e.part_no as i32)
                .bind(e.size as i64)
                .bind(&e.sha256)
                .bind(e.file_id.to_string())
                .execute(&mut **tx)
                .await?;
            }
            FileEvent::FileStored(e) => {
                let completed = sqlx::query(
                    "UPDATE files SET status = 'stored', mime = ?, kind = ?, content_hash = ?, blob_key = ?, width = ?, height = ?, thumb_key = ?, \
                     updated_at = ? WHERE file_id = ? AND status = 'uploading'",
                )
                .bind(&e.mime)
                .bind(&e.kind)
                .bind(&e.content_hash)
                .bind(&e.blob_key)
                .bind(e.width.map(|w| w as i32))
                .bind(e.height.map(|h| h as i32))
                .bind(&e.thumb_key)
                .bind(when)
                .bind(e.file_id.to_string())
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if completed == 0 {
                    // A file stored without an upload (an official pack's
                    // image, `beaver-admin emoji import`): its row starts
                    // here, as one part. A file this table already has (a
                    // repeat, or an upload that ended otherwise) is left alone.
                    sqlx::query(
                        "INSERT IGNORE INTO files (file_id, owner_id, name, size, purpose, part_size, part_count, status, expires_at, mime, kind, \
                         content_hash, blob_key, width, height, thumb_key, created_at, updated_at) \
                         VALUES (?, ?, ?, ?, ?, ?, 1, 'stored', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(e.file_id.to_string())
                    .bind(e.owner_id.to_string())
                    .bind(&e.name)
                    .bind(e.size as i64)
                    .bind(e.purpose.as_str())
                    .bind(e.size as i64)
                    .bind(when)
                    .bind(&e.mime)
                    .bind(&e.kind)
                    .bind(&e.content_hash)
                    .bind(&e.blob_key)
                    .bind(e.width.map(|w| w as i32))
                    .bind(e.height.map(|h| h as i32))
                    .bind(&e.thumb_key)
                    .bind(when)
                    .bind(when)
                    .execute(&mut **tx)
                    .await?;
                }
                sqlx::query("DELETE FROM file_parts WHERE file_id = ?").bind(e.file_id.to_string()).execute(&mut **tx).await?;
            }
            FileEvent::UploadAborted(e) => {
                let status = match e.reason {
                    AbortReason::Aborted => "aborted",
                    AbortReason::Expired => "expired",
                };
                sqlx::query("UPDATE files SET status = ?, updated_at = ? WHERE file_id = ? AND status = 'uploading'")
                    .bind(status)
                    .bind(when)
                    .bind(e.file_id.to_string())
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("DELETE FROM file_parts WHERE file_id = ?").bind(e.file_id.to_string()).execute(&mut **tx).await?;
            }
            FileEvent::FileDeleted(e) => {
                sqlx::query("UPDATE files SET status = 'deleted', updated_at = ? WHERE file_id = ? AND status = 'stored'")
                    .bind(when)
                    .bind(e.file_id.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}
