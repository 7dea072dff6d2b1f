-- Read model of login sessions (topic beaver.sessions.v1).
CREATE TABLE sessions (
    session_id         CHAR(36)    NOT NULL,
    user_id            CHAR(36)    NOT NULL,
    refresh_token_hash CHAR(64)    NOT NULL,
    generation         INT         NOT NULL DEFAULT 0,
    refresh_expires_at DATETIME(6) NOT NULL,
    status             VARCHAR(16) NOT NULL,
    end_reason         VARCHAR(32) NULL,
    started_at         DATETIME(6) NOT NULL,
    updated_at         DATETIME(6) NOT NULL,
    PRIMARY KEY (session_id),
    KEY ix_sessions_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_general_ci;
