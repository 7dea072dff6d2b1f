//! The `user_settings` read model (from `UserSettingsChanged` on
//! `beaver.users.v1`): a user's settings document, and the privacy flags
//! the other tiers enforce (friend requests in commands, search, presence
//! and read receipts in query-api and ws-push). A user who never changed a
//! setting has no row: the defaults apply.

use beaver_events::user::{FriendRequestPolicy, Privacy, Settings};
use sqlx::MySqlPool;
use std::collections::HashSet;
use uuid::Uuid;

/// A user's document (defaults filled in) and how many changes it saw.
pub async fn load(pool: &MySqlPool, user: Uuid) -> Result<(Settings, i64), sqlx::Error> {
    let row: Option<(String, i64)> = sqlx::query_as("SELECT document, version FROM user_settings WHERE user_id = ?")
        .bind(user.to_string())
        .fetch_optional(pool)
        .await?;
    match row {
        None => Ok((Settings::default(), 0)),
        Some((doc, version)) => Ok((serde_json::from_str(&doc).map_err(|e| sqlx::Error::Decode(Box::new(e)))?, version)),
    }
}

/// A user's privacy flags (the defaults when never changed).
pub async fn privacy(pool: &MySqlPool, user: Uuid) -> Result<Privacy, sqlx::Error> {
    let row: Option<(String, bool, bool, bool, bool)> = sqlx::query_as(
        "SELECT friend_requests, searchable_by_email, searchable_by_phone, show_online, read_receipts FROM user_settings WHERE user_id = ?",
    )
    .bind(user.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => Privacy::default(),
        Some((friend_requests, searchable_by_email, searchable_by_phone, show_online, read_receipts)) => Privacy {
            friend_requests: FriendRequestPolicy::parse(&friend_requests).unwrap_or_default(),
            searchable_by_email,
            searchable_by_phone,
            show_online,
            read_receipts,
        },
    })
}

/// The users among `ids` who hide their presence (`show_online` off).
pub async fn hiding_presence(pool: &MySqlPool, ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
    crate::subset(pool, "SELECT user_id FROM user_settings WHERE show_online = FALSE AND ", &[], ids, "user_id").await
}

/// SQL true when the user in `user_column` allows `flag` (a privacy column
/// of `user_settings`), e.g. for search.
pub fn allows_predicate(user_column: &str, flag: &str) -> String {
    format!("COALESCE((SELECT s.{flag} FROM user_settings s WHERE s.user_id = {user_column}), TRUE)")
}

/// SQL true when the user in `user_column` sends read receipts.
pub fn sends_receipts_predicate(user_column: &str) -> String {
    allows_predicate(user_column, "read_receipts")
}

/// The users among `ids` who switched a notification category off
/// (`category`: a key of `notifications.categories`, e.g. `system`).
pub async fn category_off(pool: &MySqlPool, ids: &[Uuid], category: &str) -> Result<HashSet<Uuid>, sqlx::Error> {
    // MariaDB's JSON_VALUE reads a JSON false as '0' (MySQL's as 'false').
    let head = format!("SELECT user_id FROM user_settings WHERE JSON_VALUE(document, '$.notifications.categories.{category}') IN ('0', 'false') AND ");
    crate::subset(pool, &head, &[], ids, "user_id").await
}
