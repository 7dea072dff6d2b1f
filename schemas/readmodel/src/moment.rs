//! The moments read models (from `beaver.moments.v1`, docs/services.md,
//! "Moments"): moments, likes, comments and the fan-out index
//! `moment_timeline`. Every query here applies the visibility rule against
//! the live friendships and blocks ([`visible`]) before its limit, so the
//! index's lag never shows a moment to someone who may not see it and
//! pages are never short because of it.

use crate::{rfc3339, uuid};
use beaver_events::moment::{Media, Visibility};
use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use std::collections::{HashMap, HashSet};
use time::PrimitiveDateTime;
use uuid::Uuid;

/// SQL true when the viewer (bound six times, see [`bind_viewer`]) may see moment `m` now.
const VISIBLE: &str = "NOT m.deleted AND (m.author_id = ? OR ( \
      EXISTS (SELECT 1 FROM friendships f WHERE f.user_id = ? AND f.friend_id = m.author_id AND f.status = 'active') \
  AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.status = 'active' AND ((b.user_id = ? AND b.blocked_user_id = m.author_id) OR (b.user_id = m.author_id AND b.blocked_user_id = ?))) \
  AND (m.visibility = 'friends' OR (m.visibility = 'selected' AND JSON_CONTAINS(m.users, JSON_QUOTE(?))) \
       OR (m.visibility = 'except' AND NOT JSON_CONTAINS(m.users, JSON_QUOTE(?))))))";

const COLUMNS: &str = "m.moment_id, m.author_id, m.text, m.media, m.visibility, m.users, m.created_at";

fn bind_viewer<'q, O>(
    mut q: sqlx::query::QueryAs<'q, sqlx::MySql, O, sqlx::mysql::MySqlArguments>,
    viewer: &str,
) -> sqlx::query::QueryAs<'q, sqlx::MySql, O, sqlx::mysql::MySqlArguments> {
    for _ in 0..6 {
        q = q.bind(viewer.to_owned());
    }
    q
}

#[derive(FromRow)]
struct Row {
    moment_id: String,
    author_id: String,
    text: String,
    media: String,
    visibility: String,
    users: String,
    created_at: PrimitiveDateTime,
}

/// A stored photo or video as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = moment::Media)]
pub struct ShownMedia {
    pub file_id: Uuid,
    /// `/api/file/<file_id>`.
    pub url: String,
    /// `image` or `video`.
    pub kind: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// A comment as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = moment::Comment)]
pub struct Comment {
    pub comment_id: String,
    pub user_id: String,
    pub text: String,
    /// The comment this one answers.
    pub reply_to: Option<String>,
    pub reply_to_user_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A moment as a viewer sees it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Moment {
    pub moment_id: String,
    pub author_id: String,
    pub text: String,
    pub media: Vec<ShownMedia>,
    /// The author's choice: shown to the author only.
    /// `friends`, `private`, `selected` or `except`; `null` for others.
    pub visibility: Option<String>,
    /// With `selected` or `except`, the listed users; shown to the author only (`null` for others).
    pub users: Option<Vec<Uuid>>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// User ids, oldest first: only the author, the viewer and the viewer's friends.
    pub likes: Vec<String>,
    /// How many likes are shown.
    pub like_count: usize,
    /// Whether the viewer likes it.
    pub liked: bool,
    /// Oldest first: only by the author, the viewer and the viewer's friends.
    pub comments: Vec<Comment>,
    /// How many comments are shown.
    pub comment_count: usize,
}

/// A page: `{moments, next_before}`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = moment::Page)]
pub struct Page {
    pub moments: Vec<Moment>,
    /// The last moment's id when more may follow, else `null`.
    pub next_before: Option<String>,
}

/// The viewer's timeline: their own and their friends' moments they may see, newest first.
pub async fn timeline(pool: &MySqlPool, viewer: Uuid, before: Option<Uuid>, limit: u32) -> Result<Page, sqlx::Error> {
    let sql = format!(
        // STRAIGHT_JOIN: walk the viewer's index rows newest first and stop at
        // the limit; left to itself the optimiser sometimes scanned `moments`
        // first (48–57 ms a page at 20k rows, docs/benchmarks.md "Moments").
        "SELECT STRAIGHT_JOIN {COLUMNS} FROM moment_timeline t JOIN moments m ON m.moment_id = t.moment_id \
         WHERE t.viewer_id = ? AND t.moment_id < ? AND {VISIBLE} ORDER BY t.moment_id DESC LIMIT ?"
    );
    let v = viewer.to_string();
    let q = sqlx::query_as::<_, Row>(&sql).bind(v.clone()).bind(cursor(before));
    let rows = bind_viewer(q, &v).bind(limit as i64 + 1).fetch_all(pool).await?;
    page(pool, viewer, rows, limit).await
}

/// `author`'s moments that the viewer may see, newest first.
pub async fn of_user(pool: &MySqlPool, viewer: Uuid, author: Uuid, before: Option<Uuid>, limit: u32) -> Result<Page, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM moments m WHERE m.author_id = ? AND m.moment_id < ? AND {VISIBLE} ORDER BY m.moment_id DESC LIMIT ?");
    let v = viewer.to_string();
    let q = sqlx::query_as::<_, Row>(&sql).bind(author.to_string()).bind(cursor(before));
    let rows = bind_viewer(q, &v).bind(limit as i64 + 1).fetch_all(pool).await?;
    page(pool, viewer, rows, limit).await
}

/// One moment, if the viewer may see it.
pub async fn one(pool: &MySqlPool, viewer: Uuid, moment_id: Uuid) -> Result<Option<Moment>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM moments m WHERE m.moment_id = ? AND {VISIBLE}");
    let v = viewer.to_string();
    let q = sqlx::query_as::<_, Row>(&sql).bind(moment_id.to_string());
    let rows = bind_viewer(q, &v).fetch_all(pool).await?;
    Ok(shown(pool, viewer, rows).await?.pop())
}

