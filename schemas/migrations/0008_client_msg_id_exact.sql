-- A sender's client_msg_id is an idempotency key compared as exact bytes:
-- the sequencer numbers `abc` and `ABC` of one sender in one conversation as
-- two messages. Under ascii_general_ci the read model's unique key
-- (conversation_id, sender_id, client_msg_id) folded case, so the second of
-- such a pair was dropped by the projection's INSERT IGNORE after its send
-- had been answered with a seq: a gap in history. The column is only ever
-- compared (never read back into the API), so a binary collation is safe here.
ALTER TABLE messages
    MODIFY client_msg_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
