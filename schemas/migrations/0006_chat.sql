-- Read models of conversations (beaver.messages.v1). The messages projector
-- is the sequencer: it gives each new message seq = max_seq + 1 in partition
-- order, in the same transaction as its offset (docs/chat.md).
--
-- changed_version: the value of the global counter sync_versions('*',
-- 'conversations') at the row's last change. The projector increments that
-- counter inside the transaction that changes the row, so the counter's row
-- lock orders commits: a client that saw version V has seen every change up
-- to V, and `since_version=V` returns exactly the later ones.

CREATE TABLE conversations (
    conversation_id VARCHAR(96) NOT NULL,
    kind            VARCHAR(8)  NOT NULL,
    group_id        CHAR(36)    NULL,
    max_seq         BIGINT      NOT NULL DEFAULT 0,
    last_message_id CHAR(36)    NULL,
    last_at         DATETIME(6) NULL,
    changed_version BIGINT      NOT NULL,
    PRIMARY KEY (conversation_id)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_general_ci;

CREATE TABLE messages (
    conversation_id VARCHAR(96) NOT NULL,
    seq             BIGINT      NOT NULL,
    message_id      CHAR(36)    NOT NULL,
    client_msg_id   VARCHAR(64) NOT NULL,
    sender_id       CHAR(36)    NOT NULL,
    kind            VARCHAR(16) NOT NULL,
    content         MEDIUMTEXT  NULL,
    mentions        TEXT        NOT NULL,
    reply_to        CHAR(36)    NULL,
    sent_at         DATETIME(6) NOT NULL,
    edited_at       DATETIME(6) NULL,
    edit_count      INT         NOT NULL DEFAULT 0,
    recalled        BOOLEAN     NOT NULL DEFAULT FALSE,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE KEY uq_messages_id (message_id),
    UNIQUE KEY uq_messages_client (conversation_id, sender_id, client_msg_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every version of an edited message's content; edit_no 0 is the original,
-- copied here on the first edit (a never-edited message has no rows).
CREATE TABLE message_edits (
    message_id CHAR(36)    NOT NULL,
    edit_no    INT         NOT NULL,
    content    MEDIUMTEXT  NOT NULL,
    edited_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (message_id, edit_no)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- emoji are compared as exact bytes: case-insensitive collations treat
-- many distinct emoji as equal.
CREATE TABLE message_reactions (
    message_id CHAR(36)       NOT NULL,
    user_id    CHAR(36)       NOT NULL,
    emoji      VARBINARY(256) NOT NULL,
    created_at DATETIME(6)    NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_general_ci;

-- Messages a user deleted for themselves, or never saw (the sender was blocked).
CREATE TABLE message_hidden (
    user_id         CHAR(36)    NOT NULL,
    message_id      CHAR(36)    NOT NULL,
    conversation_id VARCHAR(96) NOT NULL,
    seq             BIGINT      NOT NULL,
    PRIMARY KEY (user_id, message_id),
    KEY ix_hidden_conv (user_id, conversation_id, seq)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_general_ci;

-- A participant's state in a conversation.
CREATE TABLE user_conversations (
    user_id         CHAR(36)    NOT NULL,
    conversation_id VARCHAR(96) NOT NULL,
    read_seq        BIGINT      NOT NULL DEFAULT 0,
    cleared_seq     BIGINT      NOT NULL DEFAULT 0,
    pinned          BOOLEAN     NOT NULL DEFAULT FALSE,
    muted           BOOLEAN     NOT NULL DEFAULT FALSE,
    hidden          BOOLEAN     NOT NULL DEFAULT FALSE,
    changed_version BIGINT      NOT NULL,
    PRIMARY KEY (user_id, conversation_id),
    KEY ix_uc_conv_read (conversation_id, read_seq)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_general_ci;
