//! `beaver.users.v1` → tables `users` and `user_settings`.

use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{topics, user::UserProfileUpdated, RawEnvelope, UserEvent};
use beaver_readmodel::progress::USERS_PROJECTOR;
use sqlx::{MySql, Transaction};

pub struct Users;


#[async_trait::async_trait]
impl Projection for Users {
    fn name(&self) -> &'static str {
        USERS_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::USERS]
    }

    async fn apply(&self, tx: &mut Transaction<'static, MySql>, _ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = super::at(&env);
        match env.decode::<UserEvent>()?.payload {
            UserEvent::UserRegistered(e) => {
                let done = sqlx::query(
                    "INSERT INTO users (user_id, username, password_hash, nickname, email, phone, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE user_id = user_id",
                )
                .bind(e.user_id.to_string())
                .bind(&e.username)
                .bind(&e.password_hash)
                .bind(&e.nickname)
                .bind(&e.email)
                .bind(&e.phone)
                .bind(when)
                .bind(when)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 0 {
                    // Either a replay of an applied event, or (never expected:
                    // the commands tier claims usernames before appending) a
                    // second account with a taken username/email/phone.
                    let exists: Option<(String,)> = sqlx::query_as("SELECT user_id FROM users WHERE user_id = ?")
                        .bind(e.user_id.to_string())
                        .fetch_optional(&mut **tx)
                        .await?;
                    if exists.is_none() {
                        tracing::error!(user_id = %e.user_id, username = e.username, "UserRegistered collides with an existing account; not projected");
                        metrics::counter!("projector_conflicts_total", "projector" => USERS_PROJECTOR).increment(1);
                    }
                }
            }
            UserEvent::UserProfileUpdated(UserProfileUpdated { user_id, nickname, avatar, signature, gender }) => {
                sqlx::query(
                    "UPDATE users SET nickname = COALESCE(?, nickname), avatar = COALESCE(?, avatar), \
                     signature = COALESCE(?, signature), gender = COALESCE(?, gender), updated_at = ?, version = version + 1 \
                     WHERE user_id = ?",
                )
                .bind(nickname)
                .bind(avatar)
                .bind(signature)
                .bind(gender.map(|g| g.as_str()))
                .bind(when)
                .bind(user_id.to_string())
                .execute(&mut **tx)
                .await?;
            }
            UserEvent::UserSettingsChanged(e) => {
                let p = &e.settings.privacy;
                let document = serde_json::to_string(&e.settings).expect("settings serialise");
                sqlx::query(
                    "INSERT INTO user_settings (user_id, document, friend_requests, searchable_by_email, searchable_by_phone, show_online, \
                     read_receipts, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) \
                     ON DUPLICATE KEY UPDATE document = VALUES(document), friend_requests = VALUES(friend_requests), \
                     searchable_by_email = VALUES(searchable_by_email), searchable_by_phone = VALUES(searchable_by_phone), \
                     show_online = VALUES(show_online), read_receipts = VALUES(read_receipts), version = version + 1, updated_at = VALUES(updated_at)",
                )
                .bind(e.user_id.to_string())
                .bind(document)
                .bind(p.friend_requests.as_str())
                .bind(p.searchable_by_email)
                .bind(p.searchable_by_phone)
                .bind(p.show_online)
                .bind(p.read_receipts)
                .bind(when)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }
}
