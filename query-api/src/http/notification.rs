//! `/api/notification…` reads: the inbox, the badge and the caller's push
//! devices (docs/services.md, "Notifications").

use crate::AppState;
use axum::{extract::State, response::Response};
use beaver_events::notification::Category;
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
    openapi::Envelope,
};
use beaver_readmodel::notification::{self as read, Filter, Unread};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(badge))
        .routes(routes!(devices))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this category: `social`, `group`, `moment`, `call` or `system`.
    #[param(example = "social")]
    category: Option<String>,
    /// A `position`: only older items (the previous page's `next_before`).
    #[param(value_type = Option<i64>, minimum = 0)]
    before: Option<String>,
    /// Items per page.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50, default = 20)]
    limit: Option<String>,
    /// `true`: only unread items.
    #[param(value_type = Option<bool>, default = false)]
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

/// Lists the caller's inbox, newest activity first.
#[utoipa::path(get, path = "/api/notification", tag = "notifications",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the inbox (deleted items are never listed).", body = Envelope<read::Page>),
        (status = 422, description = "`invalid_field`: `category` is not a category, `before` is not a position, `limit` is not 1 to 50, or `unread` is not `true` or `false`."),
    ))]
async fn list(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    Ok(ok(read::list(&s.pool, user.user_id, &filter(&q)?).await?))
}

#[derive(Debug, Serialize, ToSchema)]
struct Badge {
    /// `messages + notifications.total`.
    total: i64,
    /// Unread messages in the caller's conversations that are not muted.
    messages: i64,
    /// Unread inbox items, per category and in total.
    notifications: Unread,
}

/// Reads the caller's badge: unread messages and notifications.
#[utoipa::path(get, path = "/api/notification/badge", tag = "notifications",
    responses((status = 200, description = "The unread counts.", body = Envelope<Badge>)))]
async fn badge(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let notifications = read::unread(&mut s.redis.clone(), user.user_id).await.map_err(|e| ApiError::Unavailable(e.into()))?;
    let messages = read::unread_messages(&s.pool, user.user_id).await?;
    Ok(ok(Badge { total: messages + notifications.total, messages, notifications }))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = notification::PushDevices)]
struct Devices {
    /// The caller's usable push tokens (their registering session is active), by `device_id`.
    tokens: Vec<read::Device>,
}

/// Lists the caller's push-token registrations (never the tokens themselves).
#[utoipa::path(get, path = "/api/notification/push-tokens", tag = "notifications",
    responses((status = 200, description = "The registrations.", body = Envelope<Devices>)))]
async fn devices(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    Ok(ok(Devices { tokens: read::devices(&s.pool, user.user_id).await? }))
}
