//! Emoji (docs/services.md, "Emoji"): favourites and sticker packs, each
//! sticker one of the user's own stored images. The app layer loads the
//! files' facts and the user's counts; these rules decide.
//!
//! Official packs (docs/services.md, "Official packs") are decided here
//! too, for `beaver-admin emoji import|delete`: [`check_official_pack`]
//! applies the item rules to a folder the admin examined,
//! [`decide_official_pack`] says what to append, and
//! [`decide_delete_official`] deletes one.

use super::{Ctx, DomainError};
use beaver_events::{
    emoji::{EmojiEvent, EmojiFavorited, EmojiPackCollection, EmojiPackCreated, EmojiPackDeleted, EmojiUnfavorited, PackItem},
    files::{FileEvent, FileStored, Purpose},
};
use serde::Deserialize;
use uuid::Uuid;

pub use beaver_events::emoji::OFFICIAL_OWNER;

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
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Favorite {
    /// The caller's own stored image (JPEG, PNG, GIF or WebP, at most 1,024 px a side and 2 MiB).
    #[serde(default)]
    #[schema(value_type = Uuid, required = true)]
    pub file_id: serde_json::Value,
    /// At most 32 characters, no control characters (default empty).
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 32)]
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
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPack {
    /// 1 to 32 characters, no control characters.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 32)]
    pub title: Option<serde_json::Value>,
    /// At most 200 characters (default empty).
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub description: Option<serde_json::Value>,
    /// 1 to 200 stickers, in order.
    #[serde(default)]
    #[schema(value_type = Vec<NewItem>, required = true, min_items = 1, max_items = 200)]
    pub items: serde_json::Value,
}

/// One item of a new pack (no other keys).
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
#[schema(as = emoji::NewPackItem)]
pub struct NewItem {
    /// The caller's own stored image, as for favourites.
    pub file_id: Uuid,
    /// At most 32 characters (default empty).
    #[schema(max_length = 32)]
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
    Ok(EmojiEvent::EmojiPackCreated(EmojiPackCreated { pack_id, owner_id: ctx.actor, title: pack_title, description, items, official: false }))
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

/// The namespace of official packs' ids and of their images' file ids.
const OFFICIAL_NAMESPACE: Uuid = Uuid::from_u128(0x6265_6176_6572_2d65_6d6f_6a69_2d6f_6666);

/// An official pack's id: its title and its images' content hashes, in
/// order. Importing the same folder under the same title gives the same id.
pub fn official_pack_id(title: &str, content_hashes: &[&str]) -> Uuid {
    Uuid::new_v5(&OFFICIAL_NAMESPACE, format!("pack\n{title}\n{}", content_hashes.join(",")).as_bytes())
}

/// An official image's file id, made of its content: an image in several
/// official packs (or imported again) is one file.
pub fn official_file_id(content_hash: &str) -> Uuid {
    Uuid::new_v5(&OFFICIAL_NAMESPACE, format!("file\n{content_hash}").as_bytes())
}

/// An item's title from its file name: without the extension (the last
/// `.…`, unless the name starts with it), cut to [`TITLE_MAX`] characters.
pub fn title_of_file(name: &str) -> String {
    let stem = match name.rfind('.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    };
    stem.trim().chars().take(TITLE_MAX).collect::<String>().trim_end().to_owned()
}

/// One entry of the folder an operator imports, as `beaver-admin` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    /// Its file name: what a refusal names, and (without the extension) the item's title.
    pub name: String,
    /// What its bytes are, or why they could not be read (not a regular file…).
    pub content: Result<Examined, String>,
}

/// What the bytes of a folder entry are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Examined {
    pub size: u64,
    /// Sniffed from the bytes, never from the name.
    pub mime: String,
    /// The decoder's `(width, height)`, or why it did not decode them.
    pub decoded: Result<(u32, u32), String>,
    /// As an upload of these bytes in one part would have it.
    pub content_hash: String,
}

