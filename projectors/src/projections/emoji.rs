//! `beaver.emoji.v1` → `emoji_favorites`, `emoji_packs`,
//! `emoji_pack_items`, `emoji_pack_collections`, with the per-user list
//! versions of favourites and collections in `sync_versions`. Official
//! packs (`official`, imported by operators) are rows like any other.

use super::sync::bump;
use crate::projection::{ApplyContext, ApplyError, Projection};
use beaver_events::{topics, EmojiEvent, RawEnvelope};
use beaver_readmodel::{
    emoji::{COLLECTED_LIST, FAVORITES_LIST},
    progress::EMOJI_PROJECTOR,
};
use sqlx::{MySql, Transaction};

pub struct Emoji;

#[async_trait::async_trait]
impl Projection for Emoji {
    fn name(&self) -> &'static str {
        EMOJI_PROJECTOR
    }

    fn topics(&self) -> &'static [&'static str] {
        &[topics::EMOJI]
    }

    async fn apply(&self, tx: &mut Transaction<'static, MySql>, _ctx: &ApplyContext, env: RawEnvelope) -> Result<(), ApplyError> {
        let when = super::at(&env);
        match env.decode::<EmojiEvent>()?.payload {
            EmojiEvent::EmojiFavorited(e) => {
                let v = bump(tx, &e.user_id.to_string(), FAVORITES_LIST).await?;
                sqlx::query(
                    "INSERT INTO emoji_favorites (user_id, emoji_id, file_id, title, width, height, status, created_at, version) \
                     VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?) \
                     ON DUPLICATE KEY UPDATE title = VALUES(title), status = 'active', version = VALUES(version)",
                )
                .bind(e.user_id.to_string())
                .bind(e.emoji_id.to_string())
                .bind(e.file_id.to_string())
                .bind(&e.title)
                .bind(e.width as i32)
                .bind(e.height as i32)
                .bind(when)
                .bind(v)
                .execute(&mut **tx)
                .await?;
            }
            EmojiEvent::EmojiUnfavorited(e) => {
                let v = bump(tx, &e.user_id.to_string(), FAVORITES_LIST).await?;
                sqlx::query("UPDATE emoji_favorites SET status = 'removed', version = ? WHERE user_id = ? AND emoji_id = ?")
                    .bind(v)
                    .bind(e.user_id.to_string())
                    .bind(e.emoji_id.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
            EmojiEvent::EmojiPackCreated(e) => {
                let cover = e.items.first().map(|i| i.file_id.to_string()).unwrap_or_default();
                let inserted = sqlx::query(
                    "INSERT IGNORE INTO emoji_packs (pack_id, owner_id, official, title, description, cover_file, item_count, status, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?)",
                )
                .bind(e.pack_id.to_string())
                .bind(e.owner_id.to_string())
                .bind(e.official)
                .bind(&e.title)
                .bind(&e.description)
                .bind(&cover)
                .bind(e.items.len() as i32)
                .bind(when)
                .execute(&mut **tx)
                .await?
                .rows_affected()
                    == 1;
                // An official pack's id is made of its title and images, so
                // importing a deleted one again creates it again, with the
                // same id: it comes back (users' packs always get a new id,
                // and a repeated creation of a live pack changes nothing).
                let revived = !inserted
                    && e.official
                    && sqlx::query(
                        "UPDATE emoji_packs SET status = 'active', title = ?, description = ?, cover_file = ?, item_count = ?, created_at = ? \
                         WHERE pack_id = ? AND status = 'deleted' AND official",
                    )
                    .bind(&e.title)
                    .bind(&e.description)
                    .bind(&cover)
                    .bind(e.items.len() as i32)
                    .bind(when)
                    .bind(e.pack_id.to_string())
                    .execute(&mut **tx)
                    .await?
                    .rows_affected()
                        == 1;
                if revived {
                    sqlx::query("DELETE FROM emoji_pack_items WHERE pack_id = ?").bind(e.pack_id.to_string()).execute(&mut **tx).await?;
                }
                if inserted || revived {
                    for (position, item) in e.items.iter().enumerate() {
                        sqlx::query(
                            "INSERT INTO emoji_pack_items (pack_id, position, emoji_id, file_id, title, width, height) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        )
                        .bind(e.pack_id.to_string())
                        .bind(position as i32)
                        .bind(item.emoji_id.to_string())
                        .bind(item.file_id.to_string())
                        .bind(&item.title)
                        .bind(item.width as i32)
                        .bind(item.height as i32)
                        .execute(&mut **tx)
                        .await?;
                    }
                }
            }
            EmojiEvent::EmojiPackDeleted(e) => {
                // Its collectors' lists change through the EmojiPackUncollected
                // events appended with it (keyed by each collector): a
                // deletion here would depend on the order of two partitions.
                sqlx::query("UPDATE emoji_packs SET status = 'deleted' WHERE pack_id = ?").bind(e.pack_id.to_string()).execute(&mut **tx).await?;
            }
            EmojiEvent::EmojiPackCollected(e) => {
                let v = bump(tx, &e.user_id.to_string(), COLLECTED_LIST).await?;
                sqlx::query(
                    "INSERT INTO emoji_pack_collections (user_id, pack_id, status, version) VALUES (?, ?, 'active', ?) \
                     ON DUPLICATE KEY UPDATE status = 'active', version = VALUES(version)",
                )
                .bind(e.user_id.to_string())
                .bind(e.pack_id.to_string())
                .bind(v)
                .execute(&mut **tx)
                .await?;
            }
            EmojiEvent::EmojiPackUncollected(e) => {
                let v = bump(tx, &e.user_id.to_string(), COLLECTED_LIST).await?;
                sqlx::query("UPDATE emoji_pack_collections SET status = 'removed', version = ? WHERE user_id = ? AND pack_id = ?")
                    .bind(v)
                    .bind(e.user_id.to_string())
                    .bind(e.pack_id.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}
