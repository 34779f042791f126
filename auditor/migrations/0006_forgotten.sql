-- `auditor forget`: who was removed on request, so a later ingest or harvest does not bring them back.

-- One row per forgotten address: HMAC-SHA256 of the lower-cased address under the `forget` key in `secrets`, never
-- the address itself. The key sits in this same file, so whoever holds the file and guesses an address can confirm
-- the guess; what the hash keeps out is the address as readable text.
CREATE TABLE forgotten (
    address_hash VARCHAR PRIMARY KEY,
    forgotten_at TIMESTAMPTZ NOT NULL
);

-- Messages a run read but did not store because they name a forgotten address:
-- new + duplicate + quarantined + forgotten = read.
ALTER TABLE runs ADD COLUMN forgotten BIGINT NOT NULL DEFAULT 0;
