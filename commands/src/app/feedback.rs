//! Feedback from users (docs/services.md, "Feedback"). Around the pure
//! `domain::feedback::decide_submit`: a repeat of a `client_feedback_id` is
//! answered with the original (a claim in `cmd_claims`, owned by the
//! feedback id); a report's target must be one the reporter can see (else
//! 404, as if it did not exist); at most [`feedback::PER_DAY`] submissions
//! in any 24 hours, counted atomically in a Redis sorted set.

use super::{Created, Origin};
use crate::{
    store::claims::{self, ClaimKind, ClaimError},
    AppState,
};
use beaver_events::{
    feedback::{FeedbackEvent, Target, TargetType},
    message::ConversationRef,
    DomainEvent,
};
use beaver_platform::http::ApiError;
use beaver_readmodel::{conversation, feedback as read, group, keys, progress::FEEDBACK_PROJECTOR, user as users};
use beaver_writemodel::domain::{
    feedback::{self, SubmitRequest},
    Ctx,
};
use serde::Serialize;
use std::time::Duration;
use uuid::Uuid;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The answer: the feedback's id, status and when it was submitted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = feedback::Submitted)]
pub struct Submitted {
    pub feedback_id: Uuid,
    /// `open` when new; a repeat answers the current one (`open`, `in_progress`, `resolved` or `rejected`).
    pub status: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Checks, counts and reserves one submission in `user`'s last 24 hours;
/// 429 (with the seconds until the oldest counted one expires) past the limit.
const RESERVE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[4]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return -1
";

async fn reserve(s: &AppState, user: Uuid, feedback_id: Uuid) -> Result<(), ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    let oldest: i64 = redis::Script::new(RESERVE)
        .key(keys::feedback_recent(user))
        .arg(now_ms)
        .arg(feedback_id.to_string())
        .arg(feedback::PER_DAY)
        .arg(DAY_MS)
        .invoke_async(&mut s.redis.clone())
        .await?;
    if oldest >= 0 {
        let retry_after_secs = ((oldest + DAY_MS - now_ms).max(1000) + 999) / 1000;
        return Err(ApiError::TooManyRequests { retry_after_secs: retry_after_secs as u64 });
    }
    Ok(())
}

/// Gives a reservation back (the submission was not appended).
async fn unreserve(s: &AppState, user: Uuid, feedback_id: Uuid) {
    let removed: Result<i64, _> = redis::cmd("ZREM").arg(keys::feedback_recent(user)).arg(feedback_id.to_string()).query_async(&mut s.redis.clone()).await;
    if let Err(e) = removed {
        tracing::warn!(error = %e, "could not give back a feedback reservation; it expires within a day");
    }
}

/// 404 unless `reporter` may see `target`.
async fn ensure_visible(s: &AppState, reporter: Uuid, target: &Target) -> Result<(), ApiError> {
    let visible = match target.kind {
        TargetType::User => users::exists(&s.pool, target.id).await?,
        TargetType::Group => group::is_member(&s.pool, target.id, reporter).await?,
        TargetType::Message => match conversation::message(&s.pool, target.id).await? {
            Some(m) if !m.recalled => match ConversationRef::parse(&m.conversation_id) {
                Some(c) => conversation::can_read(&s.pool, c, reporter).await?,
                None => false,
            },
            _ => false,
        },
    };
    if visible {
        Ok(())
    } else {
        Err(ApiError::NotFound("no such target".into()))
    }
}

fn claim_value(user: Uuid, client_feedback_id: &str) -> String {
    let hex: String = client_feedback_id.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{user}:{hex}")
}

/// The original of a repeat, once the projection shows it (bounded wait).
async fn original(s: &AppState, feedback_id: Uuid) -> Result<Created<Submitted>, ApiError> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(s.config.projection_wait_ms);
    loop {
        if let Some(f) = read::by_id(&s.pool, feedback_id).await? {
            let created_at = beaver_readmodel::rfc3339(f.created_at);
            return Ok(Created { visible: true, repeat: true, data: Submitted { feedback_id, status: f.status, created_at } });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Unavailable(anyhow::anyhow!("the original feedback {feedback_id} is not projected yet; retry")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST /api/feedback`.
pub async fn submit(s: &AppState, origin: &Origin, req: SubmitRequest) -> Result<Created<Submitted>, ApiError> {
    let me = origin.actor;
    let client_id = feedback::client_feedback_id(&req)?;
    let claim = client_id.as_deref().map(|id| claim_value(me, id));
    if let Some(value) = &claim {
        if let Some(original_id) = claims::owner_of(&s.pool, ClaimKind::FeedbackId, value).await? {
            return original(s, original_id).await;
        }
    }
    let ctx = Ctx::live(me);
    let event = feedback::decide_submit(req, &ctx)?;
    let FeedbackEvent::FeedbackSubmitted(submitted) = &event else { unreachable!("decide_submit decides a submission") };
    let feedback_id = submitted.feedback_id;
    if let Some(target) = &submitted.target {
        ensure_visible(s, me, target).await?;
    }
    reserve(s, me, feedback_id).await?;
    if let Some(value) = &claim {
        let stale = Duration::from_secs(s.config.claim_stale_after_secs);
        match claims::claim(&s.pool, feedback_id, &[(ClaimKind::FeedbackId, value)], stale).await {
            Ok(()) => {}
            Err(ClaimError::Taken(_)) => {
                // A concurrent repeat won the claim: answer with its original.
                unreserve(s, me, feedback_id).await;
                let winner = claims::owner_of(&s.pool, ClaimKind::FeedbackId, value).await?;
                return original(s, winner.ok_or_else(|| ApiError::Unavailable(anyhow::anyhow!("claim vanished; retry")))?).await;
            }
            Err(ClaimError::Database(e)) => {
                unreserve(s, me, feedback_id).await;
                return Err(e.into());
            }
        }
    }
    let envelope = beaver_events::Envelope::new(event, beaver_events::Actor::User(me), origin.correlation.clone(), None);
    let appended = s.append(&envelope).await;
    let appended = match claim {
        Some(_) => claims::settle(&s.pool, feedback_id, appended).await,
        None => appended,
    };
    let position = match appended {
        Ok(p) => p,
        Err(e) => {
            unreserve(s, me, feedback_id).await;
            return Err(e);
        }
    };
    let visible = s.visible(FEEDBACK_PROJECTOR, FeedbackEvent::TOPIC, position).await?;
    let at = envelope.occurred_at.to_offset(time::UtcOffset::UTC);
    let created_at = beaver_readmodel::rfc3339(time::PrimitiveDateTime::new(at.date(), at.time()));
    Ok(Created { visible, repeat: false, data: Submitted { feedback_id, status: "open".into(), created_at } })
}
