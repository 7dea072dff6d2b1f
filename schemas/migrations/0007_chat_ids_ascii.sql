-- The messages read model's ids as ASCII (issue 14, the read side's speed).
--
-- `messages` was created utf8mb4_unicode_ci throughout, so its three indexes
-- held UUIDs and conversation ids as up to four bytes a character compared
-- by the Unicode collation. Ids are ASCII: they become ascii_general_ci like
-- every other chat table's ids (one byte a character, a simple collation;
-- still case-insensitive, so lookups behave as before). Content and
-- mentions keep their types. The API is unchanged.
--
-- Not ascii_bin: sqlx reports a `_bin` column as BINARY and refuses to
-- decode it into a String. See docs/benchmarks.md for what this changed.
ALTER TABLE messages
    MODIFY conversation_id VARCHAR(96) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    MODIFY message_id      CHAR(36)    CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    MODIFY client_msg_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    MODIFY sender_id       CHAR(36)    CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    MODIFY kind            VARCHAR(16) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    MODIFY reply_to        CHAR(36)    CHARACTER SET ascii COLLATE ascii_general_ci NULL;

ALTER TABLE message_edits
    MODIFY message_id CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL;
