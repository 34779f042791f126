-- Who the team is, as the user last said it (--me, AUDITOR_ME or [identity] in the config): one row per address
-- or whole domain ("@example.org"). Later commands without --me use it, so `auditor report` after
-- `auditor audit --me ...` needs no option; a new --me replaces it. An identity inferred from a Sent folder is
-- not kept: a later Sent folder may say more.
CREATE TABLE identity (
    item    VARCHAR PRIMARY KEY,
    set_at  TIMESTAMPTZ NOT NULL,
    run_id  BIGINT
);
