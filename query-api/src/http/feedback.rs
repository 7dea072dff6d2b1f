//! `GET /api/feedback/mine`: the caller's own feedback, newest first.

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
};
use beaver_readmodel::feedback::{self, Feedback};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/feedback/mine", get(mine))
}

#[derive(Debug, Deserialize)]
struct MineQuery {
    before: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Serialize)]
struct Page {
    feedback: Vec<Feedback>,
    has_more: bool,
}

async fn mine(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<MineQuery>) -> Result<Response, ApiError> {
    let before = match q.before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(Uuid::try_parse(b).map_err(|_| ApiError::invalid("before", "before must be a feedback id"))?),
    };
    let limit = match q.limit.as_deref() {
        None => 20,
        Some(l) => l.trim().parse::<u32>().ok().filter(|l| (1..=50).contains(l)).ok_or_else(|| ApiError::invalid("limit", "limit must be 1 to 50"))?,
    };
    let (feedback, has_more) = feedback::mine(&s.pool, user.user_id, before, limit).await?;
    Ok(ok(Page { feedback, has_more }))
}
