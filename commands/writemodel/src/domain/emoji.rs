//! Emoji (docs/services.md, "Emoji"): favourites and sticker packs, each
//! sticker one of the user's own stored images. The app layer loads the
//! files' facts and the user's counts; these rules decide.

use super::{Ctx, DomainError};
use beaver_events::emoji::{EmojiEvent, EmojiFavorited, EmojiPackCollection, EmojiPackCreated, EmojiPackDeleted, EmojiUnfavorited, PackItem};
use serde::Deserialize;
use uuid::Uuid;

pub const MAX_FAVORITES: i64 = 300;
pub const MAX_PACKS: i64 = 30;
pub const MAX_ITEMS: usize = 200;
pub const TITLE_MAX: usize = 32;
pub const PACK_TITLE_MAX: usize = 32;
pub const DESCRIPTION_MAX: usize = 200;
pub const MAX_SIDE: u32 = 1024;
pub const MAX_BYTES: u64 = 2 * 1024 * 1024;

/// The namespace of favourite ids: `emoji_id = v5(NAMESPACE, "<user>:<file>")`.
const NAMESPACE: Uuid = Uuid::from_u128(0x6265_6176_6572_2d65_6d6f_6a69_2d66_6176);

/// A favourite's id: the same user and file always give the same id.
pub fn favorite_id(user: Uuid, file: Uuid) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{user}:{file}").as_bytes())
}

/// A pack item's id: stable per pack and position.
pub fn item_id(pack: Uuid, position: usize) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{pack}#{position}").as_bytes())
}

/// What a sticker needs to know of a stored file (from the files read model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub stored: bool,
    pub mime: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

fn invalid(field: &'static str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid(field, why.into())
}

fn title(field: &'static str, raw: Option<&str>, max: usize, required: bool) -> Result<String, DomainError> {
    let t = raw.unwrap_or_default().trim();
    if (required && t.is_empty()) || t.chars().count() > max || t.chars().any(char::is_control) {
        let least = if required { 1 } else { 0 };
        return Err(invalid(field, format!("{field} must be {least} to {max} characters")));
    }
    Ok(t.to_owned())
}

/// Whether `facts` is `me`'s own stored image fit to be a sticker.
fn sticker(field: &'static str, facts: Option<&ImageFacts>, me: Uuid) -> Result<ImageFacts, DomainError> {
    let why = format!("{field} must be one of your own stored images (JPEG, PNG, GIF or WebP, at most {MAX_SIDE} px a side and 2 MiB)");
    let f = facts.filter(|f| f.owner_id == me && f.stored).ok_or_else(|| invalid(field, why.clone()))?;
    let image = crate::domain::files::DECODED_IMAGES.contains(&f.mime.as_str());
    if !image || f.width > MAX_SIDE || f.height > MAX_SIDE || f.size > MAX_BYTES || f.width == 0 || f.height == 0 {
        return Err(invalid(field, why));
    }
    Ok(f.clone())
}

/// `POST /api/emoji/favorites`.
/// Read as JSON values so that a missing or mistyped field is named.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Favorite {
    #[serde(default)]
    pub file_id: serde_json::Value,
    #[serde(default)]
    pub title: Option<serde_json::Value>,
}

/// A file id field: 422 naming `field` unless a UUID.
pub fn file_id(field: &'static str, v: &serde_json::Value) -> Result<Uuid, DomainError> {
    v.as_str().and_then(|s| Uuid::try_parse(s).ok()).ok_or_else(|| invalid(field, format!("{field} must be a file id")))
}

/// An optional text field: 422 naming `field` unless a string (or null).
fn text_of<'a>(field: &'static str, v: Option<&'a serde_json::Value>) -> Result<Option<&'a str>, DomainError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, format!("{field} must be a string"))),
    }
}

/// What the user has: the number of active favourites, and this file's
/// favourite (its title) if it is one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FavoritesState {
    pub count: i64,
    pub existing_title: Option<String>,
}

