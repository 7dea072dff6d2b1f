//! The emoji read models (from `beaver.emoji.v1`): a user's favourites and
//! collected packs (synced lists, docs/social.md "Incremental sync"), and
//! the public sticker packs with their items (users' and the official ones
//! operators import).

use crate::sync::{synced_list, SyncedList};
use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use time::PrimitiveDateTime;
use uuid::Uuid;

/// The `sync_versions` list of a user's favourites.
pub const FAVORITES_LIST: &str = "emoji";
/// The `sync_versions` list of a user's collected packs.
pub const COLLECTED_LIST: &str = "emoji_packs";

fn file_url(file_id: &str) -> String {
    format!("/api/file/{file_id}")
}

fn url_of<S: serde::Serializer>(file_id: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&file_url(file_id))
}

/// A favourite as the list shows it: a sticker and the version of its last change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
#[schema(as = emoji::FavoriteEntry)]
pub struct Favorite {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub sticker: Item,
    /// The version of the entry's last change.
    pub version: i64,
}

/// `user`'s favourites changed after `since_version`, newest first.
pub async fn favorites(pool: &MySqlPool, user: Uuid, since_version: Option<i64>) -> Result<SyncedList<Favorite>, sqlx::Error> {
    synced_list(
        pool,
        (&user.to_string(), FAVORITES_LIST),
        since_version,
        "SELECT emoji_id, file_id, title, width, height, status, version FROM emoji_favorites \
         WHERE user_id = ? AND version > ? AND (status = 'active' OR ?) ORDER BY version DESC",
        ("emoji_id", "emoji_id", "version"),
        "favorites",
    )
    .await
}

/// `(active favourites, whether emoji_id is one of them)` of `user`.
pub async fn favorite_state(pool: &MySqlPool, user: Uuid, emoji_id: Uuid) -> Result<(i64, Option<(String, String)>), sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM emoji_favorites WHERE user_id = ? AND status = 'active'")
        .bind(user.to_string())
        .fetch_one(pool)
        .await?;
    let this: Option<(String, String)> = sqlx::query_as("SELECT file_id, title FROM emoji_favorites WHERE user_id = ? AND emoji_id = ? AND status = 'active'")
        .bind(user.to_string())
        .bind(emoji_id.to_string())
        .fetch_optional(pool)
        .await?;
    Ok((count, this))
}

/// The version of one favourite's entry (its last change), if it is active.
pub async fn favorite_version(pool: &MySqlPool, user: Uuid, emoji_id: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM emoji_favorites WHERE user_id = ? AND emoji_id = ? AND status = 'active'")
        .bind(user.to_string())
        .bind(emoji_id.to_string())
        .fetch_optional(pool)
        .await
}

/// The current version of a user's list.
pub async fn version(pool: &MySqlPool, user: Uuid, list: &str) -> Result<i64, sqlx::Error> {
    crate::sync::list_version(pool, &user.to_string(), list).await
}

/// A sticker (of a pack, or a favourite).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
#[schema(as = emoji::Item)]
pub struct Item {
    pub emoji_id: String,
    pub file_id: String,
    /// `/api/file/<file_id>`.
    #[sqlx(rename = "file_id")]
    #[serde(serialize_with = "url_of")]
    pub url: String,
    pub title: String,
    pub width: i32,
    pub height: i32,
}

/// A pack with its items, as `GET /api/emoji/packs/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Pack {
    pub pack_id: String,
    pub title: String,
    pub description: String,
    pub owner_id: String,
    /// Imported by an operator (owner `00000000-0000-0000-0000-000000000000`).
    pub official: bool,
    pub items: Vec<Item>,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: PrimitiveDateTime,
    /// How many users have collected it.
    pub collect_count: i64,
    /// Whether the caller has collected it.
    pub collected: bool,
}

/// An active pack as `viewer` sees it; `None` when unknown or deleted.
pub async fn pack(pool: &MySqlPool, pack_id: Uuid, viewer: Uuid) -> Result<Option<Pack>, sqlx::Error> {
    let row: Option<(String, String, String, String, bool, PrimitiveDateTime)> =
        sqlx::query_as("SELECT pack_id, title, description, owner_id, official, created_at FROM emoji_packs WHERE pack_id = ? AND status = 'active'")
            .bind(pack_id.to_string())
            .fetch_optional(pool)
            .await?;
    let Some((pack_id, title, description, owner_id, official, created_at)) = row else { return Ok(None) };
    let items: Vec<Item> =
        sqlx::query_as("SELECT emoji_id, file_id, title, width, height FROM emoji_pack_items WHERE pack_id = ? ORDER BY position").bind(&pack_id).fetch_all(pool).await?;
    let (collect_count, collected): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(user_id = ?), 0) AS SIGNED) FROM emoji_pack_collections WHERE pack_id = ? AND status = 'active'",
    )
    .bind(viewer.to_string())
    .bind(&pack_id)
    .fetch_one(pool)
    .await?;
    Ok(Some(Pack { pack_id, title, description, owner_id, official, items, created_at, collect_count, collected: collected > 0 }))
}

