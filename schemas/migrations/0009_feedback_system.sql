-- Read models of feedback (beaver.feedback.v1) and of what operators publish
-- for every client (beaver.system.v1). Ids and codes are ASCII columns so
-- that joins and lookups by them use the indexes; free text is utf8mb4.

CREATE TABLE feedback (
    feedback_id        CHAR(36)     CHARACTER SET ascii NOT NULL,
    user_id            CHAR(36)     CHARACTER SET ascii NOT NULL,
    category           VARCHAR(16)  CHARACTER SET ascii NOT NULL,
    text               TEXT         NOT NULL,
    target_type        VARCHAR(16)  CHARACTER SET ascii NULL,
    target_id          CHAR(36)     CHARACTER SET ascii NULL,
    client_platform    VARCHAR(16)  CHARACTER SET ascii NULL,
    client_app_version VARCHAR(32)  CHARACTER SET ascii NULL,
    status             VARCHAR(16)  CHARACTER SET ascii NOT NULL,
    reply              TEXT         NULL,
    created_at         DATETIME(6)  NOT NULL,
    updated_at         DATETIME(6)  NOT NULL,
    PRIMARY KEY (feedback_id),
    KEY ix_feedback_user (user_id, feedback_id),
    KEY ix_feedback_status (status, feedback_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per published release of an app on a platform.
CREATE TABLE app_releases (
    app_id          VARCHAR(64)   CHARACTER SET ascii NOT NULL,
    platform        VARCHAR(16)   CHARACTER SET ascii NOT NULL,
    version         VARCHAR(64)   CHARACTER SET ascii NOT NULL,
    url             VARCHAR(2048) CHARACTER SET ascii NOT NULL,
    sha256          CHAR(64)      CHARACTER SET ascii NOT NULL,
    size            BIGINT        NOT NULL,
    notes           TEXT          NULL,
    min_supported   VARCHAR(64)   CHARACTER SET ascii NULL,
    rollout_percent TINYINT       NOT NULL,
    withdrawn       BOOLEAN       NOT NULL DEFAULT FALSE,
    published_at    DATETIME(6)   NOT NULL,
    updated_at      DATETIME(6)   NOT NULL,
    PRIMARY KEY (app_id, platform, version)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- platforms: comma-separated platform names, '' for every platform.
CREATE TABLE announcements (
    announcement_id CHAR(36)     CHARACTER SET ascii NOT NULL,
    title           VARCHAR(400) NOT NULL,
    body            TEXT         NOT NULL,
    platforms       VARCHAR(128) CHARACTER SET ascii NOT NULL,
    starts_at       DATETIME(6)  NOT NULL,
    ends_at         DATETIME(6)  NULL,
    published_at    DATETIME(6)  NOT NULL,
    PRIMARY KEY (announcement_id),
    KEY ix_announcements_starts (starts_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
