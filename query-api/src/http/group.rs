//! `GET /api/group/...`: info, my groups, members, join requests, search.

use super::friend::RemovedUser;
use crate::AppState;
use axum::{extract::State, response::Response};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
    openapi::Envelope,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Debug, Serialize, ToSchema)]
struct JoinRequests {
    /// Oldest first, at most 500.
    requests: Vec<group::JoinRequest>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = groups::Found)]
struct Found {
    /// The exact id first, then the largest; at most 20.
    groups: Vec<group::GroupSummary>,
}
use beaver_readmodel::group;
use sqlx::MySqlPool;
use uuid::Uuid;

/// A group that left the caller's list since `since_version` (left, kicked, dissolved).
#[derive(ToSchema)]
#[allow(dead_code)]
struct RemovedGroup {
    group_id: Uuid,
    /// The version of the removal.
    version: i64,
}

/// `data` of `GET /api/group/mine` (beaver-readmodel's `SyncedList<MyGroup>`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct GroupList {
    /// In the order of their last change.
    groups: Vec<group::MyGroup>,
    /// Groups the caller is no longer in since `since_version` (empty without it).
    removed: Vec<RemovedGroup>,
    /// The list's version now: the next `since_version`.
    version: i64,
    /// The client's `since_version` was ahead of the list's (a rebuilt read model): this is the whole list.
    full_sync: bool,
}

/// `data` of `GET /api/group/{group_id}/members` (beaver-readmodel's `SyncedList<Member>`, paged).
#[derive(ToSchema)]
#[allow(dead_code)]
struct MemberList {
    /// This page: the owner, admins, members, then by join time.
    members: Vec<group::Member>,
    /// Members who left or were removed since `since_version` (empty without
    /// it), on the same page as the members.
    removed: Vec<RemovedUser>,
    /// The group's member list version now: the next `since_version`.
    version: i64,
    /// The client's `since_version` was ahead of the list's (a rebuilt read model): this is the whole list.
    full_sync: bool,
    /// How many active members the group has.
    total: i64,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mine))
        .routes(routes!(search))
        .routes(routes!(info))
        .routes(routes!(members))
        .routes(routes!(join_requests))
}

/// A group as the caller sees it (members and non-members alike).
#[utoipa::path(get, path = "/api/group/{group_id}", tag = "groups",
    params(("group_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The group; `my_role` is `null` for a non-member.", body = Envelope<group::GroupInfo>),
        (status = 404, description = "`not_found`: no such group, or it was dissolved."),
    ))]
async fn info(State(s): State<AppState>, user: AuthUser, ApiPath(group_id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    let info = group::info(&s.pool, group_id, user.user_id).await?;
    info.map(ok).ok_or_else(|| ApiError::NotFound("group not found".into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SyncQuery {
    /// The `version` of the client's last answer: only what changed after it
    /// (with `removed`). Without it, the whole list; one greater than the
    /// list's version (or negative) answers the whole list with `full_sync: true`.
    since_version: Option<i64>,
}

/// The groups the caller is in, changed after `since_version`, with removals.
#[utoipa::path(get, path = "/api/group/mine", tag = "groups",
    params(SyncQuery),
    responses((status = 200, description = "The groups changed after `since_version` (all without it).", body = Envelope<GroupList>)))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MembersQuery {
    /// As for `/api/group/mine`, for the group's member list.
    since_version: Option<i64>,
    /// Entries to skip.
    #[param(default = 0)]
    offset: Option<u32>,
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
}

/// One page of a group's members (owner, admins, members, then by join time), for its members.
#[utoipa::path(get, path = "/api/group/{group_id}/members", tag = "groups",
    params(("group_id" = Uuid, Path), MembersQuery),
    responses(
        (status = 200, description = "The page, with removals since `since_version` and the member count.", body = Envelope<MemberList>),
        (status = 403, description = "`forbidden`: the caller is not a member."),
        (status = 404, description = "`not_found`: no such group, or it was dissolved."),
        (status = 422, description = "`invalid_field` (`limit`): not 1 to 200."),
    ))]
async fn members(State(s): State<AppState>, user: AuthUser, ApiPath(group_id): ApiPath<Uuid>, ApiQuery(q): ApiQuery<MembersQuery>) -> Result<Response, ApiError> {
    viewer_role(&s.pool, group_id, user.user_id).await?.ok_or_else(not_a_member)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit must be 1 to 200"));
    }
    Ok(ok(group::members(&s.pool, group_id, q.since_version, limit, q.offset.unwrap_or(0)).await?))
}

/// Which join requests (`GET /api/group/{group_id}/join-requests?status=`).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum JoinRequestFilter {
    Pending,
    All,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct JoinRequestsQuery {
    /// The pending requests (the default), or all of them.
    #[param(inline, value_type = Option<JoinRequestFilter>)]
    status: Option<String>,
}

/// A group's join requests (and members' invitations awaiting an admin), for its admins and owner.
#[utoipa::path(get, path = "/api/group/{group_id}/join-requests", tag = "groups",
    params(("group_id" = Uuid, Path), JoinRequestsQuery),
    responses(
        (status = 200, description = "The requests, oldest first.", body = Envelope<JoinRequests>),
        (status = 403, description = "`forbidden`: the caller is not a member, or only a member (not an admin or the owner)."),
        (status = 404, description = "`not_found`: no such group, or it was dissolved."),
        (status = 422, description = "`invalid_field` (`status`): not `pending` or `all`."),
    ))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// A group's exact id or a substring of its name; 1 to 64 characters after trimming.
    #[param(required = true, value_type = String, min_length = 1, max_length = 64)]
    q: Option<String>,
}

/// Finds active groups by exact id or name substring.
#[utoipa::path(get, path = "/api/group/search", tag = "groups",
    params(SearchQuery),
    responses(
        (status = 200, description = "The groups found.", body = Envelope<Found>),
        (status = 422, description = "`invalid_field` (`q`): missing, blank or longer than 64 characters."),
    ))]
async fn search(State(s): State<AppState>, _user: AuthUser, ApiQuery(q): ApiQuery<SearchQuery>) -> Result<Response, ApiError> {
    let term = q.q.as_deref().map(str::trim).unwrap_or("");
    if term.is_empty() || term.chars().count() > 64 {
        return Err(ApiError::invalid("q", "q must be 1 to 64 characters"));
    }
    Ok(ok(Found { groups: group::search(&s.pool, term).await? }))
}
