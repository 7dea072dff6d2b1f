//! Read-model shapes shared by the query routes and by commands that answer
//! with the state they just produced (after waiting for its projection).

use serde_json::{json, Value};
use sqlx::{mysql::MySqlRow, MySqlPool, Row};
use time::{format_description::well_known::Rfc3339, PrimitiveDateTime};
use uuid::Uuid;

/// May `user` read `conversation`? The two users of a direct conversation,
/// or the current members of a group.
pub async fn can_read(pool: &MySqlPool, conversation: beaver_events::message::ConversationRef, user: Uuid) -> Result<bool, sqlx::Error> {
    use beaver_events::message::ConversationRef;
    Ok(match conversation {
        ConversationRef::Direct(a, b) => user == a || user == b,
        ConversationRef::Group(g) => sqlx::query("SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ? AND status = 'active'")
            .bind(g.to_string())
            .bind(user.to_string())
            .fetch_optional(pool)
            .await?
            .is_some(),
    })
}

/// RFC 3339 text of a stored UTC time.
pub fn rfc3339(t: PrimitiveDateTime) -> String {
    t.assume_utc().format(&Rfc3339).unwrap_or_default()
}

fn time_or_null(row: &MySqlRow, column: &str) -> Result<Value, sqlx::Error> {
    Ok(row.try_get::<Option<PrimitiveDateTime>, _>(column)?.map(rfc3339).map(Value::from).unwrap_or(Value::Null))
}

/// A group's info as `viewer` sees it (`my_role` is null for non-members);
/// `None` when the group does not exist or was dissolved.
pub async fn group_info(pool: &MySqlPool, group_id: Uuid, viewer: Uuid) -> Result<Option<Value>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT g.group_id, g.conversation_id, g.name, g.avatar, g.announcement, g.owner_id, g.join_policy, g.members_can_invite, \
                g.mute_all, g.member_count, g.max_members, g.created_at, m.role AS my_role \
         FROM chat_groups g LEFT JOIN group_members m ON m.group_id = g.group_id AND m.user_id = ? AND m.status = 'active' \
         WHERE g.group_id = ? AND g.status = 'active'",
    )
    .bind(viewer.to_string())
    .bind(group_id.to_string())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(json!({
        "group_id": row.try_get::<String, _>("group_id")?,
        "conversation_id": row.try_get::<String, _>("conversation_id")?,
        "name": row.try_get::<String, _>("name")?,
        "avatar": row.try_get::<String, _>("avatar")?,
        "announcement": row.try_get::<String, _>("announcement")?,
        "owner_id": row.try_get::<String, _>("owner_id")?,
        "join_policy": row.try_get::<String, _>("join_policy")?,
        "members_can_invite": row.try_get::<bool, _>("members_can_invite")?,
        "mute_all": row.try_get::<bool, _>("mute_all")?,
        "member_count": row.try_get::<i32, _>("member_count")?,
        "max_members": row.try_get::<i32, _>("max_members")?,
        "created_at": rfc3339(row.try_get("created_at")?),
        "my_role": row.try_get::<Option<String>, _>("my_role")?,
    })))
}

/// A group member row with the member's public profile.
pub fn member_json(row: &MySqlRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "user_id": row.try_get::<String, _>("user_id")?,
        "username": row.try_get::<String, _>("username")?,
        "nickname": row.try_get::<String, _>("nickname")?,
        "avatar": row.try_get::<String, _>("avatar")?,
        "role": row.try_get::<String, _>("role")?,
        "group_nickname": row.try_get::<String, _>("group_nickname")?,
        "muted_until": time_or_null(row, "muted_until")?,
        "joined_at": rfc3339(row.try_get("joined_at")?),
        "version": row.try_get::<i64, _>("version")?,
    }))
}

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
