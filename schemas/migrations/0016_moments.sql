-- Moments (beaver.moments.v1): the friends' feed. `moment_timeline` is the
-- fan-out index (one row per viewer the moment was delivered to); reads
-- filter it with the live friendships and blocks (docs/services.md,
-- "Moments"). `moment_pairs` is the moments projection's own copy of the
-- social graph (from beaver.relations.v1), so its fan-out does not depend
-- on another projection's progress.
CREATE TABLE moments (
    moment_id     CHAR(36)      CHARACTER SET ascii NOT NULL,
    author_id     CHAR(36)      CHARACTER SET ascii NOT NULL,
    text          TEXT          NOT NULL,
    media         TEXT          NOT NULL,
    visibility    VARCHAR(16)   CHARACTER SET ascii NOT NULL,
    -- JSON array of the selected / excepted user ids.
    users         TEXT          CHARACTER SET ascii NOT NULL,
    deleted       BOOLEAN       NOT NULL DEFAULT FALSE,
    created_at    DATETIME(6)   NOT NULL,
    PRIMARY KEY (moment_id),
    KEY ix_moments_author (author_id, moment_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE moment_timeline (
    viewer_id CHAR(36) CHARACTER SET ascii NOT NULL,
    moment_id CHAR(36) CHARACTER SET ascii NOT NULL,
    author_id CHAR(36) CHARACTER SET ascii NOT NULL,
    PRIMARY KEY (viewer_id, moment_id),
    KEY ix_timeline_pair (viewer_id, author_id),
    KEY ix_timeline_moment (moment_id)
) ENGINE = InnoDB DEFAULT CHARSET = ascii;

CREATE TABLE moment_likes (
    moment_id  CHAR(36)    CHARACTER SET ascii NOT NULL,
    user_id    CHAR(36)    CHARACTER SET ascii NOT NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (moment_id, user_id)
) ENGINE = InnoDB DEFAULT CHARSET = ascii;

CREATE TABLE moment_comments (
    comment_id       CHAR(36)    CHARACTER SET ascii NOT NULL,
    moment_id        CHAR(36)    CHARACTER SET ascii NOT NULL,
    user_id          CHAR(36)    CHARACTER SET ascii NOT NULL,
    text             VARCHAR(2000) NOT NULL,
    reply_to         CHAR(36)    CHARACTER SET ascii NULL,
    reply_to_user_id CHAR(36)    CHARACTER SET ascii NULL,
    deleted          BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at       DATETIME(6) NOT NULL,
    PRIMARY KEY (comment_id),
    KEY ix_comments_moment (moment_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Per ordered pair (user, other): friends, whether user blocked other, and
-- since when the pair may see each other's moments (the last time it became
-- friends with no block either way; both rows carry it).
CREATE TABLE moment_pairs (
    user_id  CHAR(36)    CHARACTER SET ascii NOT NULL,
    other_id CHAR(36)    CHARACTER SET ascii NOT NULL,
    friends  BOOLEAN     NOT NULL DEFAULT FALSE,
    blocked  BOOLEAN     NOT NULL DEFAULT FALSE,
    since    DATETIME(6) NULL,
    PRIMARY KEY (user_id, other_id)
) ENGINE = InnoDB DEFAULT CHARSET = ascii;
