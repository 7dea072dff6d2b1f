-- Notifications (beaver.notifications.v1): each user's inbox and push tokens.
-- `position` orders a user's inbox by last activity: the projection takes it
-- from sync_versions (owner = user, list 'notifications') for every new or
-- coalesced item, so a replay numbers it the same.
CREATE TABLE notifications (
    user_id         CHAR(36)     CHARACTER SET ascii NOT NULL,
    notification_id CHAR(36)     CHARACTER SET ascii NOT NULL,
    position        BIGINT       NOT NULL,
    category        VARCHAR(16)  CHARACTER SET ascii NOT NULL,
    kind            VARCHAR(32)  CHARACTER SET ascii NOT NULL,
    -- JSON array of up to three user ids, newest first.
    actors          VARCHAR(160) CHARACTER SET ascii NOT NULL,
    actor_count     INT          NOT NULL,
    target_type     VARCHAR(32)  CHARACTER SET ascii NOT NULL,
    target_id       CHAR(36)     CHARACTER SET ascii NOT NULL,
    text            VARCHAR(1024) NOT NULL,
    group_key       VARCHAR(80)  CHARACTER SET ascii NULL,
    is_read         BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted         BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at      DATETIME(6)  NOT NULL,
    updated_at      DATETIME(6)  NOT NULL,
    PRIMARY KEY (user_id, notification_id),
    KEY ix_notifications_position (user_id, position),
    KEY ix_notifications_group (user_id, group_key, is_read, deleted)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- A device's push token belongs to the session that registered it: usable
-- while that session is active (joined with `sessions` when read).
CREATE TABLE push_tokens (
    user_id       CHAR(36)      CHARACTER SET ascii NOT NULL,
    device_id     VARCHAR(64)   CHARACTER SET ascii NOT NULL,
    session_id    CHAR(36)      CHARACTER SET ascii NOT NULL,
    platform      VARCHAR(16)   CHARACTER SET ascii NOT NULL,
    token         VARCHAR(4096) CHARACTER SET ascii NOT NULL,
    token_hash    CHAR(64)      CHARACTER SET ascii NOT NULL,
    registered_at DATETIME(6)   NOT NULL,
    PRIMARY KEY (user_id, device_id),
    KEY ix_push_tokens_hash (token_hash)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_bin;

-- Every NotificationCreated id the projection has applied (also those merged
-- into another item), so a derived event appended twice is applied once.
CREATE TABLE notification_applied (
    user_id         CHAR(36) CHARACTER SET ascii NOT NULL,
    notification_id CHAR(36) CHARACTER SET ascii NOT NULL,
    PRIMARY KEY (user_id, notification_id)
) ENGINE = InnoDB DEFAULT CHARSET = ascii;