/// `beaver-admin emoji import <dir> --title … [--description …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficialImport {
    pub title: String,
    pub description: Option<String>,
    /// Every entry of the folder, in any order.
    pub files: Vec<FolderEntry>,
}

/// A folder fit to be an official pack.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficialPack {
    pub pack_id: Uuid,
    pub title: String,
    pub description: String,
    /// In file-name order.
    pub items: Vec<OfficialItem>,
}

/// One sticker of an official pack and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficialItem {
    /// As the pack lists it.
    pub item: PackItem,
    /// The file name (the stored file's `name`).
    pub name: String,
    pub size: u64,
    pub mime: String,
    pub content_hash: String,
}

/// Why one folder entry cannot be a sticker.
fn refusal(entry: &FolderEntry) -> Option<String> {
    let e = match &entry.content {
        Err(why) => return Some(why.clone()),
        Ok(e) => e,
    };
    if e.size > MAX_BYTES {
        return Some(format!("{} bytes: a sticker is at most 2 MiB", e.size));
    }
    if !crate::domain::files::DECODED_IMAGES.contains(&e.mime.as_str()) {
        return Some(format!("not a PNG, GIF, WebP or JPEG image (its bytes are {})", e.mime));
    }
    match e.decoded {
        Err(ref why) => Some(why.clone()),
        Ok((w, h)) if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE => Some(format!("{w}×{h} px: a sticker is at most {MAX_SIDE} px a side")),
        Ok(_) if entry.name.chars().any(char::is_control) => Some("its name has control characters".into()),
        Ok(_) => None,
    }
}

/// The item rules of an official pack, over the whole folder: every entry
/// must be a sticker (each one that is not is named, with why), 1 to
/// [`MAX_ITEMS`] of them, and the title and description follow a user's
/// pack's rules. The items are in file-name order.
pub fn check_official_pack(req: &OfficialImport) -> Result<OfficialPack, DomainError> {
    let pack_title = title("title", Some(&req.title), PACK_TITLE_MAX, true)?;
    let description = title("description", req.description.as_deref(), DESCRIPTION_MAX, false)?;
    if req.files.is_empty() || req.files.len() > MAX_ITEMS {
        return Err(invalid("files", format!("a pack has 1 to {MAX_ITEMS} items; the folder has {} entries", req.files.len())));
    }
    let mut entries: Vec<&FolderEntry> = req.files.iter().collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let refused: Vec<String> = entries.iter().filter_map(|e| refusal(e).map(|why| format!("{}: {why}", e.name))).collect();
    if !refused.is_empty() {
        let n = refused.len();
        return Err(invalid("files", format!("{n} of the folder's entries cannot be stickers:\n  {}", refused.join("\n  "))));
    }
    let hashes: Vec<&str> = entries.iter().filter_map(|e| e.content.as_ref().ok()).map(|e| e.content_hash.as_str()).collect();
    let pack_id = official_pack_id(&pack_title, &hashes);
    let items = entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| {
            let e = entry.content.as_ref().ok()?;
            let (width, height) = e.decoded.clone().ok()?;
            let item = PackItem { emoji_id: item_id(pack_id, i), file_id: official_file_id(&e.content_hash), title: title_of_file(&entry.name), width, height };
            Some(OfficialItem { item, name: entry.name.clone(), size: e.size, mime: e.mime.clone(), content_hash: e.content_hash.clone() })
        })
        .collect();
    Ok(OfficialPack { pack_id, title: pack_title, description, items })
}

/// What the read models say before an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfficialState {
    /// The pack is there (and not deleted): the import changes nothing.
    pub pack_active: bool,
    /// Those of its images' file ids that are stored already.
    pub stored_files: Vec<Uuid>,
}

/// What an import appends, in this order: a `FileStored` for each image
/// not stored yet (`beaver.files.v1`), then the pack (`beaver.emoji.v1`).
/// Nothing when unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfficialEvents {
    pub files: Vec<FileEvent>,
    pub pack: Option<EmojiEvent>,
}

