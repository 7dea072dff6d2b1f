-- Read model of the user aggregate (topic beaver.users.v1). Timestamps come
-- from the events, never from the clock, so a replay rebuilds identical rows.
CREATE TABLE users (
    user_id       CHAR(36)     NOT NULL,
    username      VARCHAR(32)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    nickname      VARCHAR(64)  NOT NULL,
    email         VARCHAR(254) NULL,
    phone         VARCHAR(20)  NULL,
    avatar        VARCHAR(512) NOT NULL DEFAULT '',
    signature     VARCHAR(256) NOT NULL DEFAULT '',
    gender        VARCHAR(16)  NOT NULL DEFAULT 'unspecified',
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    version       BIGINT       NOT NULL DEFAULT 1,
    PRIMARY KEY (user_id),
    UNIQUE KEY uq_users_username (username),
    UNIQUE KEY uq_users_email (email),
    UNIQUE KEY uq_users_phone (phone),
    KEY ix_users_nickname (nickname)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
