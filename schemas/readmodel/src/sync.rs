//! Incremental sync of a user's lists (friends, blocks, requests, groups,
//! a group's members). Each list has a version in `sync_versions` that the
//! projector raises with every change, and every row carries the version of
//! its last change, so a client that sends `since_version` gets only what
//! changed since, removals included.

use serde::{ser::SerializeMap, Serialize, Serializer};
use sqlx::{mysql::MySqlRow, FromRow, MySqlPool, Row};

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

/// A synced list as the API answers it: `{<key>: [entries], removed:
/// [{<id_key>: id, version}], version, full_sync}` (and `total` where the
/// list is paged).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncedList<T> {
    /// The name of the entries' field (`friends`, `members`, …).
    pub key: &'static str,
    pub entries: Vec<T>,
    pub removed: Vec<Removed>,
    /// The list's version now: the client's next `since_version`.
    pub version: i64,
    /// The client's version was ahead of ours (a rebuilt read model): this is the whole list.
    pub full_sync: bool,
    /// All active entries, for a paged list.
    pub total: Option<i64>,
}

/// An entry removed since the client's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The name of the id field (`user_id`, `group_id`).
    pub id_key: &'static str,
    pub id: String,
    pub version: i64,
}

impl Serialize for Removed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(self.id_key, &self.id)?;
        m.serialize_entry("version", &self.version)?;
        m.end()
    }
}

impl<T: Serialize> Serialize for SyncedList<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(self.key, &self.entries)?;
        m.serialize_entry("removed", &self.removed)?;
        m.serialize_entry("version", &self.version)?;
        m.serialize_entry("full_sync", &self.full_sync)?;
        if let Some(total) = self.total {
            m.serialize_entry("total", &total)?;
        }
        m.end()
    }
}

/// Answers a synced list: `sql` selects the owner's rows changed after a
/// version, taking three binds — owner, version, whether removed rows are
/// wanted — and yields the columns `status`, `id_column` and
/// `version_column`. Active rows become `T`s (read by their column names)
/// in `key`; removed rows become `{id_key: id, version}` in `removed`.
pub async fn synced_list<T: for<'r> FromRow<'r, MySqlRow>>(
    pool: &MySqlPool,
    (owner, list): (&str, &str),
    since_version: Option<i64>,
    sql: &str,
    (id_column, id_key, version_column): (&str, &'static str, &str),
    key: &'static str,
) -> Result<SyncedList<T>, sqlx::Error> {
    let version = list_version(pool, owner, list).await?;
    let sync = plan_sync(since_version, version);
    let rows = sqlx::query(sql).bind(owner).bind(sync.after).bind(sync.incremental).fetch_all(pool).await?;
    let (mut entries, mut removed) = (Vec::new(), Vec::new());
    for r in &rows {
        if r.try_get::<String, _>("status")? == "active" {
            entries.push(T::from_row(r)?);
        } else {
            removed.push(Removed { id_key, id: r.try_get(id_column)?, version: r.try_get(version_column)? });
        }
    }
    Ok(SyncedList { key, entries, removed, version, full_sync: sync.full_sync, total: None })
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
    fn a_synced_list_names_its_entries_and_removed_ids_after_the_list() {
        let list = SyncedList {
            key: "friends",
            entries: vec![serde_json::json!({ "user_id": "a" })],
            removed: vec![Removed { id_key: "user_id", id: "b".into(), version: 7 }],
            version: 9,
            full_sync: false,
            total: None,
        };
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            serde_json::json!({ "friends": [{ "user_id": "a" }], "removed": [{ "user_id": "b", "version": 7 }], "version": 9, "full_sync": false })
        );
        let paged = SyncedList { total: Some(3), ..list };
        assert_eq!(serde_json::to_value(&paged).unwrap()["total"], 3);
    }

    #[test]
    fn no_version_gets_the_full_list_without_removals() {
        assert_eq!(plan_sync(None, 3), Sync { after: 0, incremental: false, full_sync: false });
    }
}
