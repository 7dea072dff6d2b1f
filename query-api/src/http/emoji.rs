//! `/api/emoji/…` reads: favourites and collected packs (synced lists), and
//! the public sticker packs, users' and official ones (docs/services.md, "Emoji").

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
};
use beaver_readmodel::emoji as read;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/emoji/favorites", get(favorites))
        .route("/api/emoji/collected", get(collected))
        .route("/api/emoji/packs", get(packs))
        .route("/api/emoji/packs/{pack_id}", get(pack))
}

#[derive(Debug, Deserialize)]
struct SinceQuery {
    since_version: Option<i64>,
}

async fn favorites(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SinceQuery>) -> Result<Response, ApiError> {
    Ok(ok(read::favorites(&s.pool, user.user_id, q.since_version).await?))
}

async fn collected(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SinceQuery>) -> Result<Response, ApiError> {
    Ok(ok(read::collected(&s.pool, user.user_id, q.since_version).await?))
}

#[derive(Debug, Deserialize)]
struct PacksQuery {
    before: Option<String>,
    limit: Option<String>,
    /// `true`: only official packs; `false`: only users' packs; absent: both.
    official: Option<String>,
}

#[derive(Debug, Serialize)]
struct Packs {
    packs: Vec<read::PackSummary>,
    has_more: bool,
}

async fn packs(State(s): State<AppState>, _user: AuthUser, ApiQuery(q): ApiQuery<PacksQuery>) -> Result<Response, ApiError> {
    let before = match q.before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(Uuid::try_parse(b).map_err(|_| ApiError::invalid("before", "before must be a pack id"))?),
    };
    let limit = match q.limit.as_deref() {
        None => 20,
        Some(l) => l.trim().parse::<u32>().ok().filter(|l| (1..=50).contains(l)).ok_or_else(|| ApiError::invalid("limit", "limit must be 1 to 50"))?,
    };
    let official = match q.official.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::invalid("official", "official must be true or false")),
    };
    let (packs, has_more) = read::packs(&s.pool, before, limit, official).await?;
    Ok(ok(Packs { packs, has_more }))
}

async fn pack(State(s): State<AppState>, user: AuthUser, ApiPath(raw): ApiPath<String>) -> Result<Response, ApiError> {
    let id = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("no such pack".into()))?;
    read::pack(&s.pool, id, user.user_id).await?.map(ok).ok_or_else(|| ApiError::NotFound("no such pack".into()))
}
