//! `beaver.notifications.v1` → `notifications` (each user's inbox, ordered
//! by a per-user position from `sync_versions`), `push_tokens`, and the
//! unread counts in the Redis hash `beaver:notif:unread:<user>`
//! (docs/services.md, "Notifications").
//!
//! Every event of a user is on one partition, in order, so coalescing (a
//! new item joining the user's unread item with the same `group_key`) and
//! positions come out the same on a replay.

use super::sync::bump;
use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{
    notification::{NotificationCreated, NotificationsRead},
    topics, NotificationEvent, RawEnvelope,
};
use beaver_readmodel::{
    keys,
    notification::{Unread, KEEP_DAYS, KEEP_ITEMS, POSITION_LIST},
    progress::NOTIFICATIONS_PROJECTOR,
};
use sha2::{Digest, Sha256};
use sqlx::{MySql, QueryBuilder, Transaction};
use time::PrimitiveDateTime;
use uuid::Uuid;

pub struct Notifications;

/// Actors an item shows (newest first).
const SHOWN_ACTORS: usize = 3;

#[async_trait::async_trait]
impl Projection for Notifications {
    fn name(&self) -> &'static str {
        NOTIFICATIONS_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::NOTIFICATIONS]
    }

    async fn apply(&self, tx: &mut Transaction<'static, MySql>, ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = super::at(&env);
        let user = match env.decode::<NotificationEvent>()?.payload {
            NotificationEvent::NotificationCreated(e) => {
                let user = e.user_id;
                if !created(tx, e, when).await? {
                    return Ok(());
                }
                user
            }
            NotificationEvent::NotificationsRead(e) => {
                let user = e.user_id;
                read(tx, &e).await?;
                user
            }
            NotificationEvent::NotificationDeleted(e) => {
                sqlx::query("UPDATE notifications SET deleted = TRUE WHERE user_id = ? AND notification_id = ?")
                    .bind(e.user_id.to_string())
                    .bind(e.notification_id.to_string())
                    .execute(&mut **tx)
                    .await?;
                e.user_id
            }
            NotificationEvent::PushTokenRegistered(e) => {
                sqlx::query(
                    "REPLACE INTO push_tokens (user_id, device_id, session_id, platform, token, token_hash, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(e.user_id.to_string())
                .bind(&e.device_id)
                .bind(e.session_id.to_string())
                .bind(e.platform.as_str())
                .bind(&e.token)
                .bind(hex::encode(Sha256::digest(e.token.as_bytes())))
                .bind(when)
                .execute(&mut **tx)
                .await?;
                return Ok(());
            }
            NotificationEvent::PushTokenRevoked(e) => {
                sqlx::query("DELETE FROM push_tokens WHERE user_id = ? AND device_id = ?").bind(e.user_id.to_string()).bind(&e.device_id).execute(&mut **tx).await?;
                return Ok(());
            }
        };
        counts(tx, ctx, user).await
    }
}

/// Applies a new item; false when it was applied before.
async fn created(tx: &mut Transaction<'static, MySql>, e: NotificationCreated, when: PrimitiveDateTime) -> Result<bool, ApplyError> {
    let user = e.user_id.to_string();
    let first = sqlx::query("INSERT IGNORE INTO notification_applied (user_id, notification_id) VALUES (?, ?)")
        .bind(&user)
        .bind(e.notification_id.to_string())
        .execute(&mut **tx)
        .await?;
    if first.rows_affected() == 0 {
        return Ok(false);
    }
    let position = bump(tx, &user, POSITION_LIST).await?;
    let actor = e.actor_id.to_string();
    let open: Option<(String, String, i32)> = match &e.group_key {
        Some(key) => {
            sqlx::query_as(
                "SELECT notification_id, actors, actor_count FROM notifications \
                 WHERE user_id = ? AND group_key = ? AND is_read = FALSE AND deleted = FALSE ORDER BY position DESC LIMIT 1",
            )
            .bind(&user)
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?
        }
        None => None,
    };
    if let Some((id, actors, count)) = open {
        let mut shown: Vec<String> = serde_json::from_str(&actors).unwrap_or_default();
        let again = shown.contains(&actor);
        shown.retain(|a| *a != actor);
        shown.insert(0, actor);
        shown.truncate(SHOWN_ACTORS);
        sqlx::query("UPDATE notifications SET actors = ?, actor_count = ?, text = ?, position = ?, updated_at = ? WHERE user_id = ? AND notification_id = ?")
            .bind(serde_json::to_string(&shown).unwrap_or_default())
            .bind(if again { count } else { count + 1 })
            .bind(&e.text)
            .bind(position)
            .bind(when)
            .bind(&user)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    } else {
        sqlx::query(
            "INSERT INTO notifications (user_id, notification_id, position, category, kind, actors, actor_count, target_type, target_id, text, group_key, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&user)
        .bind(e.notification_id.to_string())
        .bind(position)
        .bind(e.category.as_str())
        .bind(&e.kind)
        .bind(serde_json::to_string(&[&actor]).unwrap_or_default())
        .bind(&e.target.kind)
        .bind(e.target.id.to_string())
        .bind(&e.text)
        .bind(&e.group_key)
        .bind(when)
        .bind(when)
        .execute(&mut **tx)
        .await?;
    }
    // Keep the newest KEEP_ITEMS and nothing older than KEEP_DAYS before this item.
    sqlx::query("DELETE FROM notifications WHERE user_id = ? AND (position <= ? OR updated_at < ?)")
        .bind(&user)
        .bind(position - KEEP_ITEMS)
        .bind(when - time::Duration::days(KEEP_DAYS))
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

async fn read(tx: &mut Transaction<'static, MySql>, e: &NotificationsRead) -> Result<(), ApplyError> {
    let mut q = QueryBuilder::new("UPDATE notifications SET is_read = TRUE WHERE is_read = FALSE AND deleted = FALSE AND user_id = ");
    q.push_bind(e.user_id.to_string());
    if !e.all {
        if let Some(c) = e.category {
            q.push(" AND category = ").push_bind(c.as_str());
        }
        if let Some(up_to) = e.up_to {
            q.push(" AND position <= ").push_bind(up_to);
        }
        if !e.ids.is_empty() {
            q.push(" AND notification_id IN (");
            let mut sep = q.separated(", ");
            for id in &e.ids {
                sep.push_bind(id.to_string());
            }
            q.push(")");
        } else if e.category.is_none() && e.up_to.is_none() {
            return Ok(()); // names nothing
        }
    }
    q.build().execute(&mut **tx).await?;
    Ok(())
}

/// Writes `user`'s unread counts (as this transaction sees them) to Redis:
/// absolute values, so a replay converges.
async fn counts(tx: &mut Transaction<'static, MySql>, ctx: &ApplyContext, user: Uuid) -> Result<(), ApplyError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT category, COUNT(*) FROM notifications WHERE user_id = ? AND is_read = FALSE AND deleted = FALSE GROUP BY category")
            .bind(user.to_string())
            .fetch_all(&mut **tx)
            .await?;
    let unread = Unread::from_counts(rows.iter().map(|(c, n)| (c.as_str(), *n)));
    let mut con = ctx.redis.clone();
    let _: () = redis::AsyncCommands::hset_multiple(&mut con, keys::notifications_unread(user), &unread.fields()).await?;
    Ok(())
}
