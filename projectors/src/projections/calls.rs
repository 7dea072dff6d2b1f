//! `beaver.calls.v1` → `calls` and `call_participants` (docs/services.md,
//! "Calls"). Every event of a call is on one partition, in order.

use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{topics, CallEvent, RawEnvelope};
use beaver_readmodel::progress::CALLS_PROJECTOR;
use sqlx::{MySql, Transaction};
use time::PrimitiveDateTime;
use uuid::Uuid;

pub struct Calls;

async fn part(tx: &mut Transaction<'static, MySql>, call: Uuid, user: Uuid, part: &str, only_if: Option<&str>) -> Result<(), sqlx::Error> {
    let mut sql = "UPDATE call_participants SET part = ? WHERE call_id = ? AND user_id = ?".to_owned();
    if only_if.is_some() {
        sql.push_str(" AND part = ?");
    }
    let mut q = sqlx::query(&sql).bind(part).bind(call.to_string()).bind(user.to_string());
    if let Some(p) = only_if {
        q = q.bind(p);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// A user bound a device: in the call (inserted if they were not rung), the call active.
async fn bound(tx: &mut Transaction<'static, MySql>, call: Uuid, user: Uuid, device: &str, when: PrimitiveDateTime) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO call_participants (call_id, user_id, part, device_id) VALUES (?, ?, 'joined', ?) \
         ON DUPLICATE KEY UPDATE part = 'joined', device_id = VALUES(device_id), ring_until = NULL",
    )
    .bind(call.to_string())
    .bind(user.to_string())
    .bind(device)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE calls SET status = 'active', answered_at = COALESCE(answered_at, ?) WHERE call_id = ? AND status <> 'ended'")
        .bind(when)
        .bind(call.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Invitees start ringing until `when` + the call's ring timeout.
async fn ring(tx: &mut Transaction<'static, MySql>, call: Uuid, users: &[Uuid], when: PrimitiveDateTime, timeout_secs: i64) -> Result<(), sqlx::Error> {
    for u in users {
        sqlx::query(
            "INSERT INTO call_participants (call_id, user_id, part, ring_until) VALUES (?, ?, 'ringing', ?) \
             ON DUPLICATE KEY UPDATE part = 'ringing', ring_until = VALUES(ring_until), device_id = NULL",
        )
        .bind(call.to_string())
        .bind(u.to_string())
        .bind(when + time::Duration::seconds(timeout_secs))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Projection for Calls {
    fn name(&self) -> &'static str {
        CALLS_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::CALLS]
    }

    async fn apply(&self, tx: &mut Transaction<'static, MySql>, _ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = super::at(&env);
        match env.decode::<CallEvent>()?.payload {
            CallEvent::CallStarted(e) => {
                let done = sqlx::query(
                    "INSERT IGNORE INTO calls (call_id, conversation_id, caller_id, media, status, ring_timeout_secs, started_at) VALUES (?, ?, ?, ?, 'ringing', ?, ?)",
                )
                .bind(e.call_id.to_string())
                .bind(&e.conversation_id)
                .bind(e.caller_id.to_string())
                .bind(e.media.as_str())
                .bind(e.ring_timeout_secs as i32)
                .bind(when)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 1 {
                    sqlx::query("INSERT IGNORE INTO call_participants (call_id, user_id, part, device_id) VALUES (?, ?, 'joined', ?)")
                        .bind(e.call_id.to_string())
                        .bind(e.caller_id.to_string())
                        .bind(&e.caller_device_id)
                        .execute(&mut **tx)
                        .await?;
                    ring(tx, e.call_id, &e.invitees, when, e.ring_timeout_secs as i64).await?;
                }
            }
            CallEvent::CallAccepted(e) | CallEvent::CallJoined(e) => bound(tx, e.call_id, e.user_id, &e.device_id, when).await?,
            CallEvent::CallDeclined(e) => part(tx, e.call_id, e.user_id, "declined", Some("ringing")).await?,
            CallEvent::CallLeft(e) => part(tx, e.call_id, e.user_id, "left", Some("joined")).await?,
            CallEvent::CallMissed(e) => {
                for u in &e.user_ids {
                    part(tx, e.call_id, *u, "missed", Some("ringing")).await?;
                }
            }
            CallEvent::CallCancelled(_) => {}
            CallEvent::CallInvited(e) => {
                let timeout: Option<i32> = sqlx::query_scalar("SELECT ring_timeout_secs FROM calls WHERE call_id = ?").bind(e.call_id.to_string()).fetch_optional(&mut **tx).await?;
                ring(tx, e.call_id, &e.user_ids, when, timeout.unwrap_or(30) as i64).await?;
            }
            CallEvent::CallEnded(e) => {
                sqlx::query("UPDATE calls SET status = 'ended', result = ?, ended_at = ?, duration_ms = ? WHERE call_id = ?")
                    .bind(e.result.as_str())
                    .bind(when)
                    .bind(e.duration_ms)
                    .bind(e.call_id.to_string())
                    .execute(&mut **tx)
                    .await?;
                // Whoever was still rung missed it; whoever was in it left.
                sqlx::query("UPDATE call_participants SET part = IF(part = 'ringing', 'missed', IF(part = 'joined', 'left', part)) WHERE call_id = ?")
                    .bind(e.call_id.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}