impl OfficialEvents {
    pub fn unchanged(&self) -> bool {
        self.files.is_empty() && self.pack.is_none()
    }
}

/// Decides an official pack checked by [`check_official_pack`]: nothing
/// when it is there already; else its images (each stored like an upload,
/// with purpose `emoji` and owner [`OFFICIAL_OWNER`], blob and thumbnail
/// under their content hash) and the pack, `official`. A pack deleted
/// before is created again (with its id).
pub fn decide_official_pack(state: &OfficialState, pack: &OfficialPack) -> OfficialEvents {
    if state.pack_active {
        return OfficialEvents::default();
    }
    let mut stored = state.stored_files.clone();
    let mut files = Vec::new();
    for i in &pack.items {
        if stored.contains(&i.item.file_id) {
            continue;
        }
        stored.push(i.item.file_id);
        files.push(FileEvent::FileStored(FileStored {
            file_id: i.item.file_id,
            owner_id: OFFICIAL_OWNER,
            name: i.name.clone(),
            size: i.size,
            purpose: Purpose::Emoji,
            mime: i.mime.clone(),
            kind: crate::domain::files::kind_of(&i.mime).to_owned(),
            content_hash: i.content_hash.clone(),
            blob_key: beaver_platform::files::blob_key(&i.content_hash),
            width: Some(i.item.width),
            height: Some(i.item.height),
            thumb_key: Some(beaver_platform::files::thumb_key(&i.content_hash)),
        }));
    }
    let created = EmojiPackCreated {
        pack_id: pack.pack_id,
        owner_id: OFFICIAL_OWNER,
        title: pack.title.clone(),
        description: pack.description.clone(),
        items: pack.items.iter().map(|i| i.item.clone()).collect(),
        official: true,
    };
    OfficialEvents { files, pack: Some(EmojiEvent::EmojiPackCreated(created)) }
}

/// What an operator's deletion needs to know of a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingPack {
    pub owner_id: Uuid,
    pub official: bool,
    /// Not deleted.
    pub active: bool,
}

