-- Calls (beaver.calls.v1): each call and everyone rung by or in it. The ring
-- sweeper in commands finds rings that ended through ix_participants_ring.
CREATE TABLE calls (
    call_id           CHAR(36)    CHARACTER SET ascii NOT NULL,
    conversation_id   VARCHAR(96) CHARACTER SET ascii NOT NULL,
    caller_id         CHAR(36)    CHARACTER SET ascii NOT NULL,
    media             VARCHAR(8)  CHARACTER SET ascii NOT NULL,
    -- ringing, active or ended
    status            VARCHAR(8)  CHARACTER SET ascii NOT NULL,
    result            VARCHAR(16) CHARACTER SET ascii NULL,
    ring_timeout_secs INT         NOT NULL,
    started_at        DATETIME(6) NOT NULL,
    answered_at       DATETIME(6) NULL,
    ended_at          DATETIME(6) NULL,
    duration_ms       BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (call_id)
) ENGINE = InnoDB DEFAULT CHARSET = ascii;

CREATE TABLE call_participants (
    call_id    CHAR(36)    CHARACTER SET ascii NOT NULL,
    user_id    CHAR(36)    CHARACTER SET ascii NOT NULL,
    -- ringing, joined, declined, missed or left
    part       VARCHAR(8)  CHARACTER SET ascii NOT NULL,
    device_id  VARCHAR(64) CHARACTER SET ascii NULL,
    ring_until DATETIME(6) NULL,
    PRIMARY KEY (call_id, user_id),
    KEY ix_participants_user (user_id, call_id),
    KEY ix_participants_ring (part, ring_until)
) ENGINE = InnoDB DEFAULT CHARSET = ascii;
