//! The `feedback` read model (from `beaver.feedback.v1`): a user's own
//! feedback (`GET /api/feedback/mine`), one entry for the write side's
//! repeat and status checks, and the operator's list.

use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use time::PrimitiveDateTime;
use uuid::Uuid;

#[derive(Debug, FromRow)]
struct Row {
    feedback_id: String,
    user_id: String,
    category: String,
    text: String,
    target_type: Option<String>,
    target_id: Option<String>,
    client_platform: Option<String>,
    client_app_version: Option<String>,
    status: String,
    reply: Option<String>,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

/// `{type, id}` of a report's target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TargetRef {
    /// `user`, `message` or `group`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// `{platform, app_version}` the feedback was sent from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClientRef {
    /// `ios`, `android`, `web`, `desktop`, `mac` or `windows`.
    pub platform: String,
    pub app_version: Option<String>,
}

/// One piece of feedback as its submitter (and an operator) sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Feedback {
    pub feedback_id: String,
    /// Not shown to the submitter (it is them); the operator's list shows it.
    #[serde(skip)]
    pub user_id: Uuid,
    /// `bug`, `feature`, `other` or `report`.
    pub category: String,
    pub text: String,
    /// A report's target.
    pub target: Option<TargetRef>,
    pub client: Option<ClientRef>,
    /// `open`, `in_progress`, `resolved` or `rejected`.
    pub status: String,
    /// The operator's answer.
    pub reply: Option<String>,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: PrimitiveDateTime,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: PrimitiveDateTime,
}

impl TryFrom<Row> for Feedback {
    type Error = sqlx::Error;

    fn try_from(r: Row) -> Result<Self, Self::Error> {
        Ok(Feedback {
            feedback_id: r.feedback_id,
            user_id: crate::uuid(&r.user_id)?,
            category: r.category,
            text: r.text,
            target: r.target_type.zip(r.target_id).map(|(kind, id)| TargetRef { kind, id }),
            client: r.client_platform.map(|platform| ClientRef { platform, app_version: r.client_app_version }),
            status: r.status,
            reply: r.reply,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "feedback_id, user_id, category, text, target_type, target_id, client_platform, client_app_version, status, reply, created_at, updated_at";

fn convert(rows: Vec<Row>) -> Result<Vec<Feedback>, sqlx::Error> {
    rows.into_iter().map(Feedback::try_from).collect()
}

/// One piece of feedback by id (anyone's: callers check the owner).
pub async fn by_id(pool: &MySqlPool, feedback_id: Uuid) -> Result<Option<Feedback>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM feedback WHERE feedback_id = ?"))
        .bind(feedback_id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(Feedback::try_from).transpose()
}

/// `user`'s feedback older than `before` (all when `None`), newest first:
/// up to `limit` entries and whether there are more.
pub async fn mine(pool: &MySqlPool, user: Uuid, before: Option<Uuid>, limit: u32) -> Result<(Vec<Feedback>, bool), sqlx::Error> {
    // UUIDv7 ids sort by creation time, so the id is the cursor.
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM feedback WHERE user_id = ? AND feedback_id < ? ORDER BY feedback_id DESC LIMIT ?"
    ))
    .bind(user.to_string())
    .bind(before.map_or_else(|| "g".to_owned(), |b| b.to_string()))
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut all = convert(rows)?;
    let has_more = all.len() > limit as usize;
    all.truncate(limit as usize);
    Ok((all, has_more))
}

/// Everyone's feedback (with `status`, only that status), newest first (the operator's list).
pub async fn all(pool: &MySqlPool, status: Option<&str>, limit: u32) -> Result<Vec<Feedback>, sqlx::Error> {
    let rows: Vec<Row> = match status {
        Some(status) => {
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM feedback WHERE status = ? ORDER BY feedback_id DESC LIMIT ?"))
                .bind(status)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
        None => sqlx::query_as(&format!("SELECT {COLUMNS} FROM feedback ORDER BY feedback_id DESC LIMIT ?")).bind(limit).fetch_all(pool).await?,
    };
    convert(rows)
}

/// SQL that is true when a feedback row with the id in `owner_column`
/// exists (commands' take-over of a stale `client_feedback_id` claim).
pub fn exists_predicate(owner_column: &str) -> String {
    format!("EXISTS (SELECT 1 FROM feedback f WHERE f.feedback_id = {owner_column})")
}
