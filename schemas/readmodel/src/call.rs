//! The calls read models (from `beaver.calls.v1`, docs/services.md,
//! "Calls"): each call and its participants, for the write side's rules,
//! the ring sweeper, the history and the signal relay.

use crate::{rfc3339, uuid};
use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use time::PrimitiveDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, FromRow)]
pub struct CallRow {
    pub call_id: String,
    pub conversation_id: String,
    pub caller_id: String,
    pub media: String,
    pub status: String,
    pub result: Option<String>,
    pub ring_timeout_secs: i32,
    pub started_at: PrimitiveDateTime,
    pub answered_at: Option<PrimitiveDateTime>,
    pub ended_at: Option<PrimitiveDateTime>,
    pub duration_ms: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct ParticipantRow {
    pub user_id: String,
    pub part: String,
    pub device_id: Option<String>,
    pub ring_until: Option<PrimitiveDateTime>,
}

const CALL_COLUMNS: &str = "call_id, conversation_id, caller_id, media, status, result, ring_timeout_secs, started_at, answered_at, ended_at, duration_ms";

/// A call and its participants.
pub async fn load(pool: &MySqlPool, call_id: Uuid) -> Result<Option<(CallRow, Vec<ParticipantRow>)>, sqlx::Error> {
    let call: Option<CallRow> = sqlx::query_as(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE call_id = ?")).bind(call_id.to_string()).fetch_optional(pool).await?;
    let Some(call) = call else { return Ok(None) };
    let parts = participants(pool, &call.call_id).await?;
    Ok(Some((call, parts)))
}

async fn participants(pool: &MySqlPool, call_id: &str) -> Result<Vec<ParticipantRow>, sqlx::Error> {
    sqlx::query_as("SELECT user_id, part, device_id, ring_until FROM call_participants WHERE call_id = ? ORDER BY user_id").bind(call_id).fetch_all(pool).await
}

/// Calls with a ring that ended by `now` (for the sweeper).
pub async fn rings_ended(pool: &MySqlPool, now: PrimitiveDateTime, limit: u32) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT call_id FROM call_participants WHERE part = 'ringing' AND ring_until <= ? LIMIT ?").bind(now).bind(limit as i64).fetch_all(pool).await?;
    rows.into_iter().map(|(c,)| uuid(&c)).collect()
}

/// The device `user` bound in the call, if they are in it and it has not ended.
pub async fn bound_device(pool: &MySqlPool, call_id: Uuid, user: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT p.device_id FROM call_participants p JOIN calls c ON c.call_id = p.call_id \
         WHERE p.call_id = ? AND p.user_id = ? AND p.part = 'joined' AND c.status <> 'ended' AND p.device_id IS NOT NULL",
    )
    .bind(call_id.to_string())
    .bind(user.to_string())
    .fetch_optional(pool)
    .await
}

/// `(call, user, device)` of every bound device in a call that has not ended.
pub async fn bound_devices(pool: &MySqlPool, limit: u32) -> Result<Vec<(Uuid, Uuid, String)>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT p.call_id, p.user_id, p.device_id FROM call_participants p JOIN calls c ON c.call_id = p.call_id \
         WHERE c.status <> 'ended' AND p.part = 'joined' AND p.device_id IS NOT NULL LIMIT ?",
    )
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|(c, u, d)| Ok((uuid(&c)?, uuid(&u)?, d))).collect()
}

/// A participant as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = call::Participant)]
pub struct Shown {
    pub user_id: String,
    /// `ringing`, `joined`, `declined`, `missed` or `left`.
    pub state: String,
    /// The bound device: in the viewer's own entry only, `null` in the others.
    pub device_id: Option<String>,
}

/// A call as shown to one of its participants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Call {
    pub call_id: String,
    pub conversation_id: String,
    pub caller_id: String,
    /// `audio` or `video`.
    pub media: String,
    /// `ringing`, `active` or `ended`.
    pub status: String,
    /// `completed`, `missed`, `declined` or `cancelled`; `null` until the call ended.
    pub result: Option<String>,
    #[schema(format = DateTime)]
    pub started_at: String,
    /// The first accept.
    #[schema(format = DateTime)]
    pub answered_at: Option<String>,
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
    /// From the first accept to the end; 0 when never answered.
    pub duration_ms: i64,
    pub participants: Vec<Shown>,
}

fn shown(viewer: Uuid, call: CallRow, parts: Vec<ParticipantRow>) -> Call {
    let me = viewer.to_string();
    Call {
        participants: parts
            .into_iter()
            .map(|p| Shown { device_id: if p.user_id == me { p.device_id } else { None }, user_id: p.user_id, state: p.part })
            .collect(),
        call_id: call.call_id,
        conversation_id: call.conversation_id,
        caller_id: call.caller_id,
        media: call.media,
        status: call.status,
        result: call.result,
        started_at: rfc3339(call.started_at),
        answered_at: call.answered_at.map(rfc3339),
        ended_at: call.ended_at.map(rfc3339),
        duration_ms: call.duration_ms,
    }
}

/// One call, if `viewer` was rung by or in it.
pub async fn one(pool: &MySqlPool, viewer: Uuid, call_id: Uuid) -> Result<Option<Call>, sqlx::Error> {
    let Some((call, parts)) = load(pool, call_id).await? else { return Ok(None) };
    if !parts.iter().any(|p| p.user_id == viewer.to_string()) {
        return Ok(None);
    }
    Ok(Some(shown(viewer, call, parts)))
}

/// `{calls, next_before}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = call::History)]
pub struct History {
    pub calls: Vec<Call>,
    /// The last call's id when more may follow, else `null`.
    pub next_before: Option<String>,
}

/// The calls `viewer` made or was rung for, newest first (call ids are UUIDv7).
pub async fn history(pool: &MySqlPool, viewer: Uuid, before: Option<Uuid>, limit: u32) -> Result<History, sqlx::Error> {
    let mut rows: Vec<CallRow> = sqlx::query_as(&format!(
        "SELECT {} FROM calls c JOIN call_participants p ON p.call_id = c.call_id WHERE p.user_id = ? AND c.call_id < ? ORDER BY c.call_id DESC LIMIT ?",
        CALL_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ")
    ))
    .bind(viewer.to_string())
    .bind(before.map(|b| b.to_string()).unwrap_or_else(|| "g".into()))
    .bind(limit as i64 + 1)
    .fetch_all(pool)
    .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_before = if more { rows.last().map(|r| r.call_id.clone()) } else { None };
    let mut calls = Vec::with_capacity(rows.len());
    for r in rows {
        let parts = participants(pool, &r.call_id).await?;
        calls.push(shown(viewer, r, parts));
    }
    Ok(History { calls, next_before })
}
