-- Where each projector is in each partition. Written in the same transaction
-- as the read-model change it records, so a projector restarted anywhere
-- resumes exactly after the last applied event (see projectors/src/runner.rs).
CREATE TABLE projector_offsets (
    projector    VARCHAR(64)  NOT NULL,
    topic        VARCHAR(128) NOT NULL,
    partition_id INT          NOT NULL,
    next_offset  BIGINT       NOT NULL,
    updated_at   TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (projector, topic, partition_id)
) ENGINE = InnoDB;
