//! `GET /api/group/...`: info, my groups, members, join requests, search.

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
struct JoinRequests {
    requests: Vec<group::JoinRequest>,
}

#[derive(Debug, Serialize)]
struct Found {
    groups: Vec<group::GroupSummary>,
}
use beaver_readmodel::group;
use sqlx::MySqlPool;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/group/mine", get(mine))
        .route("/api/group/search", get(search))
        .route("/api/group/{group_id}", get(info))
        .route("/api/group/{group_id}/members", get(members))
        .route("/api/group/{group_id}/join-requests", get(join_requests))
}

async fn info(State(s): State<AppState>, user: AuthUser, ApiPath(group_id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    let info = group::info(&s.pool, group_id, user.user_id).await?;
    info.map(ok).ok_or_else(|| ApiError::NotFound("group not found".into()))
}

#[derive(Debug, Deserialize)]
struct SyncQuery {
    since_version: Option<i64>,
}

async fn mine(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SyncQuery>) -> Result<Response, ApiError> {
    Ok(ok(group::mine(&s.pool, user.user_id, q.since_version).await?))
}

/// The viewer's role in an active group: Err(404) if the group is gone, Ok(None) if not a member.
async fn viewer_role(pool: &MySqlPool, group_id: Uuid, viewer: Uuid) -> Result<Option<String>, ApiError> {
    group::viewer_role(pool, group_id, viewer).await?.ok_or_else(|| ApiError::NotFound("group not found".into()))
}

fn not_a_member() -> ApiError {
    ApiError::Forbidden { kind: "forbidden", message: "you are not a member of this group".into() }
}

#[derive(Debug, Deserialize)]
struct MembersQuery {
    since_version: Option<i64>,
    offset: Option<u32>,
    limit: Option<u32>,
}

async fn members(State(s): State<AppState>, user: AuthUser, ApiPath(group_id): ApiPath<Uuid>, ApiQuery(q): ApiQuery<MembersQuery>) -> Result<Response, ApiError> {
    viewer_role(&s.pool, group_id, user.user_id).await?.ok_or_else(not_a_member)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit must be 1 to 200"));
    }
    Ok(ok(group::members(&s.pool, group_id, q.since_version, limit, q.offset.unwrap_or(0)).await?))
}

#[derive(Debug, Deserialize)]
struct JoinRequestsQuery {
    status: Option<String>,
}

async fn join_requests(
    State(s): State<AppState>,
    user: AuthUser,
    ApiPath(group_id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<JoinRequestsQuery>,
) -> Result<Response, ApiError> {
    let role = viewer_role(&s.pool, group_id, user.user_id).await?.ok_or_else(not_a_member)?;
    if role == "member" {
        return Err(ApiError::Forbidden { kind: "forbidden", message: "only admins and the owner may see join requests".into() });
    }
    let all = match q.status.as_deref() {
        None | Some("pending") => false,
        Some("all") => true,
        Some(_) => return Err(ApiError::invalid("status", "status must be pending or all")),
    };
    Ok(ok(JoinRequests { requests: group::join_requests(&s.pool, group_id, all).await? }))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(State(s): State<AppState>, _user: AuthUser, ApiQuery(q): ApiQuery<SearchQuery>) -> Result<Response, ApiError> {
    let term = q.q.as_deref().map(str::trim).unwrap_or("");
    if term.is_empty() || term.chars().count() > 64 {
        return Err(ApiError::invalid("q", "q must be 1 to 64 characters"));
    }
    Ok(ok(Found { groups: group::search(&s.pool, term).await? }))
}
