//! `/api/moment…` reads: the timeline, a user's moments, one moment
//! (docs/services.md, "Moments"). A moment the caller may not see is 404.

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
};
use beaver_readmodel::moment as read;
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/moment/timeline", get(timeline))
        .route("/api/moment/user/{user_id}", get(of_user))
        .route("/api/moment/{moment_id}", get(one))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    before: Option<String>,
    limit: Option<String>,
}

fn paging(q: &PageQuery) -> Result<(Option<Uuid>, u32), ApiError> {
    let before = match q.before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(Uuid::try_parse(b).map_err(|_| ApiError::invalid("before", "before must be a moment id"))?),
    };
    let limit = match q.limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => 20,
        Some(l) => l.parse::<u32>().ok().filter(|l| (1..=50).contains(l)).ok_or_else(|| ApiError::invalid("limit", "limit must be 1 to 50"))?,
    };
    Ok((before, limit))
}

async fn timeline(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<PageQuery>) -> Result<Response, ApiError> {
    let (before, limit) = paging(&q)?;
    Ok(ok(read::timeline(&s.pool, user.user_id, before, limit).await?))
}

async fn of_user(State(s): State<AppState>, user: AuthUser, ApiPath(raw): ApiPath<String>, ApiQuery(q): ApiQuery<PageQuery>) -> Result<Response, ApiError> {
    let author = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("user not found".into()))?;
    let (before, limit) = paging(&q)?;
    Ok(ok(read::of_user(&s.pool, user.user_id, author, before, limit).await?))
}

async fn one(State(s): State<AppState>, user: AuthUser, ApiPath(raw): ApiPath<String>) -> Result<Response, ApiError> {
    let id = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("moment not found".into()))?;
    read::one(&s.pool, user.user_id, id).await?.map(ok).ok_or_else(|| ApiError::NotFound("moment not found".into()))
}
