//! Emoji (the seed's "emoji" service): a user's favourite stickers and
//! sticker packs, made of the users' own stored images. A user's
//! favourites and collected packs are keyed by user id (one user's changes
//! in order); a pack's creation and deletion by pack id. Operators import
//! official packs (`beaver-admin emoji import`): their owner is
//! [`OFFICIAL_OWNER`] and `official` is set.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The owner of official packs and of their images: no user has this id
/// (ids of users are UUIDv7).
pub const OFFICIAL_OWNER: Uuid = Uuid::nil();

/// Everything the emoji topic carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EmojiEvent {
    EmojiFavorited(EmojiFavorited),
    EmojiUnfavorited(EmojiUnfavorited),
    EmojiPackCreated(EmojiPackCreated),
    EmojiPackDeleted(EmojiPackDeleted),
    EmojiPackCollected(EmojiPackCollection),
    EmojiPackUncollected(EmojiPackCollection),
}

/// A stored image a user favourited (again: a new title).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmojiFavorited {
    pub user_id: Uuid,
    /// UUIDv5 of the user and the file: the same file is the same favourite.
    pub emoji_id: Uuid,
    pub file_id: Uuid,
    pub title: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmojiUnfavorited {
    pub user_id: Uuid,
    pub emoji_id: Uuid,
}

/// One sticker of a pack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackItem {
    pub emoji_id: Uuid,
    pub file_id: Uuid,
    pub title: String,
    pub width: u32,
    pub height: u32,
}

/// A user made a sticker pack, or an operator imported an official one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmojiPackCreated {
    pub pack_id: Uuid,
    /// The user, or [`OFFICIAL_OWNER`] for an official pack.
    pub owner_id: Uuid,
    pub title: String,
    pub description: String,
    pub items: Vec<PackItem>,
    /// An operator's pack (`beaver-admin emoji import`): shown to users as
    /// official and deleted only by operators. Records written before
    /// official packs existed have no such field and read as `false`.
    #[serde(default)]
    pub official: bool,
}

/// Its owner (or, for an official pack, an operator) deleted a pack; it
/// leaves every collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmojiPackDeleted {
    pub pack_id: Uuid,
    pub owner_id: Uuid,
}

/// A user collected (or put back) a pack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmojiPackCollection {
    pub user_id: Uuid,
    pub pack_id: Uuid,
}

impl DomainEvent for EmojiEvent {
    const AGGREGATE_TYPE: &'static str = "emoji";
    const TOPIC: &'static str = topics::EMOJI;

    fn event_type(&self) -> &'static str {
        match self {
            EmojiEvent::EmojiFavorited(_) => "EmojiFavorited",
            EmojiEvent::EmojiUnfavorited(_) => "EmojiUnfavorited",
            EmojiEvent::EmojiPackCreated(_) => "EmojiPackCreated",
            EmojiEvent::EmojiPackDeleted(_) => "EmojiPackDeleted",
            EmojiEvent::EmojiPackCollected(_) => "EmojiPackCollected",
            EmojiEvent::EmojiPackUncollected(_) => "EmojiPackUncollected",
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            EmojiEvent::EmojiFavorited(e) => e.user_id.to_string(),
            EmojiEvent::EmojiUnfavorited(e) => e.user_id.to_string(),
            EmojiEvent::EmojiPackCollected(e) | EmojiEvent::EmojiPackUncollected(e) => e.user_id.to_string(),
            EmojiEvent::EmojiPackCreated(e) => e.pack_id.to_string(),
            EmojiEvent::EmojiPackDeleted(e) => e.pack_id.to_string(),
        }
    }
}
