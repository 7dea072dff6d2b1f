//! Per-owner list versions for incremental sync (see `sync_versions` in
//! `schemas/migrations/0005_social.sql`).

use sqlx::{MySql, Transaction};
use time::{OffsetDateTime, PrimitiveDateTime};

/// The lists whose versions are kept, by name.
pub mod list {
    pub const FRIEND_REQUESTS: &str = "requests";
    pub const FRIENDS: &str = "friends";
    pub const BLOCKS: &str = "blocks";
    /// A user's groups (owner: user id).
    pub const GROUPS: &str = "groups";
    /// A group's members (owner: group id).
    pub const MEMBERS: &str = "members";
}

/// Increments `owner`'s version of `list` and returns the new value.
pub async fn bump(tx: &mut Transaction<'static, MySql>, owner: &str, list: &str) -> Result<i64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO sync_versions (owner_id, list, version) VALUES (?, ?, LAST_INSERT_ID(1)) \
         ON DUPLICATE KEY UPDATE version = LAST_INSERT_ID(version + 1)",
    )
    .bind(owner)
    .bind(list)
    .execute(&mut **tx)
    .await?;
    Ok(done.last_insert_id() as i64)
}

/// An event time as the naive UTC value stored in DATETIME columns.
pub fn utc(t: OffsetDateTime) -> PrimitiveDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    PrimitiveDateTime::new(t.date(), t.time())
}
