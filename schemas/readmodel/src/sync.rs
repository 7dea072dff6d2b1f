//! Incremental sync of a user's lists (friends, blocks, requests, groups,
//! a group's members). Each list has a version in `sync_versions` that the
//! projector raises with every change, and every row carries the version of
//! its last change, so a client that sends `since_version` gets only what
//! changed since, removals included.

use serde_json::{json, Value};
use sqlx::{mysql::MySqlRow, MySqlPool, Row};

/// The current version of `owner`'s `list` (0 when it never changed).
pub async fn list_version(pool: &MySqlPool, owner: &str, list: &str) -> Result<i64, sqlx::Error> {
    let v: Option<(i64,)> = sqlx::query_as("SELECT version FROM sync_versions WHERE owner_id = ? AND list = ?")
        .bind(owner)
        .bind(list)
        .fetch_optional(pool)
        .await?;
    Ok(v.map(|v| v.0).unwrap_or(0))
}

/// How a list request syncs: everything, or the changes after a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sync {
    /// Entries with a version above this are returned (0: all).
    pub after: i64,
    /// Removals are reported (only for incremental requests).
    pub incremental: bool,
    /// The client's version is ahead of ours (the read model was rebuilt): full list.
    pub full_sync: bool,
}

/// Decides how to answer `since_version` against the list's `current` version.
pub fn plan_sync(since_version: Option<i64>, current: i64) -> Sync {
    match since_version {
        Some(v) if v > current || v < 0 => Sync { after: 0, incremental: false, full_sync: true },
        Some(v) => Sync { after: v, incremental: true, full_sync: false },
        None => Sync { after: 0, incremental: false, full_sync: false },
    }
}

/// Answers a synced list: `sql` selects the owner's rows changed after a
/// version, taking three binds — owner, version, whether removed rows are
/// wanted — and yields the columns `status`, `id_column` and
/// `version_column`. Active rows become `entry(row)` in `key`; removed rows
/// become `{id_key: id, version}` in `removed`.
pub async fn synced_list(
    pool: &MySqlPool,
    (owner, list): (&str, &str),
    since_version: Option<i64>,
    sql: &str,
    (id_column, id_key, version_column): (&str, &str, &str),
    key: &str,
    entry: impl Fn(&MySqlRow) -> Result<Value, sqlx::Error>,
) -> Result<Value, sqlx::Error> {
    let version = list_version(pool, owner, list).await?;
    let sync = plan_sync(since_version, version);
    let rows = sqlx::query(sql).bind(owner).bind(sync.after).bind(sync.incremental).fetch_all(pool).await?;
    let (mut entries, mut removed) = (Vec::new(), Vec::new());
    for r in &rows {
        if r.try_get::<String, _>("status")? == "active" {
            entries.push(entry(r)?);
        } else {
            removed.push(json!({ id_key: r.try_get::<String, _>(id_column)?, "version": r.try_get::<i64, _>(version_column)? }));
        }
    }
    Ok(json!({ key: entries, "removed": removed, "version": version, "full_sync": sync.full_sync }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_version_ahead_of_the_server_gets_a_full_sync() {
        assert_eq!(plan_sync(Some(10), 3), Sync { after: 0, incremental: false, full_sync: true });
    }

    #[test]
    fn a_client_version_behind_gets_only_the_changes_after_it() {
        assert_eq!(plan_sync(Some(2), 3), Sync { after: 2, incremental: true, full_sync: false });
        assert_eq!(plan_sync(Some(3), 3), Sync { after: 3, incremental: true, full_sync: false });
    }

    #[test]
    fn no_version_gets_the_full_list_without_removals() {
        assert_eq!(plan_sync(None, 3), Sync { after: 0, incremental: false, full_sync: false });
    }
}
