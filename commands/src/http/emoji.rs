//! `/api/emoji/…` writes: favourites, packs, collecting (docs/services.md, "Emoji").

use crate::{
    app::{emoji as app, Answer, Origin},
    AppState,
};
use axum::extract::State;
use beaver_platform::{
    http::{ApiError, ApiJson, ApiPath},
    openapi::Envelope,
};
use beaver_readmodel::emoji::Pack;
use beaver_writemodel::domain::emoji::{Favorite, NewPack};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(favorite))
        .routes(routes!(unfavorite))
        .routes(routes!(create_pack))
        .routes(routes!(delete_pack))
        .routes(routes!(collect))
        .routes(routes!(uncollect))
}

/// An id from the path; a malformed one names nothing: 404.
fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound("not found".into()))
}

/// Adds one of the caller's stored images to their favourite stickers, or renames it.
///
/// Idempotent: the same file gives the same `emoji_id`, and favouriting it
/// again changes nothing (a new `title` renames it).
#[utoipa::path(post, path = "/api/emoji/favorites", tag = "emoji", operation_id = "emoji_favorite", request_body = Favorite,
    responses(
        (status = 200, description = "The favourite, with its entry's `version` as the list shows it.", body = Envelope<app::FavoriteAnswer>),
        (status = 409, description = "`limit_reached`: the caller has 300 favourites."),
        (status = 422, description = "`invalid_field` naming `file_id` (not the caller's own stored JPEG, PNG, GIF or WebP of at most 1,024 px a side and 2 MiB, or unknown) or `title`."),
    ))]
async fn favorite(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<Favorite>) -> Answer<app::FavoriteAnswer> {
    app::favorite(&s, &origin, req).await
}

/// Removes a favourite sticker.
#[utoipa::path(delete, path = "/api/emoji/favorites/{emoji_id}", tag = "emoji", operation_id = "emoji_unfavorite",
    params(("emoji_id" = Uuid, Path, description = "The favourite's id.")),
    responses(
        (status = 200, body = Envelope<app::Unfavorited>),
        (status = 404, description = "`not_found`: not among the caller's favourites (or a malformed id)."),
    ))]
async fn unfavorite(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Unfavorited> {
    app::unfavorite(&s, &origin, id(&raw)?).await
}

/// Makes a sticker pack of the caller's own stored images.
#[utoipa::path(post, path = "/api/emoji/packs", tag = "emoji", operation_id = "emoji_create_pack", request_body = NewPack,
    responses(
        (status = 200, description = "The pack as `GET /api/emoji/packs/{pack_id}` shows it.", body = Envelope<Pack>),
        (status = 409, description = "`limit_reached`: the caller owns 30 packs."),
        (status = 422, description = "`invalid_field` naming `title`, `description` or `items` (the message names the first bad item by index)."),
        (status = 503, description = "`unavailable`: a dependency is not answering, or the new pack (already durable) was not yet visible to queries — it exists: read it, do not post it again."),
    ))]
async fn create_pack(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<NewPack>) -> Answer<Pack> {
    app::create_pack(&s, &origin, req).await
}

/// Deletes one of the caller's packs; it leaves every collector's list.
#[utoipa::path(delete, path = "/api/emoji/packs/{pack_id}", tag = "emoji", operation_id = "emoji_delete_pack",
    params(("pack_id" = Uuid, Path, description = "The pack's id.")),
    responses(
        (status = 200, body = Envelope<app::PackDeleted>),
        (status = 404, description = "`not_found`: no such pack, someone else's, or already deleted."),
    ))]
async fn delete_pack(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::PackDeleted> {
    app::delete_pack(&s, &origin, id(&raw)?).await
}

/// Adds a pack (anyone's) to the caller's collection; idempotent.
#[utoipa::path(put, path = "/api/emoji/packs/{pack_id}/collect", tag = "emoji", operation_id = "emoji_collect",
    params(("pack_id" = Uuid, Path, description = "The pack's id.")),
    responses(
        (status = 200, description = "`collected: true`.", body = Envelope<app::Collection>),
        (status = 404, description = "`not_found`: no such pack, or it was deleted."),
    ))]
async fn collect(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Collection> {
    app::collect(&s, &origin, id(&raw)?, true).await
}

/// Removes a pack from the caller's collection; idempotent (also for a pack not collected or deleted).
#[utoipa::path(delete, path = "/api/emoji/packs/{pack_id}/collect", tag = "emoji", operation_id = "emoji_uncollect",
    params(("pack_id" = Uuid, Path, description = "The pack's id.")),
    responses(
        (status = 200, description = "`collected: false`.", body = Envelope<app::Collection>),
        (status = 404, description = "`not_found`: a malformed pack id."),
    ))]
async fn uncollect(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Collection> {
    app::collect(&s, &origin, id(&raw)?, false).await
}
