-- Keys the auditor makes for itself: the report's pseudonym key (an HMAC key, so pseudonyms cannot be reversed by
-- hashing guessed addresses). Never a user's password or token.
CREATE TABLE secrets (
    name       VARCHAR PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at TIMESTAMPTZ
);
