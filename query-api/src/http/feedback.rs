//! `GET /api/feedback/mine`: the caller's own feedback, newest first.

use crate::AppState;
use axum::{extract::State, response::Response};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
    openapi::Envelope,
};
use beaver_readmodel::feedback::{self, Feedback};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mine))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MineQuery {
    /// A `feedback_id`: only older feedback (the previous page's last).
    #[param(value_type = Option<Uuid>)]
    before: Option<String>,
    /// Entries per page.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50, default = 20)]
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = feedback::Page)]
struct Page {
    feedback: Vec<Feedback>,
    /// Older feedback follows (ask again with `before` = the last `feedback_id`).
    has_more: bool,
}

/// Lists the caller's own feedback, newest first.
#[utoipa::path(get, path = "/api/feedback/mine", tag = "feedback",
    params(MineQuery),
    responses(
        (status = 200, description = "A page of the caller's feedback.", body = Envelope<Page>),
        (status = 422, description = "`invalid_field`: `before` is not a feedback id, or `limit` is not 1 to 50."),
    ))]
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