/// Ids sort by time (UUIDv7): before nothing means before everything.
fn cursor(before: Option<Uuid>) -> String {
    before.map(|b| b.to_string()).unwrap_or_else(|| "g".into())
}

async fn page(pool: &MySqlPool, viewer: Uuid, mut rows: Vec<Row>, limit: u32) -> Result<Page, sqlx::Error> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_before = if more { rows.last().map(|r| r.moment_id.clone()) } else { None };
    Ok(Page { moments: shown(pool, viewer, rows).await?, next_before })
}

/// The viewer's friends now.
pub async fn friends_of(pool: &MySqlPool, user: Uuid) -> Result<HashSet<Uuid>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT friend_id FROM friendships WHERE user_id = ? AND status = 'active'").bind(user.to_string()).fetch_all(pool).await?;
    Ok(rows.into_iter().filter_map(|(f,)| Uuid::try_parse(&f).ok()).collect())
}

/// Rows → moments with the likes and comments the viewer may be shown
/// (from the author, the viewer, or the viewer's friends).
async fn shown(pool: &MySqlPool, viewer: Uuid, rows: Vec<Row>) -> Result<Vec<Moment>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let friends = friends_of(pool, viewer).await?;
    let ids: Vec<Uuid> = rows.iter().filter_map(|r| Uuid::try_parse(&r.moment_id).ok()).collect();
    let mut likes: HashMap<String, Vec<String>> = HashMap::new();
    let mut q = sqlx::QueryBuilder::new("SELECT moment_id, user_id FROM moment_likes WHERE moment_id IN (");
    let mut sep = q.separated(", ");
    for id in &ids {
        sep.push_bind(id.to_string());
    }
    q.push(") ORDER BY created_at, user_id");
    for (m, u) in q.build_query_as::<(String, String)>().fetch_all(pool).await? {
        likes.entry(m).or_default().push(u);
    }
    let mut comments: HashMap<String, Vec<Comment>> = HashMap::new();
    let mut q = sqlx::QueryBuilder::new(
        "SELECT moment_id, comment_id, user_id, text, reply_to, reply_to_user_id, created_at FROM moment_comments WHERE NOT deleted AND moment_id IN (",
    );
    let mut sep = q.separated(", ");
    for id in &ids {
        sep.push_bind(id.to_string());
    }
    q.push(") ORDER BY created_at, comment_id");
    type CommentRow = (String, String, String, String, Option<String>, Option<String>, PrimitiveDateTime);
    for (m, comment_id, user_id, text, reply_to, reply_to_user_id, at) in q.build_query_as::<CommentRow>().fetch_all(pool).await? {
        comments.entry(m).or_default().push(Comment { comment_id, user_id, text, reply_to, reply_to_user_id, created_at: rfc3339(at) });
    }
    let me = viewer.to_string();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let may_show = |u: &str| u == me || u == r.author_id || Uuid::try_parse(u).is_ok_and(|u| friends.contains(&u));
        let likes: Vec<String> = likes.remove(&r.moment_id).unwrap_or_default().into_iter().filter(|u| may_show(u)).collect();
        let comments: Vec<Comment> = comments.remove(&r.moment_id).unwrap_or_default().into_iter().filter(|c| may_show(&c.user_id)).collect();
        let own = r.author_id == me;
        let media: Vec<Media> = serde_json::from_str(&r.media).unwrap_or_default();
        out.push(Moment {
            liked: likes.contains(&me),
            like_count: likes.len(),
            comment_count: comments.len(),
            likes,
            comments,
            media: media
                .into_iter()
                .map(|m| ShownMedia { url: format!("/api/file/{}", m.file_id), file_id: m.file_id, kind: m.kind, width: m.width, height: m.height })
                .collect(),
            visibility: own.then(|| r.visibility.clone()),
            users: own.then(|| serde_json::from_str(&r.users).unwrap_or_default()),
            created_at: rfc3339(r.created_at),
            moment_id: r.moment_id,
            author_id: r.author_id,
            text: r.text,
        });
    }
    Ok(out)
}

