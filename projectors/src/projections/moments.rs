//! `beaver.moments.v1` and `beaver.relations.v1` → `moments`,
//! `moment_likes`, `moment_comments`, the fan-out index `moment_timeline`
//! and the projection's own social graph `moment_pairs` (docs/services.md,
//! "Moments").
//!
//! Fan-out on write, the same whatever order the two topics are applied
//! in (a replay interleaves them differently from the live run): a pair of
//! users "sees" each other from `since` (the last time they became friends
//! with no block either way); a moment reaches a friend when it is applied
//! if it is no older than 30 days before `since`, and a pair that starts
//! seeing each other backfills the moments from 30 days before `since` on.
//! Both rules admit the same rows, so either order ends with the same index.
//! A pair that stops seeing each other loses its rows both ways.

use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{moment::MomentPosted, topics, MomentEvent, RawEnvelope, RelationEvent};
use beaver_readmodel::progress::MOMENTS_PROJECTOR;
use sqlx::{MySql, Transaction};
use time::PrimitiveDateTime;

pub struct Moments;

/// How far back a new friendship reaches.
const BACKFILL_DAYS: i64 = 30;

/// SQL true when the moment `m` lets the user in the column `viewer` see it (as a friend).
fn allows(viewer: &str) -> String {
    format!(
        "(m.visibility = 'friends' OR (m.visibility = 'selected' AND JSON_CONTAINS(m.users, JSON_QUOTE({viewer}))) \
          OR (m.visibility = 'except' AND NOT JSON_CONTAINS(m.users, JSON_QUOTE({viewer}))))"
    )
}

