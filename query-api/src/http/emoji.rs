//! `/api/emoji/…` reads: favourites and collected packs (synced lists), and
//! the public sticker packs, users' and official ones (docs/services.md, "Emoji").

use crate::AppState;
use axum::{extract::State, response::Response};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
    openapi::Envelope,
};
use beaver_readmodel::emoji as read;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(favorites))
        .routes(routes!(collected))
        .routes(routes!(packs))
        .routes(routes!(pack))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SinceQuery {
    /// The `version` of the client's copy: only what changed since, removals
    /// included. Absent: the whole list. Ahead of the server's (or negative):
    /// the whole list with `full_sync: true`.
    since_version: Option<i64>,
}

// The synced lists are serialised by `beaver_readmodel::sync::SyncedList`,
// whose entries' key is chosen at run time; these describe the two shapes.

/// The caller's favourites: `{favorites, removed, version, full_sync}`.
#[derive(ToSchema)]
#[schema(as = emoji::FavoritesList)]
#[allow(dead_code)]
struct FavoritesList {
    /// Active favourites changed since `since_version` (all without it), newest change first.
    favorites: Vec<read::Favorite>,
    /// Favourites removed since `since_version` (only with it).
    removed: Vec<RemovedFavorite>,
    /// The list's version now: the next `since_version`.
    version: i64,
    /// The client's version was ahead of the server's (a rebuilt read model): this is the whole list.
    full_sync: bool,
}

#[derive(ToSchema)]
#[schema(as = emoji::RemovedFavorite)]
#[allow(dead_code)]
struct RemovedFavorite {
    emoji_id: String,
    version: i64,
}

/// The caller's collected packs: `{packs, removed, version, full_sync}`.
#[derive(ToSchema)]
#[schema(as = emoji::CollectedList)]
#[allow(dead_code)]
struct CollectedList {
    /// Collections changed since `since_version` (all without it), newest change first.
    packs: Vec<read::Collected>,
    /// Packs uncollected, or deleted by their owner, since `since_version` (only with it).
    removed: Vec<RemovedPack>,
    /// The list's version now: the next `since_version`.
    version: i64,
    /// The client's version was ahead of the server's (a rebuilt read model): this is the whole list.
    full_sync: bool,
}

#[derive(ToSchema)]
#[schema(as = emoji::RemovedPack)]
#[allow(dead_code)]
struct RemovedPack {
    pack_id: String,
    version: i64,
}

/// Lists the caller's favourite stickers (incremental with `since_version`).
#[utoipa::path(get, path = "/api/emoji/favorites", tag = "emoji",
    params(SinceQuery),
    responses((status = 200, description = "The favourites, or what changed since `since_version`.", body = Envelope<FavoritesList>)))]
async fn favorites(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SinceQuery>) -> Result<Response, ApiError> {
    Ok(ok(read::favorites(&s.pool, user.user_id, q.since_version).await?))
}

/// Lists the packs the caller has collected (incremental with `since_version`).
#[utoipa::path(get, path = "/api/emoji/collected", tag = "emoji",
    params(SinceQuery),
    responses((status = 200, description = "The collected packs, or what changed since `since_version`.", body = Envelope<CollectedList>)))]
async fn collected(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<SinceQuery>) -> Result<Response, ApiError> {
    Ok(ok(read::collected(&s.pool, user.user_id, q.since_version).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PacksQuery {
    /// A `pack_id`: only older packs (the previous page's last); one that names no pack gives an empty page.
    #[param(value_type = Option<Uuid>)]
    before: Option<String>,
    /// Packs per page.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50, default = 20)]
    limit: Option<String>,
    /// `true`: only official packs; `false`: only users' packs; absent: both.
    #[param(value_type = Option<bool>)]
    official: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = emoji::Packs)]
struct Packs {
    packs: Vec<read::PackSummary>,
    /// Older packs follow (ask again with `before` = the last `pack_id`).
    has_more: bool,
}

/// Lists the active sticker packs of every user and the official ones, newest first.
#[utoipa::path(get, path = "/api/emoji/packs", tag = "emoji",
    params(PacksQuery),
    responses(
        (status = 200, description = "A page of packs.", body = Envelope<Packs>),
        (status = 422, description = "`invalid_field`: `before` is not a pack id, `limit` is not 1 to 50, or `official` is not `true` or `false`."),
    ))]
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

/// Reads a sticker pack with its items.
#[utoipa::path(get, path = "/api/emoji/packs/{pack_id}", tag = "emoji",
    params(("pack_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The pack, with whether the caller collected it.", body = Envelope<read::Pack>),
        (status = 404, description = "`not_found`: no such pack, or it was deleted."),
    ))]
async fn pack(State(s): State<AppState>, user: AuthUser, ApiPath(raw): ApiPath<String>) -> Result<Response, ApiError> {
    let id = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("no such pack".into()))?;
    read::pack(&s.pool, id, user.user_id).await?.map(ok).ok_or_else(|| ApiError::NotFound("no such pack".into()))
}
