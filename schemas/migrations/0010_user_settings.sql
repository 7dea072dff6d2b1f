-- Users' settings (UserSettingsChanged on beaver.users.v1): the whole
-- document as JSON, and the privacy flags other tiers enforce as columns
-- (search joins them; presence and receipts look them up by user).
CREATE TABLE user_settings (
    user_id             CHAR(36)    CHARACTER SET ascii NOT NULL,
    document            MEDIUMTEXT  NOT NULL,
    friend_requests     VARCHAR(24) CHARACTER SET ascii NOT NULL,
    searchable_by_email BOOLEAN     NOT NULL,
    searchable_by_phone BOOLEAN     NOT NULL,
    show_online         BOOLEAN     NOT NULL,
    read_receipts       BOOLEAN     NOT NULL,
    version             BIGINT      NOT NULL,
    updated_at          DATETIME(6) NOT NULL,
    PRIMARY KEY (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