/// What the write side checks about a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub author_id: Uuid,
    pub visibility: Visibility,
    pub users: Vec<Uuid>,
    pub deleted: bool,
}

pub async fn facts(pool: &MySqlPool, moment_id: Uuid) -> Result<Option<Facts>, sqlx::Error> {
    let row: Option<(String, String, String, bool)> = sqlx::query_as("SELECT author_id, visibility, users, deleted FROM moments WHERE moment_id = ?")
        .bind(moment_id.to_string())
        .fetch_optional(pool)
        .await?;
    row.map(|(author, visibility, users, deleted)| {
        Ok(Facts {
            author_id: uuid(&author)?,
            visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Private),
            users: serde_json::from_str(&users).unwrap_or_default(),
            deleted,
        })
    })
    .transpose()
}

/// `(friends, either blocked the other)` for two users, now.
pub async fn standing(pool: &MySqlPool, a: Uuid, b: Uuid) -> Result<(bool, bool), sqlx::Error> {
    let (a, b) = (a.to_string(), b.to_string());
    sqlx::query_as(
        "SELECT EXISTS(SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ? AND status = 'active'), \
                EXISTS(SELECT 1 FROM blocks WHERE status = 'active' AND ((user_id = ? AND blocked_user_id = ?) OR (user_id = ? AND blocked_user_id = ?)))",
    )
    .bind(&a)
    .bind(&b)
    .bind(&a)
    .bind(&b)
    .bind(&b)
    .bind(&a)
    .fetch_one(pool)
    .await
}

pub async fn has_liked(pool: &MySqlPool, moment_id: Uuid, user: Uuid) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM moment_likes WHERE moment_id = ? AND user_id = ?")
        .bind(moment_id.to_string())
        .bind(user.to_string())
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// `(moment_id, writer, deleted)` of a comment.
pub async fn comment(pool: &MySqlPool, comment_id: Uuid) -> Result<Option<(Uuid, Uuid, bool)>, sqlx::Error> {
    let row: Option<(String, String, bool)> =
        sqlx::query_as("SELECT moment_id, user_id, deleted FROM moment_comments WHERE comment_id = ?").bind(comment_id.to_string()).fetch_optional(pool).await?;
    row.map(|(m, u, d)| Ok((uuid(&m)?, uuid(&u)?, d))).transpose()
}

/// The users among `friends_of_author` who may see a new moment (for the "new post" dot).
pub fn audience(visibility: Visibility, users: &[Uuid], friends_of_author: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    friends_of_author.into_iter().filter(|f| visibility.allows(users.contains(f))).collect()
}

/// Whether `viewer` may see the moment now (the rule of [`timeline`], for one moment).
pub async fn may_see(pool: &MySqlPool, viewer: Uuid, moment_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = format!("SELECT COUNT(*) FROM moments m WHERE m.moment_id = ? AND {VISIBLE}");
    let mut q = sqlx::query_scalar::<_, i64>(&sql).bind(moment_id.to_string());
    for _ in 0..6 {
        q = q.bind(viewer.to_string());
    }
    Ok(q.fetch_one(pool).await? > 0)
}
