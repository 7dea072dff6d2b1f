//! `GET /api/friend/requests`, `/api/friend/list`, `/api/friend/blocks` — each
//! with incremental sync (`since_version`).

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
};
use beaver_readmodel::relation;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/friend/requests", get(requests))
        .route("/api/friend/list", get(list))
        .route("/api/friend/blocks", get(blocks))
}

#[derive(Debug, Deserialize)]
struct SyncQuery {
    since_version: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct RequestsQuery {
    since_version: Option<i64>,
    direction: Option<String>,
}

async fn requests(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<RequestsQuery>) -> Result<Response, ApiError> {
    let (incoming, outgoing) = match q.direction.as_deref() {
        None | Some("all") => (true, true),
        Some("incoming") => (true, false),
        Some("outgoing") => (false, true),
        Some(_) => return Err(ApiError::invalid("direction", "direction must be incoming, outgoing or all")),
    };
    Ok(ok(relation::requests(&s.pool, user.user_id, incoming, outgoing, q.since_version).await?))
}

async fn list(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SyncQuery>) -> Result<Response, ApiError> {
    Ok(ok(relation::friends(&s.pool, user.user_id, q.since_version).await?))
}

async fn blocks(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SyncQuery>) -> Result<Response, ApiError> {
    Ok(ok(relation::blocks(&s.pool, user.user_id, q.since_version).await?))
}
