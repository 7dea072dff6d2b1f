//! `GET /api/friend/requests`, `/api/friend/list`, `/api/friend/blocks` — each
//! with incremental sync (`since_version`).

use crate::{
    views::{list_version, plan_sync, rfc3339, synced_list},
    AppState,
};
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

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
    let me = user.user_id.to_string();
    let (incoming, outgoing) = match q.direction.as_deref() {
        None | Some("all") => (true, true),
        Some("incoming") => (true, false),
        Some("outgoing") => (false, true),
        Some(_) => return Err(ApiError::invalid("direction", "direction must be incoming, outgoing or all")),
    };
    let version = list_version(&s.pool, &me, "requests").await?;
    let sync = plan_sync(q.since_version, version);
    let rows = sqlx::query(
        "SELECT request_id, from_user_id, to_user_id, message, status, created_at, updated_at, \
                IF(to_user_id = ?, to_version, from_version) AS version \
         FROM friend_requests \
         WHERE (? AND to_user_id = ? AND NOT hidden_from_recipient AND to_version > ?) \
            OR (? AND from_user_id = ? AND from_version > ?) \
         ORDER BY updated_at DESC, request_id LIMIT 500",
    )
    .bind(&me)
    .bind(incoming)
    .bind(&me)
    .bind(sync.after)
    .bind(outgoing)
    .bind(&me)
    .bind(sync.after)
    .fetch_all(&s.pool)
    .await?;
    let requests = rows
        .iter()
        .map(|r| {
            Ok(json!({
                "request_id": r.try_get::<String, _>("request_id")?,
                "from_user_id": r.try_get::<String, _>("from_user_id")?,
                "to_user_id": r.try_get::<String, _>("to_user_id")?,
                "message": r.try_get::<String, _>("message")?,
                "status": r.try_get::<String, _>("status")?,
                "created_at": rfc3339(r.try_get("created_at")?),
                "updated_at": rfc3339(r.try_get("updated_at")?),
                "version": r.try_get::<i64, _>("version")?,
            }))
        })
        .collect::<Result<Vec<Value>, sqlx::Error>>()?;
    Ok(ok(json!({ "requests": requests, "removed": [], "version": version, "full_sync": sync.full_sync })))
}

async fn list(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SyncQuery>) -> Result<Response, ApiError> {
    let body = synced_list(
        &s.pool,
        (&user.user_id.to_string(), "friends"),
        q.since_version,
        "SELECT f.friend_id, f.remark, f.status, f.since, f.version, u.username, u.nickname, u.avatar \
         FROM friendships f JOIN users u ON u.user_id = f.friend_id \
         WHERE f.user_id = ? AND f.version > ? AND (f.status = 'active' OR ?) ORDER BY f.version",
        ("friend_id", "user_id", "version"),
        "friends",
        |r| {
            Ok(json!({
                "user_id": r.try_get::<String, _>("friend_id")?,
                "username": r.try_get::<String, _>("username")?,
                "nickname": r.try_get::<String, _>("nickname")?,
                "avatar": r.try_get::<String, _>("avatar")?,
                "remark": r.try_get::<String, _>("remark")?,
                "since": rfc3339(r.try_get("since")?),
                "version": r.try_get::<i64, _>("version")?,
            }))
        },
    )
    .await?;
    Ok(ok(body))
}

async fn blocks(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SyncQuery>) -> Result<Response, ApiError> {
    let body = synced_list(
        &s.pool,
        (&user.user_id.to_string(), "blocks"),
        q.since_version,
        "SELECT b.blocked_user_id, b.status, b.blocked_at, b.version, u.username, u.nickname, u.avatar \
         FROM blocks b JOIN users u ON u.user_id = b.blocked_user_id \
         WHERE b.user_id = ? AND b.version > ? AND (b.status = 'active' OR ?) ORDER BY b.version",
        ("blocked_user_id", "user_id", "version"),
        "blocks",
        |r| {
            Ok(json!({
                "user_id": r.try_get::<String, _>("blocked_user_id")?,
                "username": r.try_get::<String, _>("username")?,
                "nickname": r.try_get::<String, _>("nickname")?,
                "avatar": r.try_get::<String, _>("avatar")?,
                "blocked_at": rfc3339(r.try_get("blocked_at")?),
                "version": r.try_get::<i64, _>("version")?,
            }))
        },
    )
    .await?;
    Ok(ok(body))
}
