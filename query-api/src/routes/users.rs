//! `GET /api/user/profile`, `GET /api/user/search`, `GET /api/user/online`.

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{mysql::MySqlRow, Row};
use crate::views::rfc3339;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user/profile", get(profile))
        .route("/api/user/search", get(search))
        .route("/api/user/online", get(online))
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
    let platforms = beaver_platform::presence::platforms_visible_to(&mut s.redis.clone(), user.user_id, &ids).await?;
    let users: Vec<Value> = ids
        .iter()
        .zip(platforms)
        .map(|(id, platforms)| json!({ "user_id": id, "online": !platforms.is_empty(), "platforms": platforms }))
        .collect();
    Ok(ok(json!({ "users": users })))
}

const PUBLIC_COLUMNS: &str = "user_id, username, nickname, avatar, signature, gender";

fn public_json(row: &MySqlRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "user_id": row.try_get::<String, _>("user_id")?,
        "username": row.try_get::<String, _>("username")?,
        "nickname": row.try_get::<String, _>("nickname")?,
        "avatar": row.try_get::<String, _>("avatar")?,
        "signature": row.try_get::<String, _>("signature")?,
        "gender": row.try_get::<String, _>("gender")?,
    }))
}

#[derive(Debug, Deserialize)]
struct ProfileQuery {
    user_id: Option<Uuid>,
}

/// Own profile (all fields), or another user's public fields with `?user_id=`.
async fn profile(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<ProfileQuery>) -> Result<Response, ApiError> {
    let target = q.user_id.unwrap_or(user.user_id);
    let own = target == user.user_id;
    let row = sqlx::query(&format!(
        "SELECT {PUBLIC_COLUMNS}, email, phone, created_at, updated_at FROM users WHERE user_id = ?"
    ))
    .bind(target.to_string())
    .fetch_optional(&s.pool)
    .await?
    .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
    let mut body = public_json(&row)?;
    if own {
        body["email"] = json!(row.try_get::<Option<String>, _>("email")?);
        body["phone"] = json!(row.try_get::<Option<String>, _>("phone")?);
        body["created_at"] = json!(rfc3339(row.try_get("created_at")?));
        body["updated_at"] = json!(rfc3339(row.try_get("updated_at")?));
    }
    Ok(ok(body))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
    limit: Option<u32>,
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
pub(crate) fn like_escape(s: &str) -> String {
    s.chars().fold(String::with_capacity(s.len()), |mut out, c| {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// Finds users by exact id, username prefix or nickname substring (public fields).
async fn search(State(s): State<AppState>, _user: AuthUser, ApiQuery(q): ApiQuery<SearchQuery>) -> Result<Response, ApiError> {
    let term = q.q.as_deref().map(str::trim).unwrap_or("");
    if term.is_empty() || term.chars().count() > 64 {
        return Err(ApiError::invalid("q", "q must be 1 to 64 characters"));
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 50);
    let escaped = like_escape(term);
    let rows = sqlx::query(&format!(
        "SELECT {PUBLIC_COLUMNS} FROM users \
         WHERE user_id = ? OR username LIKE ? OR nickname LIKE ? \
         ORDER BY (username = ?) DESC, username LIMIT ?"
    ))
    .bind(term)
    .bind(format!("{}%", escaped.to_lowercase()))
    .bind(format!("%{escaped}%"))
    .bind(term.to_lowercase())
    .bind(limit)
    .fetch_all(&s.pool)
    .await?;
    let users = rows.iter().map(public_json).collect::<Result<Vec<_>, _>>()?;
    Ok(ok(json!({ "users": users })))
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

    #[test]
    fn like_wildcards_in_a_search_term_match_only_themselves() {
        assert_eq!(like_escape("a_b%c\\"), "a\\_b\\%c\\\\");
        assert_eq!(like_escape("plain"), "plain");
    }
}
