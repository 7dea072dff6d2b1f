-- Official sticker packs (docs/services.md, "Official packs"): imported by
-- operators (beaver-admin emoji import), owned by the official owner
-- 00000000-0000-0000-0000-000000000000. Packs written before have none.
-- The public list is newest first (created_at, then pack_id: official pack
-- ids are UUIDv5, so the id alone does not say which is newer), with or
-- without the official filter.
ALTER TABLE emoji_packs
    ADD COLUMN official BOOLEAN NOT NULL DEFAULT FALSE AFTER owner_id,
    ADD KEY ix_emoji_packs_listed (status, created_at, pack_id),
    ADD KEY ix_emoji_packs_official (official, status, created_at, pack_id);
