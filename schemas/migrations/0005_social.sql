-- Read models of relations (beaver.relations.v1) and groups (beaver.groups.v1).
--
-- Incremental sync: every list a client syncs has a per-owner counter in
-- sync_versions, bumped by the projector for each change to that list; the
-- changed row records the new value in its `version`. Removals are soft
-- (status 'removed') so that they can be synced too.

CREATE TABLE sync_versions (
    owner_id  CHAR(36)    NOT NULL,
    list      VARCHAR(16) NOT NULL,
    version   BIGINT      NOT NULL,
    PRIMARY KEY (owner_id, list)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_general_ci;

CREATE TABLE friend_requests (
    request_id            CHAR(36)     NOT NULL,
    from_user_id          CHAR(36)     NOT NULL,
    to_user_id            CHAR(36)     NOT NULL,
    message               VARCHAR(800) NOT NULL,
    status                VARCHAR(16)  NOT NULL,
    hidden_from_recipient BOOLEAN      NOT NULL,
    created_at            DATETIME(6)  NOT NULL,
    updated_at            DATETIME(6)  NOT NULL,
    from_version          BIGINT       NOT NULL,
    to_version            BIGINT       NOT NULL,
    PRIMARY KEY (request_id),
    KEY ix_fr_from (from_user_id, from_version),
    KEY ix_fr_to (to_user_id, to_version),
    KEY ix_fr_pair (from_user_id, to_user_id, status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Two rows per friendship, one per side.
CREATE TABLE friendships (
    user_id    CHAR(36)     NOT NULL,
    friend_id  CHAR(36)     NOT NULL,
    remark     VARCHAR(128) NOT NULL DEFAULT '',
    status     VARCHAR(16)  NOT NULL,
    since      DATETIME(6)  NOT NULL,
    updated_at DATETIME(6)  NOT NULL,
    version    BIGINT       NOT NULL,
    PRIMARY KEY (user_id, friend_id),
    KEY ix_friend_version (user_id, version)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE blocks (
    user_id         CHAR(36)    NOT NULL,
    blocked_user_id CHAR(36)    NOT NULL,
    status          VARCHAR(16) NOT NULL,
    blocked_at      DATETIME(6) NOT NULL,
    updated_at      DATETIME(6) NOT NULL,
    version         BIGINT      NOT NULL,
    PRIMARY KEY (user_id, blocked_user_id),
    KEY ix_block_version (user_id, version)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_general_ci;

CREATE TABLE chat_groups (
    group_id           CHAR(36)      NOT NULL,
    conversation_id    VARCHAR(64)   NOT NULL,
    name               VARCHAR(256)  NOT NULL,
    avatar             VARCHAR(512)  NOT NULL,
    announcement       VARCHAR(4000) NOT NULL,
    owner_id           CHAR(36)      NOT NULL,
    join_policy        VARCHAR(16)   NOT NULL,
    members_can_invite BOOLEAN       NOT NULL,
    mute_all           BOOLEAN       NOT NULL DEFAULT FALSE,
    max_members        INT           NOT NULL,
    member_count       INT           NOT NULL,
    status             VARCHAR(16)   NOT NULL,
    created_at         DATETIME(6)   NOT NULL,
    updated_at         DATETIME(6)   NOT NULL,
    PRIMARY KEY (group_id),
    KEY ix_groups_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- version: position in the group's member list (owner = group id, list 'members');
-- user_version: position in the member's own group list (owner = user id, list 'groups').
CREATE TABLE group_members (
    group_id       CHAR(36)     NOT NULL,
    user_id        CHAR(36)     NOT NULL,
    role           VARCHAR(16)  NOT NULL,
    group_nickname VARCHAR(128) NOT NULL DEFAULT '',
    muted_until    DATETIME(6)  NULL,
    status         VARCHAR(16)  NOT NULL,
    joined_at      DATETIME(6)  NOT NULL,
    updated_at     DATETIME(6)  NOT NULL,
    version        BIGINT       NOT NULL,
    user_version   BIGINT       NOT NULL,
    PRIMARY KEY (group_id, user_id),
    KEY ix_members_user (user_id, user_version),
    KEY ix_members_group_version (group_id, version)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE group_join_requests (
    request_id CHAR(36)     NOT NULL,
    group_id   CHAR(36)     NOT NULL,
    user_id    CHAR(36)     NOT NULL,
    message    VARCHAR(800) NOT NULL,
    invited_by CHAR(36)     NULL,
    status     VARCHAR(16)  NOT NULL,
    created_at DATETIME(6)  NOT NULL,
    updated_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (request_id),
    KEY ix_gjr_group (group_id, status),
    KEY ix_gjr_user (group_id, user_id, status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Write-side guard of the commands tier (not a read model): the last
-- position appended for an aggregate. A command on an aggregate locks its row,
-- waits until the projector has passed that position (so the state it decides
-- on includes every earlier event of the aggregate), appends, and records the
-- new position. See commands/src/consistency.rs.
CREATE TABLE cmd_aggregate_heads (
    aggregate_type VARCHAR(32)  NOT NULL,
    aggregate_id   VARCHAR(128) NOT NULL,
    partition_id   INT          NOT NULL,
    last_offset    BIGINT       NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_general_ci;