/// Decides a favourite: none when it is already there with that title.
pub fn decide_favorite(state: &FavoritesState, req: Favorite, file: Option<&ImageFacts>, ctx: &Ctx) -> Result<Option<EmojiEvent>, DomainError> {
    file_id("file_id", &req.file_id)?;
    let given = text_of("title", req.title.as_ref())?;
    let title = title("title", given, TITLE_MAX, false)?;
    let f = sticker("file_id", file, ctx.actor)?;
    match &state.existing_title {
        Some(t) if *t == title || given.is_none() => return Ok(None),
        Some(_) => {}
        None if state.count >= MAX_FAVORITES => {
            return Err(DomainError::Conflict("limit_reached", format!("at most {MAX_FAVORITES} favourites")));
        }
        None => {}
    }
    Ok(Some(EmojiEvent::EmojiFavorited(EmojiFavorited {
        user_id: ctx.actor,
        emoji_id: favorite_id(ctx.actor, f.file_id),
        file_id: f.file_id,
        title,
        width: f.width,
        height: f.height,
    })))
}

/// Removes a favourite (none: not found).
pub fn decide_unfavorite(is_favorite: bool, emoji_id: Uuid, ctx: &Ctx) -> Result<EmojiEvent, DomainError> {
    if !is_favorite {
        return Err(DomainError::NotFound("no such favourite".into()));
    }
    Ok(EmojiEvent::EmojiUnfavorited(EmojiUnfavorited { user_id: ctx.actor, emoji_id }))
}

/// `POST /api/emoji/packs`.
/// Read as JSON values so that a missing or mistyped field is named.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPack {
    #[serde(default)]
    pub title: Option<serde_json::Value>,
    #[serde(default)]
    pub description: Option<serde_json::Value>,
    #[serde(default)]
    pub items: serde_json::Value,
}

/// One item of a new pack.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub file_id: Uuid,
    pub title: Option<String>,
}

impl NewPack {
    /// The items, each `{file_id, title?}`; 422 `items` naming the first bad one.
    pub fn items(&self) -> Result<Vec<NewItem>, DomainError> {
        let list = match &self.items {
            serde_json::Value::Null => return Ok(vec![]),
            serde_json::Value::Array(a) => a,
            _ => return Err(invalid("items", "items must be a list of {file_id, title?}")),
        };
        list.iter()
            .enumerate()
            .map(|(i, item)| {
                let bad = || invalid("items", format!("items[{i}] must be {{file_id, title?}}"));
                let o = item.as_object().filter(|o| o.keys().all(|k| k == "file_id" || k == "title")).ok_or_else(bad)?;
                let file_id = o.get("file_id").and_then(|v| v.as_str()).and_then(|s| Uuid::try_parse(s).ok()).ok_or_else(bad)?;
                let title = match o.get("title") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(t)) => Some(t.clone()),
                    Some(_) => return Err(bad()),
                };
                Ok(NewItem { file_id, title })
            })
            .collect()
    }
}

/// Decides a new pack (with a new id), given how many the user has and each item's file.
pub fn decide_pack(packs_owned: i64, req: NewPack, files: &[Option<ImageFacts>], ctx: &Ctx) -> Result<EmojiEvent, DomainError> {
    let pack_title = title("title", text_of("title", req.title.as_ref())?, PACK_TITLE_MAX, true)?;
    let description = title("description", text_of("description", req.description.as_ref())?, DESCRIPTION_MAX, false)?;
    let items_in = req.items()?;
    if items_in.is_empty() || items_in.len() > MAX_ITEMS {
        return Err(invalid("items", format!("a pack has 1 to {MAX_ITEMS} items")));
    }
    let pack_id = ctx.new_id();
    let mut items = Vec::with_capacity(items_in.len());
    for (i, (item, facts)) in items_in.iter().zip(files.iter().chain(std::iter::repeat(&None))).enumerate() {
        let f = sticker("items", facts.as_ref(), ctx.actor).map_err(|e| invalid("items", format!("items[{i}]: {e}")))?;
        let t = title("items", item.title.as_deref(), TITLE_MAX, false).map_err(|_| invalid("items", format!("items[{i}].title must be at most {TITLE_MAX} characters")))?;
        items.push(PackItem { emoji_id: item_id(pack_id, i), file_id: f.file_id, title: t, width: f.width, height: f.height });
    }
    if packs_owned >= MAX_PACKS {
        return Err(DomainError::Conflict("limit_reached", format!("at most {MAX_PACKS} packs")));
    }
    Ok(EmojiEvent::EmojiPackCreated(EmojiPackCreated { pack_id, owner_id: ctx.actor, title: pack_title, description, items }))
}

