//! `beaver.sessions.v1` → table `sessions`, plus the Redis keys every tier
//! checks when it accepts an access token: `beaver:session:live:<id>` (the
//! user id, while the session lives) and `beaver:session:revoked:<id>` (once
//! it ended). Both are absolute writes with expiries taken from the events,
//! so a replay leaves the same keys.

use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{topics, RawEnvelope, SessionEvent};
use beaver_readmodel::{
    keys::{session_live, session_revoked},
    progress::SESSIONS_PROJECTOR,
};
use redis::AsyncCommands;
use sqlx::{MySql, Transaction};
use time::{OffsetDateTime, PrimitiveDateTime};

pub struct Sessions;

fn utc(t: OffsetDateTime) -> PrimitiveDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    PrimitiveDateTime::new(t.date(), t.time())
}

/// Seconds a live-session key must stay: until the session's refresh token
/// expires (no access token can be issued after that) plus the access-token
/// lifetime and a minute of slack. `None` once that has passed.
pub fn live_ttl_secs(refresh_expires_at: OffsetDateTime, access_ttl: std::time::Duration, now: OffsetDateTime) -> Option<u64> {
    revocation_ttl_secs(refresh_expires_at, access_ttl, now)
}

/// Seconds a revocation must stay in Redis: until the last access token the
/// session could have issued (at most `ttl` before the end) has expired, plus
/// a minute of clock slack. `None` when that moment has passed — as for old
/// events during a replay — and nothing needs writing.
pub fn revocation_ttl_secs(ended_at: OffsetDateTime, access_ttl: std::time::Duration, now: OffsetDateTime) -> Option<u64> {
    let until = ended_at + access_ttl + time::Duration::minutes(1);
    let left = (until - now).whole_seconds();
    (left > 0).then_some(left as u64)
}

#[async_trait::async_trait]
impl Projection for Sessions {
    fn name(&self) -> &'static str {
        SESSIONS_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::SESSIONS]
    }

    async fn apply(&self, tx: &mut Transaction<'static, MySql>, ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let occurred = env.occurred_at;
        let when = utc(occurred);
        match env.decode::<SessionEvent>()?.payload {
            SessionEvent::SessionStarted(e) => {
                sqlx::query(
                    "INSERT INTO sessions (session_id, user_id, refresh_token_hash, generation, refresh_expires_at, status, started_at, updated_at) \
                     VALUES (?, ?, ?, 0, ?, 'active', ?, ?) ON DUPLICATE KEY UPDATE session_id = session_id",
                )
                .bind(e.session_id.to_string())
                .bind(e.user_id.to_string())
                .bind(&e.refresh_token_hash)
                .bind(utc(e.refresh_expires_at))
                .bind(when)
                .bind(when)
                .execute(&mut **tx)
                .await?;
                if let Some(ttl) = live_ttl_secs(e.refresh_expires_at, ctx.access_token_ttl, OffsetDateTime::now_utc()) {
                    let _: () = ctx.redis.clone().set_ex(session_live(&e.session_id), e.user_id.to_string(), ttl).await?;
                }
            }
            SessionEvent::SessionRefreshed(e) => {
                // Guarded by generation: an older rotation never overwrites a newer one.
                sqlx::query(
                    "UPDATE sessions SET refresh_token_hash = ?, generation = ?, refresh_expires_at = ?, updated_at = ? \
                     WHERE session_id = ? AND generation < ?",
                )
                .bind(&e.refresh_token_hash)
                .bind(e.generation)
                .bind(utc(e.refresh_expires_at))
                .bind(when)
                .bind(e.session_id.to_string())
                .bind(e.generation)
                .execute(&mut **tx)
                .await?;
                // Only a live session's key is extended: a late rotation never revives an ended one.
                let active: Option<(String,)> = sqlx::query_as("SELECT status FROM sessions WHERE session_id = ? AND status = 'active'")
                    .bind(e.session_id.to_string())
                    .fetch_optional(&mut **tx)
                    .await?;
                if let (Some(_), Some(ttl)) = (active, live_ttl_secs(e.refresh_expires_at, ctx.access_token_ttl, OffsetDateTime::now_utc())) {
                    let _: () = ctx.redis.clone().set_ex(session_live(&e.session_id), e.user_id.to_string(), ttl).await?;
                }
            }
            SessionEvent::SessionEnded(e) => {
                sqlx::query("UPDATE sessions SET status = 'ended', end_reason = ?, updated_at = ? WHERE session_id = ? AND status = 'active'")
                    .bind(e.reason.as_str())
                    .bind(when)
                    .bind(e.session_id.to_string())
                    .execute(&mut **tx)
                    .await?;
                let _: () = ctx.redis.clone().del(session_live(&e.session_id)).await?;
                if let Some(ttl) = revocation_ttl_secs(occurred, ctx.access_token_ttl, OffsetDateTime::now_utc()) {
                    // Absolute SET with expiry: replaying it is harmless.
                    let _: () = ctx.redis.clone().set_ex(session_revoked(&e.session_id), e.reason.as_str(), ttl).await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fresh_logout_is_remembered_for_the_token_lifetime_plus_slack() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(revocation_ttl_secs(now, Duration::from_secs(900), now), Some(960));
    }

    #[test]
    fn a_logout_older_than_any_token_needs_no_revocation_key() {
        let now = OffsetDateTime::now_utc();
        let long_ago = now - time::Duration::hours(2);
        assert_eq!(revocation_ttl_secs(long_ago, Duration::from_secs(900), now), None);
    }
}
