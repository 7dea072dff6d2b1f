//! `beaver.feedback.v1` → table `feedback`. Idempotent per event: a replay
//! of a submission leaves the row alone, a status change sets the status
//! and (when it carries one) the reply.

use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{feedback::Category, topics, FeedbackEvent, RawEnvelope};
use beaver_readmodel::progress::FEEDBACK_PROJECTOR;
use sqlx::{MySql, Transaction};

pub struct Feedback;

#[async_trait::async_trait]
impl Projection for Feedback {
    fn name(&self) -> &'static str {
        FEEDBACK_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::FEEDBACK]
    }

    async fn apply(&self, tx: &mut Transaction<'static, MySql>, _ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = super::at(&env);
        match env.decode::<FeedbackEvent>()?.payload {
            FeedbackEvent::FeedbackSubmitted(e) => {
                let target_type = e.target.as_ref().map(|t| match t.kind {
                    beaver_events::feedback::TargetType::User => "user",
                    beaver_events::feedback::TargetType::Message => "message",
                    beaver_events::feedback::TargetType::Group => "group",
                });
                sqlx::query(
                    "INSERT IGNORE INTO feedback (feedback_id, user_id, category, text, target_type, target_id, client_platform, \
                     client_app_version, status, reply, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', NULL, ?, ?)",
                )
                .bind(e.feedback_id.to_string())
                .bind(e.user_id.to_string())
                .bind(Category::as_str(e.category))
                .bind(&e.text)
                .bind(target_type)
                .bind(e.target.map(|t| t.id.to_string()))
                .bind(e.client.as_ref().map(|c| c.platform.clone()))
                .bind(e.client.and_then(|c| c.app_version))
                .bind(when)
                .bind(when)
                .execute(&mut **tx)
                .await?;
            }
            FeedbackEvent::FeedbackStatusChanged(e) => {
                sqlx::query("UPDATE feedback SET status = ?, reply = COALESCE(?, reply), updated_at = ? WHERE feedback_id = ?")
                    .bind(e.status.as_str())
                    .bind(e.reply)
                    .bind(when)
                    .bind(e.feedback_id.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}
