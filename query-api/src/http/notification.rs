//! `/api/notification…` reads: the inbox, the badge and the caller's push
//! devices (docs/services.md, "Notifications").

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_events::notification::Category;
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
};
use beaver_readmodel::notification::{self as read, Filter, Unread};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/notification", get(list))
        .route("/api/notification/badge", get(badge))
        .route("/api/notification/push-tokens", get(devices))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    category: Option<String>,
    before: Option<String>,
    limit: Option<String>,
    unread: Option<String>,
}

fn filter(q: &ListQuery) -> Result<Filter, ApiError> {
    let present = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let category = match present(&q.category) {
        None => None,
        Some(c) => Some(Category::parse(&c).ok_or_else(|| ApiError::invalid("category", "category must be social, group, moment, call or system"))?),
    };
    let before = match present(&q.before) {
        None => None,
        Some(b) => Some(b.parse::<i64>().ok().filter(|b| *b >= 0).ok_or_else(|| ApiError::invalid("before", "before must be a position"))?),
    };
    let limit = match present(&q.limit) {
        None => 20,
        Some(l) => l.parse::<u32>().ok().filter(|l| (1..=50).contains(l)).ok_or_else(|| ApiError::invalid("limit", "limit must be 1 to 50"))?,
    };
    let unread_only = match present(&q.unread).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("unread", "unread must be true or false")),
    };
    Ok(Filter { category, before, limit, unread_only })
}

async fn list(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    Ok(ok(read::list(&s.pool, user.user_id, &filter(&q)?).await?))
}

#[derive(Debug, Serialize)]
struct Badge {
    total: i64,
    messages: i64,
    notifications: Unread,
}

async fn badge(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let notifications = read::unread(&mut s.redis.clone(), user.user_id).await.map_err(|e| ApiError::Unavailable(e.into()))?;
    let messages = read::unread_messages(&s.pool, user.user_id).await?;
    Ok(ok(Badge { total: messages + notifications.total, messages, notifications }))
}

#[derive(Debug, Serialize)]
struct Devices {
    tokens: Vec<read::Device>,
}

async fn devices(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    Ok(ok(Devices { tokens: read::devices(&s.pool, user.user_id).await? }))
}
