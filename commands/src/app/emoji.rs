//! Emoji (docs/services.md, "Emoji"): the files' facts and the user's counts
//! are loaded from the read models, `domain::emoji` decides, the events go
//! to `beaver.emoji.v1` and the answer waits until the emoji projection
//! shows them. A user's favourite and collection changes are serialised by
//! a lock on the user (the counts must not race).

use super::{Origin, Written};
use crate::{store::consistency::AggregateLock, AppState};
use beaver_events::{emoji::EmojiEvent, topics};
use beaver_platform::http::ApiError;
use beaver_readmodel::{emoji as read, files, progress::EMOJI_PROJECTOR};
use beaver_writemodel::domain::{
    emoji::{self as rules, Favorite, FavoritesState, ImageFacts, NewPack},
    Ctx,
};
use serde::Serialize;
use uuid::Uuid;

/// A favourite as answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FavoriteAnswer {
    /// A UUIDv5 of the user and the file: the same file gives the same id.
    pub emoji_id: Uuid,
    pub file_id: Uuid,
    /// `/api/file/<file_id>`.
    pub url: String,
    pub title: String,
    pub width: u32,
    pub height: u32,
    /// The entry's version, as the favourites list shows it.
    pub version: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Unfavorited {
    pub emoji_id: Uuid,
    /// Always `true`.
    pub removed: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PackDeleted {
    pub pack_id: Uuid,
    /// Always `true`.
    pub deleted: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = emoji::Collection)]
pub struct Collection {
    pub pack_id: Uuid,
    /// Whether the pack is now in the caller's collection.
    pub collected: bool,
}

async fn facts(s: &AppState, file_id: Uuid) -> Result<Option<ImageFacts>, ApiError> {
    Ok(files::load(&s.pool, file_id).await?.and_then(|f| {
        Some(ImageFacts {
            file_id,
            owner_id: Uuid::try_parse(&f.owner_id).ok()?,
            stored: f.status == "stored",
            mime: f.mime.unwrap_or_default(),
            size: f.size.max(0) as u64,
            width: f.width.unwrap_or(0).max(0) as u32,
            height: f.height.unwrap_or(0).max(0) as u32,
        })
    }))
}

async fn lock(s: &AppState, user: Uuid) -> Result<AggregateLock, ApiError> {
    AggregateLock::acquire(s, "emoji", user.to_string(), EMOJI_PROJECTOR, topics::EMOJI).await
}

/// `POST /api/emoji/favorites`.
pub async fn favorite(s: &AppState, origin: &Origin, req: Favorite) -> Result<Written<FavoriteAnswer>, ApiError> {
    let me = origin.actor;
    let file_id = rules::file_id("file_id", &req.file_id)?;
    let file = facts(s, file_id).await?;
    let lock = lock(s, me).await?;
    let emoji_id = rules::favorite_id(me, file_id);
    let (count, existing) = read::favorite_state(&s.pool, me, emoji_id).await?;
    let state = FavoritesState { count, existing_title: existing.map(|(_, t)| t) };
    let decided = rules::decide_favorite(&state, req, file.as_ref(), &Ctx::live(me))?;
    let f = file.expect("decided on a stored file");
    let title = match &decided {
        Some(EmojiEvent::EmojiFavorited(e)) => e.title.clone(),
        _ => state.existing_title.clone().unwrap_or_default(),
    };
    let visible = s.append_locked(lock, decided.into_iter().collect(), origin, EMOJI_PROJECTOR).await?;
    // The entry's version, as the list shows it (a repeat keeps it).
    let version = match read::favorite_version(&s.pool, me, emoji_id).await? {
        Some(v) => v,
        None => read::version(&s.pool, me, read::FAVORITES_LIST).await?,
    };
    Ok(Written::new(
        visible,
        FavoriteAnswer { emoji_id, file_id: f.file_id, url: format!("/api/file/{}", f.file_id), title, width: f.width, height: f.height, version },
    ))
}

/// `DELETE /api/emoji/favorites/{emoji_id}`.
pub async fn unfavorite(s: &AppState, origin: &Origin, emoji_id: Uuid) -> Result<Written<Unfavorited>, ApiError> {
    let lock = lock(s, origin.actor).await?;
    let (_, existing) = read::favorite_state(&s.pool, origin.actor, emoji_id).await?;
    let event = rules::decide_unfavorite(existing.is_some(), emoji_id, &Ctx::live(origin.actor))?;
    let visible = s.append_locked(lock, vec![event], origin, EMOJI_PROJECTOR).await?;
    Ok(Written::new(visible, Unfavorited { emoji_id, removed: true }))
}

/// `POST /api/emoji/packs`: answers the pack as `GET` shows it.
pub async fn create_pack(s: &AppState, origin: &Origin, req: NewPack) -> Result<Written<read::Pack>, ApiError> {
    let me = origin.actor;
    let items = req.items()?;
    let mut found = Vec::with_capacity(items.len());
    for item in items.iter().take(rules::MAX_ITEMS) {
        found.push(facts(s, item.file_id).await?);
    }
    let lock = lock(s, me).await?;
    let owned = read::packs_of(&s.pool, me).await?;
    let event = rules::decide_pack(owned, req, &found, &Ctx::live(me))?;
    let EmojiEvent::EmojiPackCreated(p) = &event else { unreachable!("decide_pack decides a pack") };
    let pack_id = p.pack_id;
    let visible = s.append_locked(lock, vec![event], origin, EMOJI_PROJECTOR).await?;
    let pack = read::pack(&s.pool, pack_id, me).await?.ok_or_else(|| ApiError::Unavailable(anyhow::anyhow!("the new pack is not projected yet; retry")))?;
    Ok(Written::new(visible, pack))
}

/// `DELETE /api/emoji/packs/{id}`.
pub async fn delete_pack(s: &AppState, origin: &Origin, pack_id: Uuid) -> Result<Written<PackDeleted>, ApiError> {
    let owner = read::pack_owner(&s.pool, pack_id).await?;
    let collectors = if owner == Some(origin.actor) { read::collectors(&s.pool, pack_id).await? } else { vec![] };
    let events = rules::decide_delete_pack(owner, pack_id, &collectors, &Ctx::live(origin.actor))?;
    let visible = s.append_all(events, origin, EMOJI_PROJECTOR).await?;
    Ok(Written::new(visible, PackDeleted { pack_id, deleted: true }))
}

/// `PUT` / `DELETE /api/emoji/packs/{id}/collect`.
pub async fn collect(s: &AppState, origin: &Origin, pack_id: Uuid, on: bool) -> Result<Written<Collection>, ApiError> {
    let me = origin.actor;
    let lock = lock(s, me).await?;
    let exists = read::pack_owner(&s.pool, pack_id).await?.is_some();
    let collected = read::has_collected(&s.pool, me, pack_id).await?;
    let decided = rules::decide_collect(exists, collected, on, pack_id, &Ctx::live(me))?;
    let visible = s.append_locked(lock, decided.into_iter().collect(), origin, EMOJI_PROJECTOR).await?;
    Ok(Written::new(visible, Collection { pack_id, collected: on }))
}