/// Deletes one's own pack (anyone else, or none: not found), and puts it
/// back from every collection: one `EmojiPackUncollected` per collector,
/// keyed by the collector, so each list changes in its own order.
pub fn decide_delete_pack(owner: Option<Uuid>, pack_id: Uuid, collectors: &[Uuid], ctx: &Ctx) -> Result<Vec<EmojiEvent>, DomainError> {
    match owner {
        Some(o) if o == ctx.actor => {
            let mut events = vec![EmojiEvent::EmojiPackDeleted(EmojiPackDeleted { pack_id, owner_id: o })];
            events.extend(collectors.iter().map(|u| EmojiEvent::EmojiPackUncollected(EmojiPackCollection { user_id: *u, pack_id })));
            Ok(events)
        }
        _ => Err(DomainError::NotFound("no such pack".into())),
    }
}

/// Collects (`on`) or puts back a pack; none when nothing changes.
pub fn decide_collect(pack_exists: bool, collected: bool, on: bool, pack_id: Uuid, ctx: &Ctx) -> Result<Option<EmojiEvent>, DomainError> {
    if on && !pack_exists {
        return Err(DomainError::NotFound("no such pack".into()));
    }
    if collected == on {
        return Ok(None);
    }
    let c = EmojiPackCollection { user_id: ctx.actor, pack_id };
    Ok(Some(if on { EmojiEvent::EmojiPackCollected(c) } else { EmojiEvent::EmojiPackUncollected(c) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, user};

    fn png(owner: Uuid) -> ImageFacts {
        ImageFacts { file_id: Uuid::new_v4(), owner_id: owner, stored: true, mime: "image/png".into(), size: 1000, width: 64, height: 64 }
    }

    #[test]
    fn a_favourite_is_one_per_file_and_only_of_ones_own_small_images() {
        let me = user();
        let c = ctx(me);
        let f = png(me);
        let req = |t: Option<&str>| Favorite { file_id: f.file_id.to_string().into(), title: t.map(|t| t.into()) };
        let Some(EmojiEvent::EmojiFavorited(e)) = decide_favorite(&FavoritesState::default(), req(Some("cat")), Some(&f), &c).unwrap() else { panic!() };
        assert_eq!((e.emoji_id, e.title.as_str(), e.width), (favorite_id(me, f.file_id), "cat", 64));
        let have = FavoritesState { count: 1, existing_title: Some("cat".into()) };
        assert!(decide_favorite(&have, req(Some("cat")), Some(&f), &c).unwrap().is_none());
        assert!(decide_favorite(&have, req(None), Some(&f), &c).unwrap().is_none());
        assert!(decide_favorite(&have, req(Some("dog")), Some(&f), &c).unwrap().is_some(), "a new title renames");
        let full = FavoritesState { count: MAX_FAVORITES, existing_title: None };
        assert_eq!(decide_favorite(&full, req(None), Some(&f), &c).unwrap_err().kind(), "limit_reached");
        let theirs = png(user());
        assert_eq!(decide_favorite(&FavoritesState::default(), Favorite { file_id: theirs.file_id.to_string().into(), title: None }, Some(&theirs), &c).unwrap_err().kind(), "file_id");
        let big = ImageFacts { width: MAX_SIDE + 1, ..f.clone() };
        assert_eq!(decide_favorite(&FavoritesState::default(), req(None), Some(&big), &c).unwrap_err().kind(), "file_id");
        let text = ImageFacts { mime: "text/plain".into(), ..f.clone() };
        assert_eq!(decide_favorite(&FavoritesState::default(), req(None), Some(&text), &c).unwrap_err().kind(), "file_id");
        assert_eq!(decide_favorite(&FavoritesState::default(), req(Some(&"x".repeat(33))), Some(&f), &c).unwrap_err().kind(), "title");
        let named = |v: serde_json::Value| decide_favorite(&FavoritesState::default(), serde_json::from_value(v).unwrap(), Some(&f), &c).unwrap_err().kind();
        assert_eq!(named(serde_json::json!({ "file_id": "not-an-id" })), "file_id");
        assert_eq!(named(serde_json::json!({})), "file_id");
        assert_eq!(named(serde_json::json!({ "file_id": f.file_id, "title": 7 })), "title");
    }

    #[test]
    fn a_pack_needs_a_title_items_of_ones_own_images_and_room() {
        let me = user();
        let c = ctx(me);
        let (a, b) = (png(me), png(me));
        let req = |t: &str, n: usize| NewPack {
            title: Some(t.into()),
            description: None,
            items: serde_json::Value::Array((0..n).map(|i| serde_json::json!({ "file_id": ([&a, &b][i % 2]).file_id })).collect()),
        };
        let EmojiEvent::EmojiPackCreated(p) = decide_pack(0, req("Cats", 2), &[Some(a.clone()), Some(b.clone())], &c).unwrap() else { panic!() };
        assert_eq!((p.items.len(), p.items[0].emoji_id), (2, item_id(p.pack_id, 0)));
        assert_eq!(decide_pack(0, req("", 1), &[Some(a.clone())], &c).unwrap_err().kind(), "title");
        assert_eq!(decide_pack(0, NewPack { title: Some(7.into()), ..req("x", 1) }, &[Some(a.clone())], &c).unwrap_err().kind(), "title");
        assert_eq!(decide_pack(0, NewPack { items: serde_json::json!([{ "file_id": 3 }]), ..req("x", 1) }, &[], &c).unwrap_err().kind(), "items");
        assert_eq!(decide_pack(0, req("Cats", 0), &[], &c).unwrap_err().kind(), "items");
        assert_eq!(decide_pack(0, req("Cats", 1), &[Some(png(user()))], &c).unwrap_err().kind(), "items");
        assert_eq!(decide_pack(MAX_PACKS, req("Cats", 1), &[Some(a)], &c).unwrap_err().kind(), "limit_reached");
    }

    #[test]
    fn collecting_is_idempotent_and_only_the_owner_deletes() {
        let me = user();
        let c = ctx(me);
        let pack = Uuid::new_v4();
        assert!(decide_collect(true, true, true, pack, &c).unwrap().is_none());
        assert!(matches!(decide_collect(true, false, true, pack, &c).unwrap(), Some(EmojiEvent::EmojiPackCollected(_))));
        assert_eq!(decide_collect(false, false, true, pack, &c).unwrap_err().kind(), "not_found");
        assert!(matches!(decide_collect(false, true, false, pack, &c).unwrap(), Some(EmojiEvent::EmojiPackUncollected(_))), "a deleted pack can still be put back");
        assert_eq!(decide_delete_pack(Some(user()), pack, &[], &c).unwrap_err().kind(), "not_found");
        let fan = user();
        let events = decide_delete_pack(Some(me), pack, &[fan], &c).unwrap();
        assert!(matches!(&events[..], [EmojiEvent::EmojiPackDeleted(_), EmojiEvent::EmojiPackUncollected(u)] if u.user_id == fan));
    }
}