/// The owner of an active pack.
pub async fn pack_owner(pool: &MySqlPool, pack_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT owner_id FROM emoji_packs WHERE pack_id = ? AND status = 'active'")
        .bind(pack_id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(|r| crate::uuid(&r.0)).transpose()
}

/// A pack as an operator's import or deletion sees it, whatever its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackStanding {
    pub owner_id: Uuid,
    pub official: bool,
    /// Not deleted.
    pub active: bool,
}

/// A pack's owner, whether it is official and whether it is active; `None` when unknown.
pub async fn pack_standing(pool: &MySqlPool, pack_id: Uuid) -> Result<Option<PackStanding>, sqlx::Error> {
    let row: Option<(String, bool, String)> = sqlx::query_as("SELECT owner_id, official, status FROM emoji_packs WHERE pack_id = ?")
        .bind(pack_id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(|(owner, official, status)| Ok(PackStanding { owner_id: crate::uuid(&owner)?, official, active: status == "active" })).transpose()
}

/// How many active packs `owner` has.
pub async fn packs_of(pool: &MySqlPool, owner: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM emoji_packs WHERE owner_id = ? AND status = 'active'").bind(owner.to_string()).fetch_one(pool).await
}

/// The users who have collected a pack.
pub async fn collectors(pool: &MySqlPool, pack_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT user_id FROM emoji_pack_collections WHERE pack_id = ? AND status = 'active'")
        .bind(pack_id.to_string())
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(|r| crate::uuid(&r.0)).collect()
}

/// Whether `user` has collected the pack.
pub async fn has_collected(pool: &MySqlPool, user: Uuid, pack_id: Uuid) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM emoji_pack_collections WHERE user_id = ? AND pack_id = ? AND status = 'active'")
        .bind(user.to_string())
        .bind(pack_id.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// A pack in a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct PackSummary {
    pub pack_id: String,
    pub title: String,
    pub owner_id: String,
    /// Imported by an operator.
    pub official: bool,
    /// `/api/file/<file_id>` of the cover image.
    #[sqlx(rename = "cover_file")]
    #[serde(serialize_with = "url_of")]
    pub cover_url: String,
    pub item_count: i32,
    pub collect_count: i64,
}

/// Active packs (only official ones, or only users', when `official` says)
/// older than `before`, newest first: up to `limit` and whether there are
/// more. Newest is by `created_at`, then `pack_id` (an official pack's id is
/// a UUIDv5, which says nothing about its age); a `before` that names no
/// pack has nothing older.
pub async fn packs(pool: &MySqlPool, before: Option<Uuid>, limit: u32, official: Option<bool>) -> Result<(Vec<PackSummary>, bool), sqlx::Error> {
    let cursor: Option<(PrimitiveDateTime, String)> = match before {
        None => None,
        Some(b) => {
            let at = sqlx::query_as("SELECT created_at, pack_id FROM emoji_packs WHERE pack_id = ?").bind(b.to_string()).fetch_optional(pool).await?;
            match at {
                Some(at) => Some(at),
                None => return Ok((vec![], false)),
            }
        }
    };
    let mut q = sqlx::QueryBuilder::new(
        "SELECT p.pack_id, p.title, p.owner_id, p.official, p.cover_file, p.item_count, \
                (SELECT COUNT(*) FROM emoji_pack_collections c WHERE c.pack_id = p.pack_id AND c.status = 'active') AS collect_count \
         FROM emoji_packs p WHERE p.status = 'active'",
    );
    if let Some(official) = official {
        q.push(" AND p.official = ").push_bind(official);
    }
    if let Some((at, id)) = cursor {
        q.push(" AND (p.created_at < ").push_bind(at).push(" OR (p.created_at = ").push_bind(at).push(" AND p.pack_id < ").push_bind(id).push("))");
    }
    q.push(" ORDER BY p.created_at DESC, p.pack_id DESC LIMIT ").push_bind(limit + 1);
    let mut rows: Vec<PackSummary> = q.build_query_as().fetch_all(pool).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// A collected pack in the synced list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
#[schema(as = emoji::CollectedPack)]
pub struct Collected {
    pub pack_id: String,
    pub title: String,
    /// `/api/file/<file_id>` of the cover image.
    #[sqlx(rename = "cover_file")]
    #[serde(serialize_with = "url_of")]
    pub cover_url: String,
    pub item_count: i32,
    /// The version of the entry's last change.
    pub version: i64,
}

/// `user`'s collected packs changed after `since_version`.
pub async fn collected(pool: &MySqlPool, user: Uuid, since_version: Option<i64>) -> Result<SyncedList<Collected>, sqlx::Error> {
    synced_list(
        pool,
        (&user.to_string(), COLLECTED_LIST),
        since_version,
        // A collection of a pack deleted meanwhile (its uncollect not yet
        // projected) already reads as removed.
        "SELECT c.pack_id, IF(p.status = 'active', c.status, 'removed') AS status, c.version, p.title, p.cover_file, p.item_count \
         FROM emoji_pack_collections c JOIN emoji_packs p ON p.pack_id = c.pack_id \
         WHERE c.user_id = ? AND c.version > ? AND (c.status = 'active' OR ?) ORDER BY c.version DESC",
        ("pack_id", "pack_id", "version"),
        "packs",
    )
    .await
}
