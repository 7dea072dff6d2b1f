//! `GET /api/group/...`: info, my groups, members, join requests, search.

use crate::{
    views::{self, rfc3339, synced_list},
    AppState,
};
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{MySqlPool, Row};
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
    let info = views::group_info(&s.pool, group_id, user.user_id).await?;
    info.map(ok).ok_or_else(|| ApiError::NotFound("group not found".into()))
}

#[derive(Debug, Deserialize)]
struct SyncQuery {
    since_version: Option<i64>,
}

async fn mine(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SyncQuery>) -> Result<Response, ApiError> {
    let body = synced_list(
        &s.pool,
        (&user.user_id.to_string(), "groups"),
        q.since_version,
        "SELECT m.group_id, m.role, m.status, m.user_version, g.conversation_id, g.name, g.avatar, g.member_count \
         FROM group_members m JOIN chat_groups g ON g.group_id = m.group_id \
         WHERE m.user_id = ? AND m.user_version > ? AND (m.status = 'active' OR ?) ORDER BY m.user_version",
        ("group_id", "group_id", "user_version"),
        "groups",
        |r| {
            Ok(json!({
                "group_id": r.try_get::<String, _>("group_id")?,
                "conversation_id": r.try_get::<String, _>("conversation_id")?,
                "name": r.try_get::<String, _>("name")?,
                "avatar": r.try_get::<String, _>("avatar")?,
                "role": r.try_get::<String, _>("role")?,
                "member_count": r.try_get::<i32, _>("member_count")?,
                "version": r.try_get::<i64, _>("user_version")?,
            }))
        },
    )
    .await?;
    Ok(ok(body))
}

/// The viewer's role in an active group: Err(404) if the group is gone, Ok(None) if not a member.
async fn viewer_role(pool: &MySqlPool, group_id: Uuid, viewer: Uuid) -> Result<Option<String>, ApiError> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT m.role FROM chat_groups g \
         LEFT JOIN group_members m ON m.group_id = g.group_id AND m.user_id = ? AND m.status = 'active' \
         WHERE g.group_id = ? AND g.status = 'active'",
    )
    .bind(viewer.to_string())
    .bind(group_id.to_string())
    .fetch_optional(pool)
    .await?;
    row.map(|r| r.0).ok_or_else(|| ApiError::NotFound("group not found".into()))
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
    let gid = group_id.to_string();
    // limit and offset are validated integers, safe to format into the SQL.
    let sql = format!(
        "SELECT m.user_id, m.role, m.group_nickname, m.muted_until, m.joined_at, m.version, m.status, u.username, u.nickname, u.avatar \
         FROM group_members m JOIN users u ON u.user_id = m.user_id \
         WHERE m.group_id = ? AND m.version > ? AND (m.status = 'active' OR ?) \
         ORDER BY m.status = 'active' DESC, FIELD(m.role, 'owner', 'admin', 'member'), m.joined_at, m.user_id \
         LIMIT {limit} OFFSET {}",
        q.offset.unwrap_or(0)
    );
    let mut body = synced_list(&s.pool, (&gid, "members"), q.since_version, &sql, ("user_id", "user_id", "version"), "members", views::member_json).await?;
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM group_members WHERE group_id = ? AND status = 'active'")
        .bind(&gid)
        .fetch_one(&s.pool)
        .await?;
    body["total"] = json!(total);
    Ok(ok(body))
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
    let rows = sqlx::query(
        "SELECT request_id, user_id, message, invited_by, status, created_at FROM group_join_requests \
         WHERE group_id = ? AND (status = 'pending' OR ?) ORDER BY created_at, request_id LIMIT 500",
    )
    .bind(group_id.to_string())
    .bind(all)
    .fetch_all(&s.pool)
    .await?;
    let requests = rows
        .iter()
        .map(|r| {
            Ok(json!({
                "request_id": r.try_get::<String, _>("request_id")?,
                "user_id": r.try_get::<String, _>("user_id")?,
                "message": r.try_get::<String, _>("message")?,
                "invited_by": r.try_get::<Option<String>, _>("invited_by")?,
                "status": r.try_get::<String, _>("status")?,
                "created_at": rfc3339(r.try_get("created_at")?),
            }))
        })
        .collect::<Result<Vec<Value>, sqlx::Error>>()?;
    Ok(ok(json!({ "requests": requests })))
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
    let rows = sqlx::query(
        "SELECT group_id, name, avatar, member_count, join_policy FROM chat_groups \
         WHERE status = 'active' AND (group_id = ? OR name LIKE ?) ORDER BY (group_id = ?) DESC, member_count DESC, group_id LIMIT 20",
    )
    .bind(term)
    .bind(format!("%{}%", super::users::like_escape(term)))
    .bind(term)
    .fetch_all(&s.pool)
    .await?;
    let groups = rows
        .iter()
        .map(|r| {
            Ok(json!({
                "group_id": r.try_get::<String, _>("group_id")?,
                "name": r.try_get::<String, _>("name")?,
                "avatar": r.try_get::<String, _>("avatar")?,
                "member_count": r.try_get::<i32, _>("member_count")?,
                "join_policy": r.try_get::<String, _>("join_policy")?,
            }))
        })
        .collect::<Result<Vec<Value>, sqlx::Error>>()?;
    Ok(ok(json!({ "groups": groups })))
}
