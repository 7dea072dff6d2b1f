//! `beaver.system.v1` → tables `app_releases` and `announcements`.
//! Idempotent per event, so a replay rebuilds the same rows.

use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{topics, RawEnvelope, SystemEvent};
use beaver_readmodel::{progress::SYSTEM_PROJECTOR, system::platforms_column};
use sqlx::{MySql, Transaction};
use super::sync::utc;

pub struct System;

#[async_trait::async_trait]
impl Projection for System {
    fn name(&self) -> &'static str {
        SYSTEM_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::SYSTEM]
    }

    async fn apply(&self, tx: &mut Transaction<'static, MySql>, _ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = super::at(&env);
        match env.decode::<SystemEvent>()?.payload {
            SystemEvent::AppVersionPublished(e) => {
                sqlx::query(
                    "INSERT IGNORE INTO app_releases (app_id, platform, version, url, sha256, size, notes, min_supported, rollout_percent, \
                     withdrawn, published_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?, ?)",
                )
                .bind(&e.app_id)
                .bind(&e.platform)
                .bind(&e.version)
                .bind(&e.url)
                .bind(&e.sha256)
                .bind(e.size as i64)
                .bind(&e.notes)
                .bind(&e.min_supported)
                .bind(e.rollout_percent)
                .bind(when)
                .bind(when)
                .execute(&mut **tx)
                .await?;
            }
            SystemEvent::AppRolloutChanged(e) => {
                sqlx::query("UPDATE app_releases SET rollout_percent = ?, updated_at = ? WHERE app_id = ? AND platform = ? AND version = ?")
                    .bind(e.rollout_percent)
                    .bind(when)
                    .bind(&e.app_id)
                    .bind(&e.platform)
                    .bind(&e.version)
                    .execute(&mut **tx)
                    .await?;
            }
            SystemEvent::AppVersionWithdrawn(e) => {
                sqlx::query("UPDATE app_releases SET withdrawn = TRUE, updated_at = ? WHERE app_id = ? AND platform = ? AND version = ?")
                    .bind(when)
                    .bind(&e.app_id)
                    .bind(&e.platform)
                    .bind(&e.version)
                    .execute(&mut **tx)
                    .await?;
            }
            SystemEvent::SystemAnnouncementPublished(e) => {
                sqlx::query(
                    "INSERT IGNORE INTO announcements (announcement_id, title, body, platforms, starts_at, ends_at, published_at, inbox) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(e.announcement_id.to_string())
                .bind(&e.title)
                .bind(&e.body)
                .bind(platforms_column(&e.platforms))
                .bind(utc(e.starts_at))
                .bind(e.ends_at.map(utc))
                .bind(when)
                .bind(e.inbox)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }
}
