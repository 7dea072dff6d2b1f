//! Projector progress: which projection is which, and how far each has
//! applied each partition (`projector_offsets`, written by the projectors in
//! the same transaction as their rows). Read-your-writes waiters and the chat
//! read barrier compare these offsets with what was appended.

use std::collections::HashMap;

/// Projector building `users` from `beaver.users.v1`.
pub const USERS_PROJECTOR: &str = "users";
/// Projector building `sessions` and the Redis session keys from `beaver.sessions.v1`.
pub const SESSIONS_PROJECTOR: &str = "sessions";
/// Projector building friend requests, friendships and blocks from `beaver.relations.v1`.
pub const RELATIONS_PROJECTOR: &str = "relations";
/// Projector building groups, members and join requests from `beaver.groups.v1`.
pub const GROUPS_PROJECTOR: &str = "groups";
/// Projector storing messages and conversation state from `beaver.sequenced.v1`.
pub const MESSAGES_PROJECTOR: &str = "messages";
/// Projector building `feedback` from `beaver.feedback.v1`.
pub const FEEDBACK_PROJECTOR: &str = "feedback";
/// Projector building `app_releases` and `announcements` from `beaver.system.v1`.
pub const SYSTEM_PROJECTOR: &str = "system";
/// Projector building `files` and `file_parts` from `beaver.files.v1`.
pub const FILES_PROJECTOR: &str = "files";
/// Projector building favourites, packs and collections from `beaver.emoji.v1`.
pub const EMOJI_PROJECTOR: &str = "emoji";
/// Projector building `notifications`, `push_tokens` and the unread counts from `beaver.notifications.v1`.
pub const NOTIFICATIONS_PROJECTOR: &str = "notifications";
/// Projector building moments, likes, comments and the timeline index from `beaver.moments.v1` and `beaver.relations.v1`.
pub const MOMENTS_PROJECTOR: &str = "moments";
/// Projector building `calls` and `call_participants` from `beaver.calls.v1`.
pub const CALLS_PROJECTOR: &str = "calls";

/// The next offset `projector` will apply in `topic`/`partition` (0 if it has not started).
pub async fn next_offset(pool: &sqlx::MySqlPool, projector: &str, topic: &str, partition: i32) -> Result<i64, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT next_offset FROM projector_offsets WHERE projector = ? AND topic = ? AND partition_id = ?")
        .bind(projector)
        .bind(topic)
        .bind(partition)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.0).unwrap_or(0))
}

/// Partition → next offset to apply, for every partition `projector` has stored in `topic`.
pub async fn next_offsets(pool: &sqlx::MySqlPool, projector: &str, topic: &str) -> Result<HashMap<i32, i64>, sqlx::Error> {
    let rows: Vec<(i32, i64)> = sqlx::query_as("SELECT partition_id, next_offset FROM projector_offsets WHERE projector = ? AND topic = ?")
        .bind(projector)
        .bind(topic)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().collect())
}
