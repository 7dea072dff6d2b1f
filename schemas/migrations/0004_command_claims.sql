-- Write-side guard of the commands tier (not a read model, never projected):
-- a value that must be unique (username, email, phone) or spent once (a
-- refresh token) is claimed here BEFORE its event is appended. The primary
-- key makes concurrent claims race in InnoDB, where exactly one wins.
-- Values are normalised (lower case) before they are claimed; the
-- case-insensitive collation errs on the side of refusing look-alikes.
-- See commands/src/claims.rs.
CREATE TABLE cmd_claims (
    kind        VARCHAR(32)  NOT NULL,
    claim_value VARCHAR(255) NOT NULL,
    owner_id    CHAR(36)     NOT NULL,
    state       VARCHAR(16)  NOT NULL,
    created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (kind, claim_value),
    KEY ix_claims_owner (owner_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
