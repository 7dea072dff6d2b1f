-- Emoji (beaver.emoji.v1): favourites and sticker packs, made of stored
-- images (files). Favourites and collections are synced lists (sync_versions
-- lists 'emoji' and 'emoji_packs', per user); removals are soft.
CREATE TABLE emoji_favorites (
    user_id    CHAR(36)    CHARACTER SET ascii NOT NULL,
    emoji_id   CHAR(36)    CHARACTER SET ascii NOT NULL,
    file_id    CHAR(36)    CHARACTER SET ascii NOT NULL,
    title      VARCHAR(64) NOT NULL,
    width      INT         NOT NULL,
    height     INT         NOT NULL,
    status     VARCHAR(16) CHARACTER SET ascii NOT NULL,
    created_at DATETIME(6) NOT NULL,
    version    BIGINT      NOT NULL,
    PRIMARY KEY (user_id, emoji_id),
    KEY ix_emoji_fav_version (user_id, version)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE emoji_packs (
    pack_id     CHAR(36)     CHARACTER SET ascii NOT NULL,
    owner_id    CHAR(36)     CHARACTER SET ascii NOT NULL,
    title       VARCHAR(64)  NOT NULL,
    description VARCHAR(400) NOT NULL,
    cover_file  CHAR(36)     CHARACTER SET ascii NOT NULL,
    item_count  INT          NOT NULL,
    status      VARCHAR(16)  CHARACTER SET ascii NOT NULL,
    created_at  DATETIME(6)  NOT NULL,
    PRIMARY KEY (pack_id),
    KEY ix_emoji_packs_owner (owner_id, status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE emoji_pack_items (
    pack_id  CHAR(36)    CHARACTER SET ascii NOT NULL,
    position INT         NOT NULL,
    emoji_id CHAR(36)    CHARACTER SET ascii NOT NULL,
    file_id  CHAR(36)    CHARACTER SET ascii NOT NULL,
    title    VARCHAR(64) NOT NULL,
    width    INT         NOT NULL,
    height   INT         NOT NULL,
    PRIMARY KEY (pack_id, position)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE emoji_pack_collections (
    user_id CHAR(36)    CHARACTER SET ascii NOT NULL,
    pack_id CHAR(36)    CHARACTER SET ascii NOT NULL,
    status  VARCHAR(16) CHARACTER SET ascii NOT NULL,
    version BIGINT      NOT NULL,
    PRIMARY KEY (user_id, pack_id),
    KEY ix_emoji_coll_version (user_id, version),
    KEY ix_emoji_coll_pack (pack_id, status)
) ENGINE = InnoDB DEFAULT CHARSET = ascii;
