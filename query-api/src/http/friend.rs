//! `GET /api/friend/requests`, `/api/friend/list`, `/api/friend/blocks` — each
//! with incremental sync (`since_version`).

use crate::AppState;
use axum::{extract::State, response::Response};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
    openapi::Envelope,
};
use beaver_readmodel::relation;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(requests)).routes(routes!(list)).routes(routes!(blocks))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SyncQuery {
    /// The `version` of the client's last answer: only what changed after it
    /// (with `removed`). Without it, the whole list; one greater than the
    /// list's version (or negative) answers the whole list with `full_sync: true`.
    since_version: Option<i64>,
}

/// Which friend requests (`GET /api/friend/requests?direction=`).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum RequestDirection {
    Incoming,
    Outgoing,
    All,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RequestsQuery {
    /// As for `/api/friend/list`.
    since_version: Option<i64>,
    /// Requests to the caller, from the caller, or both (the default).
    #[param(inline, value_type = Option<RequestDirection>)]
    direction: Option<String>,
}

/// `data` of `GET /api/friend/requests` (beaver-readmodel's `SyncedList<FriendRequest>`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct FriendRequestList {
    /// Newest change first, at most 500.
    requests: Vec<relation::FriendRequest>,
    /// Always empty: a request is never removed, it changes `status`.
    #[schema(value_type = Vec<Object>, max_items = 0)]
    removed: Vec<()>,
    /// The list's version now: the next `since_version`.
    version: i64,
    /// The client's `since_version` was ahead of the list's (a rebuilt read model): this is the whole list.
    full_sync: bool,
}

/// An entry that left a list since the client's `since_version`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RemovedUser {
    user_id: uuid::Uuid,
    /// The version of the removal.
    version: i64,
}

/// `data` of `GET /api/friend/list` (beaver-readmodel's `SyncedList<Friend>`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct FriendList {
    /// In the order of their last change.
    friends: Vec<relation::Friend>,
    /// Friendships ended since `since_version` (empty without it).
    removed: Vec<RemovedUser>,
    /// The list's version now: the next `since_version`.
    version: i64,
    /// The client's `since_version` was ahead of the list's (a rebuilt read model): this is the whole list.
    full_sync: bool,
}

/// `data` of `GET /api/friend/blocks` (beaver-readmodel's `SyncedList<Blocked>`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct BlockList {
    /// In the order of their last change.
    blocks: Vec<relation::Blocked>,
    /// Users unblocked since `since_version` (empty without it).
    removed: Vec<RemovedUser>,
    /// The list's version now: the next `since_version`.
    version: i64,
    /// The client's `since_version` was ahead of the list's (a rebuilt read model): this is the whole list.
    full_sync: bool,
}

/// The caller's friend requests, incoming and outgoing, changed after `since_version`.
///
/// A request sent by a user the caller had blocked is never listed to the caller.
#[utoipa::path(get, path = "/api/friend/requests", tag = "friends",
    params(RequestsQuery),
    responses(
        (status = 200, description = "The requests changed after `since_version` (all without it).", body = Envelope<FriendRequestList>),
        (status = 422, description = "`invalid_field` (`direction`): not `incoming`, `outgoing` or `all`."),
    ))]
async fn requests(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<RequestsQuery>) -> Result<Response, ApiError> {
    let (incoming, outgoing) = match q.direction.as_deref() {
        None | Some("all") => (true, true),
        Some("incoming") => (true, false),
        Some("outgoing") => (false, true),
        Some(_) => return Err(ApiError::invalid("direction", "direction must be incoming, outgoing or all")),
    };
    Ok(ok(relation::requests(&s.pool, user.user_id, incoming, outgoing, q.since_version).await?))
}

/// The caller's friends changed after `since_version`, with removals.
#[utoipa::path(get, path = "/api/friend/list", tag = "friends",
    params(SyncQuery),
    responses((status = 200, description = "The friends changed after `since_version` (all without it).", body = Envelope<FriendList>)))]
async fn list(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SyncQuery>) -> Result<Response, ApiError> {
    Ok(ok(relation::friends(&s.pool, user.user_id, q.since_version).await?))
}

/// The users the caller blocked, changed after `since_version`, with removals.
#[utoipa::path(get, path = "/api/friend/blocks", tag = "friends",
    params(SyncQuery),
    responses((status = 200, description = "The blocks changed after `since_version` (all without it).", body = Envelope<BlockList>)))]
async fn blocks(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SyncQuery>) -> Result<Response, ApiError> {
    Ok(ok(relation::blocks(&s.pool, user.user_id, q.since_version).await?))
}
