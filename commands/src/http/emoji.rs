//! `/api/emoji/…` writes: favourites, packs, collecting (docs/services.md, "Emoji").

use crate::{
    app::{emoji as app, Answer, Origin},
    AppState,
};
use axum::{
    extract::State,
    routing::{delete, post, put},
    Router,
};
use beaver_platform::http::{ApiError, ApiJson, ApiPath};
use beaver_readmodel::emoji::Pack;
use beaver_writemodel::domain::emoji::{Favorite, NewPack};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/emoji/favorites", post(favorite))
        .route("/api/emoji/favorites/{emoji_id}", delete(unfavorite))
        .route("/api/emoji/packs", post(create_pack))
        .route("/api/emoji/packs/{pack_id}", delete(delete_pack))
        .route("/api/emoji/packs/{pack_id}/collect", put(collect).delete(uncollect))
}

/// An id from the path; a malformed one names nothing: 404.
fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound("not found".into()))
}

async fn favorite(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<Favorite>) -> Answer<app::FavoriteAnswer> {
    app::favorite(&s, &origin, req).await
}

async fn unfavorite(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Unfavorited> {
    app::unfavorite(&s, &origin, id(&raw)?).await
}

async fn create_pack(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<NewPack>) -> Answer<Pack> {
    app::create_pack(&s, &origin, req).await
}

async fn delete_pack(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::PackDeleted> {
    app::delete_pack(&s, &origin, id(&raw)?).await
}

async fn collect(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Collection> {
    app::collect(&s, &origin, id(&raw)?, true).await
}

async fn uncollect(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Collection> {
    app::collect(&s, &origin, id(&raw)?, false).await
}
