-- Derived by `check`: the model of answered it scores drafts with (the report's adjusted model, fit on the
-- mailbox's closed ask sequences) and the craft checks' rates and medians, kept so a check costs a look-up, not a fit. `fingerprint` names the tags,
-- outcomes and rules it was fit on: when they change, the next check refits it. One row.
CREATE TABLE answer_model (
    fingerprint VARCHAR NOT NULL,
    fitted_at   TIMESTAMPTZ,
    model       JSON NOT NULL
);
