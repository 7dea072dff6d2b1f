//! `GET /api/user/profile`, `GET /api/user/search`, `GET /api/user/online`.

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
};
use serde::{Deserialize, Serialize};

/// A user's presence as the viewer may see it.
#[derive(Debug, Serialize)]
struct Online {
    user_id: Uuid,
    online: bool,
    platforms: Vec<String>,
}

#[derive(Debug, Serialize)]
struct OnlineList {
    users: Vec<Online>,
}

#[derive(Debug, Serialize)]
struct Found {
    users: Vec<users::PublicProfile>,
}
use beaver_readmodel::{presence, settings, user as users};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user/profile", get(profile))
        .route("/api/user/search", get(search))
        .route("/api/user/online", get(online))
        .route("/api/user/settings", get(my_settings))
}

#[derive(Debug, Deserialize)]
struct OnlineQuery {
    user_ids: Option<String>,
}

/// The ids of a comma-separated list: 1 to 100 UUIDs, repeats removed.
fn user_id_list(raw: Option<&str>) -> Result<Vec<Uuid>, ApiError> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty()).ok_or_else(|| ApiError::invalid("user_ids", "user_ids is required"))?;
    let mut ids = Vec::new();
    for part in raw.split(',') {
        let id = Uuid::try_parse(part.trim()).map_err(|_| ApiError::invalid("user_ids", format!("{part:?} is not a user id")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > 100 {
        return Err(ApiError::invalid("user_ids", "at most 100 user ids"));
    }
    Ok(ids)
}

/// Who is connected to ws-push now, from the presence sets it maintains —
/// for the caller and the caller's friends only. Anyone else is answered
/// exactly like a user who is offline, so presence cannot be probed by a
/// stranger who found a user id through search.
async fn online(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<OnlineQuery>) -> Result<Response, ApiError> {
    let ids = user_id_list(q.user_ids.as_deref())?;
    let platforms = presence::platforms_visible_to(&mut s.redis.clone(), user.user_id, &ids).await?;
    // Users who turned `show_online` off look offline to everyone else.
    let hidden = settings::hiding_presence(&s.pool, &ids).await?;
    let users = ids
        .into_iter()
        .zip(platforms)
        .map(|(user_id, platforms)| {
            let platforms = if user_id != user.user_id && hidden.contains(&user_id) { Vec::new() } else { platforms };
            Online { user_id, online: !platforms.is_empty(), platforms }
        })
        .collect();
    Ok(ok(OnlineList { users }))
}

#[derive(Debug, Deserialize)]
struct ProfileQuery {
    user_id: Option<Uuid>,
}

/// Own profile (all fields), or another user's public fields with `?user_id=`.
async fn profile(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<ProfileQuery>) -> Result<Response, ApiError> {
    let target = q.user_id.unwrap_or(user.user_id);
    let body = users::profile(&s.pool, target, target == user.user_id).await?;
    body.map(ok).ok_or_else(|| ApiError::NotFound("user not found".into()))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
    limit: Option<u32>,
}

/// The caller's settings, defaults filled in, with their change count.
#[derive(Debug, Serialize)]
struct SettingsDocument {
    #[serde(flatten)]
    settings: beaver_events::user::Settings,
    version: i64,
}

async fn my_settings(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let (settings, version) = settings::load(&s.pool, user.user_id).await?;
    Ok(ok(SettingsDocument { settings, version }))
}

/// Finds users by exact id, username prefix, nickname substring, or exact
/// e-mail / phone where the user allows it (public fields).
async fn search(State(s): State<AppState>, _user: AuthUser, ApiQuery(q): ApiQuery<SearchQuery>) -> Result<Response, ApiError> {
    let term = q.q.as_deref().map(str::trim).unwrap_or("");
    if term.is_empty() || term.chars().count() > 64 {
        return Err(ApiError::invalid("q", "q must be 1 to 64 characters"));
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 50);
    Ok(ok(Found { users: users::search(&s.pool, term, limit).await? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_online_query_takes_one_to_a_hundred_distinct_ids() {
        let a = Uuid::now_v7();
        assert_eq!(user_id_list(Some(&format!("{a}, {a}"))).unwrap(), vec![a]);
        assert!(user_id_list(None).is_err());
        assert!(user_id_list(Some("x")).is_err());
        let many: Vec<String> = (0..101).map(|_| Uuid::new_v4().to_string()).collect();
        assert!(user_id_list(Some(&many.join(","))).is_err());
    }
}
