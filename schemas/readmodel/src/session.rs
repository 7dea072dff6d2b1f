//! The `sessions` read model (from `beaver.sessions.v1`): what a refresh
//! checks. The Redis side (live and revoked session keys) is in [`crate::keys`].

use sqlx::MySqlPool;
use time::PrimitiveDateTime;
use uuid::Uuid;

/// A stored session.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub user_id: Uuid,
    /// SHA-256 of the current refresh token.
    pub refresh_token_hash: String,
    pub generation: i32,
    pub refresh_expires_at: PrimitiveDateTime,
    /// `active` or `ended`.
    pub status: String,
}

pub async fn load(pool: &MySqlPool, session_id: Uuid) -> Result<Option<SessionRow>, sqlx::Error> {
    let row: Option<(String, String, i32, PrimitiveDateTime, String)> =
        sqlx::query_as("SELECT user_id, refresh_token_hash, generation, refresh_expires_at, status FROM sessions WHERE session_id = ?")
            .bind(session_id.to_string())
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(user_id, refresh_token_hash, generation, refresh_expires_at, status)| {
        Some(SessionRow { user_id: Uuid::try_parse(&user_id).ok()?, refresh_token_hash, generation, refresh_expires_at, status })
    }))
}
