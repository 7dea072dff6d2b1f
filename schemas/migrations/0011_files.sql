-- Uploads and stored files (beaver.files.v1). One row per file id from its
-- initiation on; status uploading → stored | aborted | expired, stored →
-- deleted. The bytes are in the object store (blob_key, thumb_key).
CREATE TABLE files (
    file_id      CHAR(36)      CHARACTER SET ascii NOT NULL,
    owner_id     CHAR(36)      CHARACTER SET ascii NOT NULL,
    name         VARCHAR(255)  NOT NULL,
    size         BIGINT        NOT NULL,
    purpose      VARCHAR(16)   CHARACTER SET ascii NOT NULL,
    part_size    BIGINT        NOT NULL,
    part_count   INT           NOT NULL,
    status       VARCHAR(16)   CHARACTER SET ascii NOT NULL,
    expires_at   DATETIME(6)   NOT NULL,
    mime         VARCHAR(128)  CHARACTER SET ascii NULL,
    kind         VARCHAR(16)   CHARACTER SET ascii NULL,
    content_hash CHAR(64)      CHARACTER SET ascii NULL,
    blob_key     VARCHAR(255)  CHARACTER SET ascii NULL,
    width        INT           NULL,
    height       INT           NULL,
    thumb_key    VARCHAR(255)  CHARACTER SET ascii NULL,
    created_at   DATETIME(6)   NOT NULL,
    updated_at   DATETIME(6)   NOT NULL,
    PRIMARY KEY (file_id),
    KEY ix_files_owner_status (owner_id, status),
    KEY ix_files_owner_hash (owner_id, content_hash),
    KEY ix_files_hash (content_hash),
    KEY ix_files_status_expiry (status, expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE file_parts (
    file_id CHAR(36) CHARACTER SET ascii NOT NULL,
    part_no INT      NOT NULL,
    size    BIGINT   NOT NULL,
    sha256  CHAR(64) CHARACTER SET ascii NOT NULL,
    PRIMARY KEY (file_id, part_no)
) ENGINE = InnoDB DEFAULT CHARSET = ascii;
