//! The notifications read models (from `beaver.notifications.v1`): each
//! user's inbox, the unread counts kept in Redis for the badge, and the
//! push tokens (docs/services.md, "Notifications").

use crate::{keys, rfc3339};
use beaver_events::notification::{Category, PushPlatform, PushTarget};
use redis::AsyncCommands;
use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use time::PrimitiveDateTime;
use uuid::Uuid;

/// The `sync_versions` list whose version is a user's inbox position.
pub const POSITION_LIST: &str = "notifications";
/// Items kept per user (older ones are dropped by the projection).
pub const KEEP_ITEMS: i64 = 1000;
/// Days an item is kept, counted back from the user's newest item.
pub const KEEP_DAYS: i64 = 90;

/// An inbox item as the list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = notification::Item)]
pub struct Item {
    pub notification_id: String,
    /// `social`, `group`, `moment`, `call` or `system`.
    pub category: String,
    /// `friend_request`, `friend_accepted`, `added`, `removed`, `join_request`, `join_approved`,
    /// `join_rejected`, `moment_liked`, `moment_commented`, `moment_replied`, `call_missed` or `announcement`.
    pub kind: String,
    /// User ids, newest first (at most three when coalesced).
    pub actors: Vec<String>,
    pub actor_count: i64,
    pub target: ItemTarget,
    pub text: String,
    pub read: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Increases with every new or coalesced item of the user: the `before` cursor.
    pub position: i64,
}

/// What an inbox item is about: `{type, id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = notification::Target)]
pub struct ItemTarget {
    /// `friend_request`, `user`, `group`, `moment`, `call` or `announcement`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(FromRow)]
struct Row {
    notification_id: String,
    category: String,
    kind: String,
    actors: String,
    actor_count: i32,
    target_type: String,
    target_id: String,
    text: String,
    is_read: bool,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
    position: i64,
}

/// A page of the inbox: `{items, next_before}`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = notification::Page)]
pub struct Page {
    pub items: Vec<Item>,
    /// The last item's `position` when more may follow, else `null`.
    pub next_before: Option<i64>,
}

/// What a list asks for.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub category: Option<Category>,
    pub before: Option<i64>,
    pub limit: u32,
    pub unread_only: bool,
}

/// `user`'s undeleted items, newest activity first.
pub async fn list(pool: &MySqlPool, user: Uuid, f: &Filter) -> Result<Page, sqlx::Error> {
    let mut q = sqlx::QueryBuilder::new(
        "SELECT notification_id, category, kind, actors, actor_count, target_type, target_id, text, is_read, created_at, updated_at, position \
         FROM notifications WHERE user_id = ",
    );
    q.push_bind(user.to_string()).push(" AND deleted = FALSE");
    if let Some(c) = f.category {
        q.push(" AND category = ").push_bind(c.as_str());
    }
    if let Some(b) = f.before {
        q.push(" AND position < ").push_bind(b);
    }
    if f.unread_only {
        q.push(" AND is_read = FALSE");
    }
    q.push(" ORDER BY position DESC LIMIT ").push_bind(f.limit as i64 + 1);
    let mut rows: Vec<Row> = q.build_query_as().fetch_all(pool).await?;
    let more = rows.len() > f.limit as usize;
    rows.truncate(f.limit as usize);
    let next_before = if more { rows.last().map(|r| r.position) } else { None };
    let items = rows
        .into_iter()
        .map(|r| Item {
            notification_id: r.notification_id,
            category: r.category,
            kind: r.kind,
            actors: serde_json::from_str(&r.actors).unwrap_or_default(),
            actor_count: r.actor_count as i64,
            target: ItemTarget { kind: r.target_type, id: r.target_id },
            text: r.text,
            read: r.is_read,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            position: r.position,
        })
        .collect();
    Ok(Page { items, next_before })
}

/// How many of `ids` are `user`'s undeleted items.
pub async fn owned(pool: &MySqlPool, user: Uuid, ids: &[Uuid]) -> Result<usize, sqlx::Error> {
    Ok(crate::subset(pool, "SELECT notification_id FROM notifications WHERE deleted = FALSE AND user_id = ", &[user.to_string()], ids, "notification_id")
        .await?
        .len())
}