#[async_trait::async_trait]
impl Projection for Moments {
    fn name(&self) -> &'static str {
        MOMENTS_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::MOMENTS, topics::RELATIONS]
    }

    async fn apply(&self, tx: &mut Transaction<'static, MySql>, _ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = super::at(&env);
        if env.aggregate_type == "relation" {
            return relation(tx, env.decode::<RelationEvent>()?.payload, when).await;
        }
        match env.decode::<MomentEvent>()?.payload {
            MomentEvent::MomentPosted(e) => posted(tx, e, when).await?,
            MomentEvent::MomentDeleted(e) => {
                sqlx::query("UPDATE moments SET deleted = TRUE WHERE moment_id = ?").bind(e.moment_id.to_string()).execute(&mut **tx).await?;
                sqlx::query("DELETE FROM moment_timeline WHERE moment_id = ?").bind(e.moment_id.to_string()).execute(&mut **tx).await?;
            }
            MomentEvent::MomentLiked(e) => {
                sqlx::query("INSERT IGNORE INTO moment_likes (moment_id, user_id, created_at) VALUES (?, ?, ?)")
                    .bind(e.moment_id.to_string())
                    .bind(e.user_id.to_string())
                    .bind(when)
                    .execute(&mut **tx)
                    .await?;
            }
            MomentEvent::MomentUnliked(e) => {
                sqlx::query("DELETE FROM moment_likes WHERE moment_id = ? AND user_id = ?")
                    .bind(e.moment_id.to_string())
                    .bind(e.user_id.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
            MomentEvent::MomentCommented(e) => {
                sqlx::query(
                    "INSERT IGNORE INTO moment_comments (comment_id, moment_id, user_id, text, reply_to, reply_to_user_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(e.comment_id.to_string())
                .bind(e.moment_id.to_string())
                .bind(e.user_id.to_string())
                .bind(&e.text)
                .bind(e.reply_to.map(|r| r.to_string()))
                .bind(e.reply_to_user_id.map(|r| r.to_string()))
                .bind(when)
                .execute(&mut **tx)
                .await?;
            }
            MomentEvent::MomentCommentDeleted(e) => {
                sqlx::query("UPDATE moment_comments SET deleted = TRUE WHERE comment_id = ?").bind(e.comment_id.to_string()).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }
}

async fn posted(tx: &mut Transaction<'static, MySql>, e: MomentPosted, when: PrimitiveDateTime) -> Result<(), ApplyError> {
    let (id, author) = (e.moment_id.to_string(), e.author_id.to_string());
    let done = sqlx::query("INSERT IGNORE INTO moments (moment_id, author_id, text, media, visibility, users, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(&id)
        .bind(&author)
        .bind(&e.text)
        .bind(serde_json::to_string(&e.media).unwrap_or_else(|_| "[]".into()))
        .bind(e.visibility.as_str())
        .bind(serde_json::to_string(&e.users).unwrap_or_else(|_| "[]".into()))
        .bind(when)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(());
    }
    sqlx::query("INSERT IGNORE INTO moment_timeline (viewer_id, moment_id, author_id) VALUES (?, ?, ?)").bind(&author).bind(&id).bind(&author).execute(&mut **tx).await?;
    sqlx::query(&format!(
        "INSERT IGNORE INTO moment_timeline (viewer_id, moment_id, author_id) \
         SELECT p.other_id, m.moment_id, m.author_id FROM moments m JOIN moment_pairs p ON p.user_id = m.author_id \
         JOIN moment_pairs q ON q.user_id = p.other_id AND q.other_id = p.user_id \
         WHERE m.moment_id = ? AND p.friends AND NOT p.blocked AND NOT q.blocked \
           AND m.created_at >= p.since - INTERVAL {BACKFILL_DAYS} DAY AND {}",
        allows("p.other_id")
    ))
    .bind(&id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets `assignment` (with `value` for its one `?`, if any) on both rows of a pair.
async fn both_rows(tx: &mut Transaction<'static, MySql>, assignment: &str, value: Option<PrimitiveDateTime>, a: &str, b: &str) -> Result<(), sqlx::Error> {
    let sql = format!("UPDATE moment_pairs SET {assignment} WHERE (user_id = ? AND other_id = ?) OR (user_id = ? AND other_id = ?)");
    let mut q = sqlx::query(&sql);
    if let Some(v) = value {
        q = q.bind(v);
    }
    q.bind(a).bind(b).bind(b).bind(a).execute(&mut **tx).await?;
    Ok(())
}

/// Whether the pair sees each other now (both rows' flags).
async fn sees(tx: &mut Transaction<'static, MySql>, a: &str, b: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM moment_pairs p JOIN moment_pairs q ON q.user_id = p.other_id AND q.other_id = p.user_id \
         WHERE p.user_id = ? AND p.other_id = ? AND p.friends AND NOT p.blocked AND NOT q.blocked",
    )
    .bind(a)
    .bind(b)
    .fetch_one(&mut **tx)
    .await?;
    Ok(n > 0)
}

async fn relation(tx: &mut Transaction<'static, MySql>, event: RelationEvent, when: PrimitiveDateTime) -> Result<(), ApplyError> {
    let (x, y) = event.users();
    let (a, b) = (x.to_string(), y.to_string());
    // Only what changes whether the pair sees each other.
    let change: &str = match &event {
        RelationEvent::FriendRequestAccepted(_) => "friends = TRUE",
        RelationEvent::FriendRemoved(_) => "friends = FALSE",
        RelationEvent::UserBlocked(_) | RelationEvent::UserUnblocked(_) => "",
        _ => return Ok(()),
    };
    for (u, o) in [(&a, &b), (&b, &a)] {
        sqlx::query("INSERT IGNORE INTO moment_pairs (user_id, other_id) VALUES (?, ?)").bind(u).bind(o).execute(&mut **tx).await?;
    }
    let before = sees(tx, &a, &b).await?;
    match &event {
        RelationEvent::UserBlocked(e) | RelationEvent::UserUnblocked(e) => {
            let blocked = matches!(event, RelationEvent::UserBlocked(_));
            sqlx::query("UPDATE moment_pairs SET blocked = ? WHERE user_id = ? AND other_id = ?")
                .bind(blocked)
                .bind(e.user_id.to_string())
                .bind(e.blocked_user_id.to_string())
                .execute(&mut **tx)
                .await?;
        }
        _ => both_rows(tx, change, None, &a, &b).await?,
    }
    let after = sees(tx, &a, &b).await?;
    if !before && after {
        both_rows(tx, "since = ?", Some(when), &a, &b).await?;
        for (viewer, author) in [(&a, &b), (&b, &a)] {
            sqlx::query(&format!(
                "INSERT IGNORE INTO moment_timeline (viewer_id, moment_id, author_id) \
                 SELECT ?, m.moment_id, m.author_id FROM moments m \
                 WHERE m.author_id = ? AND NOT m.deleted AND m.created_at >= ? - INTERVAL {BACKFILL_DAYS} DAY AND {}",
                allows("?")
            ))
            .bind(viewer)
            .bind(author)
            .bind(when)
            .bind(viewer)
            .bind(viewer)
            .execute(&mut **tx)
            .await?;
        }
    } else if before && !after {
        for (viewer, author) in [(&a, &b), (&b, &a)] {
            sqlx::query("DELETE FROM moment_timeline WHERE viewer_id = ? AND author_id = ?").bind(viewer).bind(author).execute(&mut **tx).await?;
        }
    }
    Ok(())
}
