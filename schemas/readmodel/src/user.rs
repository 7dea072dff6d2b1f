//! The `users` read model (from `beaver.users.v1`): accounts, their public
//! profile and the credentials a login checks.

use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use time::PrimitiveDateTime;
use std::collections::HashSet;
use uuid::Uuid;

/// Whether `user_id` has an account.
pub async fn exists(pool: &MySqlPool, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM users WHERE user_id = ?").bind(user_id.to_string()).fetch_optional(pool).await?;
    Ok(found.is_some())
}

/// The ids among `ids` that have an account.
pub async fn existing_among(pool: &MySqlPool, ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
    crate::subset(pool, "SELECT user_id FROM users WHERE ", &[], ids, "user_id").await
}

/// How a login names the account.
#[derive(Clone, Copy, Debug)]
pub enum LoginName<'a> {
    Email(&'a str),
    /// A normalised username.
    Username(&'a str),
}

/// The account id and argon2id PHC string of a login, if the account exists.
pub async fn credentials(pool: &MySqlPool, login: LoginName<'_>) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    let row: Option<(String, String)> = match login {
        LoginName::Email(email) => sqlx::query_as("SELECT user_id, password_hash FROM users WHERE email = ?").bind(email).fetch_optional(pool).await?,
        LoginName::Username(name) => sqlx::query_as("SELECT user_id, password_hash FROM users WHERE username = ?").bind(name).fetch_optional(pool).await?,
    };
    Ok(row.and_then(|(id, hash)| Some((Uuid::try_parse(&id).ok()?, hash))))
}

/// The fields a user edits on their own profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditableRow {
    pub nickname: String,
    pub avatar: String,
    pub signature: String,
    /// `male`, `female` or `unknown`.
    pub gender: String,
}

pub async fn editable(pool: &MySqlPool, user_id: Uuid) -> Result<Option<EditableRow>, sqlx::Error> {
    let row: Option<(String, String, String, String)> = sqlx::query_as("SELECT nickname, avatar, signature, gender FROM users WHERE user_id = ?")
        .bind(user_id.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(nickname, avatar, signature, gender)| EditableRow { nickname, avatar, signature, gender }))
}

const PUBLIC_COLUMNS: &str = "user_id, username, nickname, avatar, signature, gender";

/// What anyone may see of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct PublicProfile {
    #[schema(format = Uuid)]
    pub user_id: String,
    pub username: String,
    pub nickname: String,
    pub avatar: String,
    pub signature: String,
    /// `unspecified`, `male`, `female` or `other`.
    pub gender: String,
}

/// What a user sees of themself: the public profile and the private fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow, utoipa::ToSchema)]
pub struct OwnProfile {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub public: PublicProfile,
    #[schema(required = true)]
    pub email: Option<String>,
    #[schema(required = true)]
    pub phone: Option<String>,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: PrimitiveDateTime,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: PrimitiveDateTime,
}

/// A profile as its viewer may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Profile {
    Own(Box<OwnProfile>),
    Public(PublicProfile),
}

/// A user's profile: every field for the user themself (`own`), the public
/// fields for anyone else; `None` when there is no such user.
pub async fn profile(pool: &MySqlPool, target: Uuid, own: bool) -> Result<Option<Profile>, sqlx::Error> {
    let row: Option<OwnProfile> = sqlx::query_as(&format!("SELECT {PUBLIC_COLUMNS}, email, phone, created_at, updated_at FROM users WHERE user_id = ?"))
        .bind(target.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|p| if own { Profile::Own(Box::new(p)) } else { Profile::Public(p.public) }))
}

/// Users by exact id, username prefix, nickname substring, or exact e-mail
/// or phone where the user allows it (`searchable_by_email` /
/// `searchable_by_phone`), public fields only; an exact username first.
pub async fn search(pool: &MySqlPool, term: &str, limit: u32) -> Result<Vec<PublicProfile>, sqlx::Error> {
    let escaped = crate::like_escape(term);
    sqlx::query_as(&format!(
        "SELECT {PUBLIC_COLUMNS} FROM users \
         WHERE user_id = ? OR username LIKE ? OR nickname LIKE ? \
            OR (email = ? AND {by_email}) OR (phone = ? AND {by_phone}) \
         ORDER BY (username = ?) DESC, username LIMIT ?",
        by_email = crate::settings::allows_predicate("users.user_id", "searchable_by_email"),
        by_phone = crate::settings::allows_predicate("users.user_id", "searchable_by_phone"),
    ))
    .bind(term)
    .bind(format!("{}%", escaped.to_lowercase()))
    .bind(format!("%{escaped}%"))
    .bind(term.to_lowercase())
    .bind(term)
    .bind(term.to_lowercase())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A SQL predicate that holds when an account with the id in `owner_column`
/// exists, for statements that must check it atomically with their own
/// write (commands' take-over of a stale username claim).
pub fn account_exists_predicate(owner_column: &str) -> String {
    format!("EXISTS (SELECT 1 FROM users u WHERE u.user_id = {owner_column})")
}

/// A page of user ids in id order, after `after` (for fan-out to every user).
pub async fn ids_after(pool: &MySqlPool, after: Option<Uuid>, limit: u32) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT user_id FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?")
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(limit as i64)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().filter_map(|(id,)| Uuid::try_parse(&id).ok()).collect())
}