/// `beaver-admin emoji delete <pack_id>`: deletes an official pack and, as
/// for a user's deletion, puts it back from every collection (one
/// `EmojiPackUncollected` per collector, keyed by the collector). An
/// unknown pack is not found and a user's pack is refused. A pack deleted
/// already leaves only the collections that still hold it (after an
/// interrupted deletion): usually nothing, unchanged.
pub fn decide_delete_official(pack: Option<&ExistingPack>, pack_id: Uuid, collectors: &[Uuid]) -> Result<Vec<EmojiEvent>, DomainError> {
    let pack = pack.ok_or_else(|| DomainError::NotFound(format!("no pack {pack_id}")))?;
    if !pack.official {
        return Err(DomainError::Forbidden("not_official", format!("{pack_id} is a user's pack: only its owner deletes it")));
    }
    let mut events = Vec::with_capacity(collectors.len() + 1);
    if pack.active {
        events.push(EmojiEvent::EmojiPackDeleted(EmojiPackDeleted { pack_id, owner_id: pack.owner_id }));
    }
    events.extend(collectors.iter().map(|u| EmojiEvent::EmojiPackUncollected(EmojiPackCollection { user_id: *u, pack_id })));
    Ok(events)
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

    fn entry(name: &str, hash: &str) -> FolderEntry {
        let content = Examined { size: 4_000, mime: "image/png".into(), decoded: Ok((128, 96)), content_hash: hash.repeat(32) };
        FolderEntry { name: name.into(), content: Ok(content) }
    }

    fn import(title: &str, files: Vec<FolderEntry>) -> OfficialImport {
        OfficialImport { title: title.into(), description: None, files }
    }

    fn with(name: &str, f: impl FnOnce(&mut Examined)) -> FolderEntry {
        let mut e = entry(name, "0c");
        f(e.content.as_mut().unwrap());
        e
    }

    #[test]
    fn an_official_pack_is_every_image_of_the_folder_in_file_name_order_titled_by_its_name() {
        let long = format!("{}.gif", "x".repeat(40));
        let p = check_official_pack(&import(" Beaver classics ", vec![entry("b-wave.webp", "0b"), entry("a.smile.png", "0a"), entry(&long, "0c")])).unwrap();
        assert_eq!(p.title, "Beaver classics");
        let titles: Vec<&str> = p.items.iter().map(|i| i.item.title.as_str()).collect();
        assert_eq!(titles, ["a.smile", "b-wave", &"x".repeat(TITLE_MAX)[..]], "name order, extension off, cut to {TITLE_MAX}");
        let first = &p.items[0];
        assert_eq!((first.item.emoji_id, first.item.file_id), (item_id(p.pack_id, 0), official_file_id(&"0a".repeat(32))));
        assert_eq!((first.item.width, first.item.height, first.name.as_str()), (128, 96, "a.smile.png"));
        assert_eq!(title_of_file(".png"), ".png", "a dot file has no extension");
        assert_eq!(title_of_file("noext"), "noext");
    }

    #[test]
    fn a_folder_with_anything_but_small_images_is_refused_naming_each_file_and_why() {
        let bad = vec![
            entry("ok.png", "01"),
            with("notes.txt", |e| e.mime = "text/plain".into()),
            with("huge.png", |e| e.size = MAX_BYTES + 1),
            with("wide.png", |e| e.decoded = Ok((MAX_SIDE + 1, 10))),
            with("broken.gif", |e| e.decoded = Err("the image cannot be decoded: truncated".into())),
            with("vector.svg", |e| e.mime = "image/svg+xml".into()),
            FolderEntry { name: "more".into(), content: Err("not a regular file".into()) },
        ];
        let e = check_official_pack(&import("Mixed", bad)).unwrap_err();
        assert_eq!(e.kind(), "files");
        let why = e.to_string();
        for named in ["notes.txt: not a PNG", "huge.png: 2097153 bytes", "wide.png: 1025×10 px", "broken.gif: the image cannot be decoded", "vector.svg: not a PNG", "more: not a regular file"] {
            assert!(why.contains(named), "{named:?} in {why}");
        }
        assert!(!why.contains("ok.png"), "{why}");
        assert!(check_official_pack(&import("Edge", vec![with("max.png", |e| (e.size, e.decoded) = (MAX_BYTES, Ok((MAX_SIDE, MAX_SIDE))))])).is_ok());
    }

    #[test]
    fn an_official_pack_has_a_users_pack_title_and_description_rules_and_1_to_200_items() {
        let one = || vec![entry("a.png", "0a")];
        assert_eq!(check_official_pack(&import("  ", one())).unwrap_err().kind(), "title");
        assert_eq!(check_official_pack(&import(&"t".repeat(PACK_TITLE_MAX + 1), one())).unwrap_err().kind(), "title");
        let long = OfficialImport { description: Some("d".repeat(DESCRIPTION_MAX + 1)), ..import("T", one()) };
        assert_eq!(check_official_pack(&long).unwrap_err().kind(), "description");
        assert_eq!(check_official_pack(&import("Empty", vec![])).unwrap_err().kind(), "files");
        let many: Vec<FolderEntry> = (0..=MAX_ITEMS).map(|i| entry(&format!("{i:03}.png"), "0d")).collect();
        assert_eq!(check_official_pack(&import("Many", many[..MAX_ITEMS].to_vec())).unwrap().items.len(), MAX_ITEMS);
        assert_eq!(check_official_pack(&import("Many", many)).unwrap_err().kind(), "files");
    }

    #[test]
    fn the_pack_id_is_a_uuidv5_of_the_title_and_the_images_in_order() {
        let folder = || vec![entry("1.png", "0a"), entry("2.png", "0b")];
        let p = check_official_pack(&import("Classics", folder())).unwrap();
        assert_eq!(p.pack_id, official_pack_id("Classics", &[&"0a".repeat(32), &"0b".repeat(32)]));
        assert_eq!(p.pack_id.get_version_num(), 5);
        let mut listed_otherwise = folder();
        listed_otherwise.reverse();
        let described = OfficialImport { description: Some("new words".into()), ..import("Classics", listed_otherwise) };
        assert_eq!(check_official_pack(&described).unwrap().pack_id, p.pack_id, "the same folder (the description is not part of it)");
        assert_ne!(check_official_pack(&import("Classics 2", folder())).unwrap().pack_id, p.pack_id, "another title");
        let swapped = vec![entry("1.png", "0b"), entry("2.png", "0a")];
        assert_ne!(check_official_pack(&import("Classics", swapped)).unwrap().pack_id, p.pack_id, "the images in another order");
    }

    #[test]
    fn importing_stores_each_new_image_then_the_official_pack_and_nothing_when_the_pack_is_there() {
        let p = check_official_pack(&import("Classics", vec![entry("a.png", "0a"), entry("b.png", "0b"), entry("c.png", "0a")])).unwrap();
        let events = decide_official_pack(&OfficialState::default(), &p);
        let stored: Vec<&FileStored> = events.files.iter().map(|e| match e {
            FileEvent::FileStored(f) => f,
            other => panic!("{other:?}"),
        }).collect();
        assert_eq!(stored.len(), 2, "the same image twice is one file");
        let f = stored[0];
        let hash = "0a".repeat(32);
        assert_eq!((f.owner_id, f.purpose, f.kind.as_str(), f.name.as_str()), (OFFICIAL_OWNER, Purpose::Emoji, "image", "a.png"));
        assert_eq!((f.blob_key.clone(), f.thumb_key.clone()), (beaver_platform::files::blob_key(&hash), Some(beaver_platform::files::thumb_key(&hash))));
        assert_eq!((f.file_id, f.width, f.height), (official_file_id(&hash), Some(128), Some(96)));
        let Some(EmojiEvent::EmojiPackCreated(c)) = &events.pack else { panic!("{events:?}") };
        assert!(c.official);
        assert_eq!((c.pack_id, c.owner_id, c.items.len()), (p.pack_id, OFFICIAL_OWNER, 3));
        assert_eq!(c.items[2].file_id, c.items[0].file_id);

        assert!(decide_official_pack(&OfficialState { pack_active: true, stored_files: vec![] }, &p).unchanged());
        let again = decide_official_pack(&OfficialState { pack_active: false, stored_files: vec![official_file_id(&hash)] }, &p);
        assert_eq!(again.files.len(), 1, "an image stored already (by another pack, or before a deletion) is not stored again");
        assert!(again.pack.is_some(), "a deleted pack is created again");
    }

    #[test]
    fn an_operator_deletes_only_official_packs_and_puts_them_back_from_every_collection() {
        let pack = Uuid::new_v4();
        let fans = [user(), user()];
        let official = ExistingPack { owner_id: OFFICIAL_OWNER, official: true, active: true };
        let events = decide_delete_official(Some(&official), pack, &fans).unwrap();
        assert!(matches!(&events[..], [EmojiEvent::EmojiPackDeleted(d), EmojiEvent::EmojiPackUncollected(a), EmojiEvent::EmojiPackUncollected(b)]
            if d.owner_id == OFFICIAL_OWNER && d.pack_id == pack && a.user_id == fans[0] && b.user_id == fans[1]));
        let users = ExistingPack { owner_id: user(), official: false, active: true };
        assert_eq!(decide_delete_official(Some(&users), pack, &fans).unwrap_err().kind(), "not_official");
        assert_eq!(decide_delete_official(None, pack, &[]).unwrap_err().kind(), "not_found");
        let gone = ExistingPack { active: false, ..official };
        assert!(decide_delete_official(Some(&gone), pack, &[]).unwrap().is_empty(), "deleting again changes nothing");
        assert!(matches!(&decide_delete_official(Some(&gone), pack, &fans[..1]).unwrap()[..], [EmojiEvent::EmojiPackUncollected(_)]), "an interrupted deletion is finished");
    }
}
