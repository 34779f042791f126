-- The IMAP harvester: where each (account, folder) stands, and the Gmail labels of each fetched copy.

-- Per (account, folder): the UIDVALIDITY seen and the highest UID whose batch was committed. A later harvest
-- fetches only UIDs above it; a changed UIDVALIDITY rescans the folder (content hashes keep it free of duplicates).
CREATE TABLE harvest_state (
    account     VARCHAR NOT NULL,
    folder      VARCHAR NOT NULL,
    uidvalidity BIGINT NOT NULL,
    last_uid    BIGINT NOT NULL,
    messages    BIGINT NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ,
    PRIMARY KEY (account, folder)
);

ALTER TABLE locations ADD COLUMN labels VARCHAR[];   -- X-GM-LABELS where the server has them (Gmail's \All folder)
