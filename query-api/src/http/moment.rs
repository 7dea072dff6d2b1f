//! `/api/moment…` reads: the timeline, a user's moments, one moment
//! (docs/services.md, "Moments"). A moment the caller may not see is 404.

use crate::AppState;
use axum::{extract::State, response::Response};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
    openapi::Envelope,
};
use beaver_readmodel::moment as read;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(timeline))
        .routes(routes!(of_user))
        .routes(routes!(one))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// A `moment_id`: only older moments (the previous page's `next_before`).
    #[param(value_type = Option<Uuid>)]
    before: Option<String>,
    /// Moments per page.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50, default = 20)]
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

/// Reads the caller's timeline: their own and their friends' moments they may see, newest first.
#[utoipa::path(get, path = "/api/moment/timeline", tag = "moments",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of moments (never short because of the visibility rules).", body = Envelope<read::Page>),
        (status = 422, description = "`invalid_field`: `before` is not a moment id, or `limit` is not 1 to 50."),
    ))]
async fn timeline(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<PageQuery>) -> Result<Response, ApiError> {
    let (before, limit) = paging(&q)?;
    Ok(ok(read::timeline(&s.pool, user.user_id, before, limit).await?))
}

/// Lists one user's moments that the caller may see, newest first.
#[utoipa::path(get, path = "/api/moment/user/{user_id}", tag = "moments",
    params(("user_id" = Uuid, Path, description = "The author (a stranger's or an unknown user's moments: an empty page)."), PageQuery),
    responses(
        (status = 200, description = "A page of that user's moments.", body = Envelope<read::Page>),
        (status = 404, description = "`not_found`: `user_id` is not a UUID."),
        (status = 422, description = "`invalid_field`: `before` is not a moment id, or `limit` is not 1 to 50."),
    ))]
async fn of_user(State(s): State<AppState>, user: AuthUser, ApiPath(raw): ApiPath<String>, ApiQuery(q): ApiQuery<PageQuery>) -> Result<Response, ApiError> {
    let author = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("user not found".into()))?;
    let (before, limit) = paging(&q)?;
    Ok(ok(read::of_user(&s.pool, user.user_id, author, before, limit).await?))
}

/// Reads one moment.
#[utoipa::path(get, path = "/api/moment/{moment_id}", tag = "moments",
    params(("moment_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The moment as the caller sees it.", body = Envelope<read::Moment>),
        (status = 404, description = "`not_found`: no such moment, it was deleted, or the caller may not see it."),
    ))]
async fn one(State(s): State<AppState>, user: AuthUser, ApiPath(raw): ApiPath<String>) -> Result<Response, ApiError> {
    let id = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("moment not found".into()))?;
    read::one(&s.pool, user.user_id, id).await?.map(ok).ok_or_else(|| ApiError::NotFound("moment not found".into()))
}
