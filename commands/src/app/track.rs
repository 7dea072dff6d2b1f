//! Client analytics: `domain::track::decide` checks the batch; the accepted
//! events are appended to `beaver.track.v1` concurrently and the answer waits
//! for every acknowledgement, so nothing answered is lost. Rate limits per
//! minute: 10 batches per user (with a token) or per device, and 60 per
//! client address without a token.

use super::Written;
use crate::AppState;
use beaver_events::{Actor, Envelope};
use beaver_platform::http::ApiError;
use beaver_readmodel::keys;
use beaver_writemodel::domain::{
    track::{self, TrackBatch},
    Ctx,
};
use serde::Serialize;
use uuid::Uuid;

pub const PER_USER_OR_DEVICE_PER_MINUTE: u32 = 10;
pub const PER_ADDRESS_PER_MINUTE: u32 = 60;

/// An event the batch did not accept, and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = track::Rejected)]
pub struct Rejected {
    /// The event's position in `events`.
    pub index: usize,
    /// `name`, `ts`, `props`, `client_event_id` or `event` (not an event object).
    pub field: &'static str,
    pub error: String,
}

/// The answer: how many were appended, which were not, which had their clock clamped.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = track::Tracked)]
pub struct Tracked {
    /// How many events were appended.
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
    /// Indexes of accepted events whose `ts` was clamped.
    pub clamped: Vec<usize>,
}

/// Counts one batch of `subject` in the current minute; 429 past `limit`.
async fn rate_limit(s: &AppState, subject: &str, limit: u32) -> Result<(), ApiError> {
    let key = keys::track_batches(subject);
    let (count, ttl): (u32, i64) = redis::pipe().incr(&key, 1).ttl(&key).query_async(&mut s.redis.clone()).await?;
    if ttl < 0 {
        let _: () = redis::cmd("EXPIRE").arg(&key).arg(60).query_async(&mut s.redis.clone()).await?;
    }
    if count > limit {
        return Err(ApiError::TooManyRequests { retry_after_secs: ttl.max(1) as u64 });
    }
    Ok(())
}

/// Ingests a batch from `user` (None: anonymous) at client address `address`.
pub async fn ingest(s: &AppState, user: Option<Uuid>, address: Option<String>, correlation: String, batch: TrackBatch) -> Result<Written<Tracked>, ApiError> {
    let ctx = Ctx::live(user.unwrap_or_else(Uuid::nil));
    let device = batch.device_id.clone();
    let decided = track::decide(batch, user, &ctx)?;
    match user {
        Some(u) => rate_limit(s, &format!("user:{u}"), PER_USER_OR_DEVICE_PER_MINUTE).await?,
        None => {
            rate_limit(s, &format!("device:{device}"), PER_USER_OR_DEVICE_PER_MINUTE).await?;
            if let Some(addr) = &address {
                rate_limit(s, &format!("ip:{addr}"), PER_ADDRESS_PER_MINUTE).await?;
            }
        }
    }
    let actor = user.map_or(Actor::System, Actor::User);
    let appends = decided.accepted.into_iter().map(|(_, event)| {
        let envelope = Envelope::new(event, actor.clone(), correlation.clone(), None);
        async move { s.append(&envelope).await }
    });
    let accepted = futures::future::try_join_all(appends).await?.len();
    let rejected = decided.rejected.into_iter().map(|r| Rejected { index: r.index, field: r.field, error: r.reason }).collect();
    // 202: appended for analysts; nothing reads it back through the API.
    Ok(Written::new(false, Tracked { accepted, rejected, clamped: decided.clamped }))
}