/// Unread notification counts, per category and in total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Unread {
    pub total: i64,
    pub social: i64,
    pub group: i64,
    pub moment: i64,
    pub call: i64,
    pub system: i64,
}

impl Unread {
    /// From `(category, count)` rows.
    pub fn from_counts<'a>(rows: impl IntoIterator<Item = (&'a str, i64)>) -> Self {
        let mut u = Unread::default();
        for (c, n) in rows {
            match Category::parse(c) {
                Some(Category::Social) => u.social += n,
                Some(Category::Group) => u.group += n,
                Some(Category::Moment) => u.moment += n,
                Some(Category::Call) => u.call += n,
                Some(Category::System) => u.system += n,
                None => continue,
            }
            u.total += n;
        }
        u
    }

    /// The Redis hash's fields and values.
    pub fn fields(&self) -> [(&'static str, i64); 6] {
        [("total", self.total), ("social", self.social), ("group", self.group), ("moment", self.moment), ("call", self.call), ("system", self.system)]
    }
}

/// The unread counts the projection keeps in Redis (zero when never written).
pub async fn unread(redis: &mut redis::aio::ConnectionManager, user: Uuid) -> redis::RedisResult<Unread> {
    let fields = ["total", "social", "group", "moment", "call", "system"];
    let values: Vec<Option<i64>> = redis.hget(keys::notifications_unread(user), &fields).await?;
    let n = |i: usize| values.get(i).copied().flatten().unwrap_or(0);
    Ok(Unread { total: n(0), social: n(1), group: n(2), moment: n(3), call: n(4), system: n(5) })
}

/// Unread messages in `user`'s conversations that they have not muted.
pub async fn unread_messages(pool: &MySqlPool, user: Uuid) -> Result<i64, sqlx::Error> {
    let list = crate::conversation::list(pool, user, None).await?;
    Ok(list.conversations.iter().filter(|c| !c.muted).map(|c| c.unread).sum())
}

/// A push token as listed (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
#[schema(as = notification::PushDevice)]
pub struct Device {
    pub device_id: String,
    /// `apns`, `fcm` or `webpush`.
    pub platform: String,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: PrimitiveDateTime,
}

/// `user`'s usable tokens: the registering session is active, and no other
/// user registered the same token later.
const USABLE: &str = "FROM push_tokens t JOIN sessions s ON s.session_id = t.session_id AND s.status = 'active' \
     WHERE t.user_id = ? AND NOT EXISTS (SELECT 1 FROM push_tokens o WHERE o.token_hash = t.token_hash AND o.user_id <> t.user_id AND o.registered_at > t.registered_at)";

/// [`USABLE`] tokens of `user`, as listed.
pub async fn devices(pool: &MySqlPool, user: Uuid) -> Result<Vec<Device>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT t.device_id, t.platform, t.registered_at {USABLE} ORDER BY t.device_id")).bind(user.to_string()).fetch_all(pool).await
}

/// [`USABLE`] tokens of `user`, for a push job.
pub async fn push_targets(pool: &MySqlPool, user: Uuid) -> Result<Vec<PushTarget>, sqlx::Error> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as(&format!("SELECT t.device_id, t.platform, t.token {USABLE} ORDER BY t.device_id")).bind(user.to_string()).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(device_id, platform, token)| Some(PushTarget { device_id, platform: PushPlatform::parse(&platform)?, token }))
        .collect())
}

/// Whether `user` has a token (of any session) for `device_id`.
pub async fn has_device(pool: &MySqlPool, user: Uuid, device_id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM push_tokens WHERE user_id = ? AND device_id = ?")
        .bind(user.to_string())
        .bind(device_id)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// The name a push shows for a user: their nickname, else their username.
pub async fn display_name(pool: &MySqlPool, user: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE(NULLIF(nickname, ''), username) FROM users WHERE user_id = ?").bind(user.to_string()).fetch_optional(pool).await
}

/// A group's name, for a push.
pub async fn group_name(pool: &MySqlPool, group: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM chat_groups WHERE group_id = ?").bind(group.to_string()).fetch_optional(pool).await
}
