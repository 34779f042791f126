-- The first release's schema. Never edit a migration that has shipped: add the next number instead.
CREATE SEQUENCE run_ids START 1;

-- One row per command run: what it read and what became of it (new + duplicate + quarantined = read).
CREATE TABLE runs (
    run_id      BIGINT PRIMARY KEY DEFAULT nextval('run_ids'),
    command     VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,          -- running | ok | failed
    sources     VARCHAR[],
    "read"      BIGINT NOT NULL DEFAULT 0,
    new         BIGINT NOT NULL DEFAULT 0,
    duplicate   BIGINT NOT NULL DEFAULT 0,
    quarantined BIGINT NOT NULL DEFAULT 0,
    detail      JSON
);

-- One row per distinct raw content: sha256 of the bytes with line ends normalised to CRLF.
CREATE TABLE messages (
    raw_sha256      VARCHAR PRIMARY KEY,
    mail_key        VARCHAR NOT NULL,      -- merges copies of one mail found in several folders or mailboxes
    message_id      VARCHAR NOT NULL,      -- the Message-ID as written, or a synthesised <...@auditor.invalid>
    in_reply_to     VARCHAR,
    reference_ids   VARCHAR[],
    from_addr       VARCHAR,
    from_name       VARCHAR,
    recipients      STRUCT(addr VARCHAR, name VARCHAR, field VARCHAR)[],
    undisclosed     BOOLEAN,
    sent_at         TIMESTAMPTZ,           -- NULL: no usable date (kept, left out of period reports)
    date_source     VARCHAR,               -- header | received | envelope | NULL
    subject         VARCHAR,
    body_text       VARCHAR,
    body_kind       VARCHAR,               -- plain | html | none
    headers         JSON,                  -- bulk, list, auto-reply and mail-merge headers, lower-case names
    content_type    VARCHAR,
    dsn_recipients  VARCHAR[],
    dsn_status      VARCHAR,
    dsn_original_id VARCHAR,
    size            BIGINT,
    flags           VARCHAR[],
    raw             BLOB,
    run_id          BIGINT,
    stored_at       TIMESTAMPTZ
);

-- Every place a message was found; a message in Sent and in All Mail has two rows here and one above.
CREATE TABLE locations (
    kind       VARCHAR NOT NULL,           -- eml | mbox | maildir | imap
    source     VARCHAR NOT NULL,
    folder     VARCHAR NOT NULL,
    location   VARCHAR NOT NULL,
    raw_sha256 VARCHAR NOT NULL,           -- in messages, or in quarantine
    run_id     BIGINT,
    seen_at    TIMESTAMPTZ,
    PRIMARY KEY (kind, source, folder, location)
);

-- Files that are not mail we can read, kept with their bytes and the reason.
CREATE TABLE quarantine (
    raw_sha256     VARCHAR PRIMARY KEY,
    reason         VARCHAR NOT NULL,
    size           BIGINT,
    raw            BLOB,
    run_id         BIGINT,
    quarantined_at TIMESTAMPTZ
);

-- What each derived stage last ran on, so a stage whose inputs did not change is not run again.
CREATE TABLE stage_state (
    stage       VARCHAR PRIMARY KEY,
    fingerprint VARCHAR NOT NULL,
    run_id      BIGINT,
    updated_at  TIMESTAMPTZ
);

-- Derived by `tag`: one row per distinct mail (mail_key), with its direction under the current identity.
CREATE TABLE mails (
    mail_key      VARCHAR PRIMARY KEY,
    message_id    VARCHAR NOT NULL,        -- unique here: a reused Message-ID gets a synthesised one, flagged
    raw_sha256    VARCHAR NOT NULL,        -- the copy analysed
    direction     VARCHAR NOT NULL,        -- out (to someone outside the team) | team | in | unknown
    from_addr     VARCHAR,
    sent_at       TIMESTAMPTZ,
    subject       VARCHAR,
    in_reply_to   VARCHAR,
    reference_ids VARCHAR[],
    folders       VARCHAR[],
    automated     VARCHAR,                 -- inbound only: bounce | auto | list; NULL for a person's own mail
    message_id_reused BOOLEAN NOT NULL DEFAULT false
);

-- Derived by `tag`: one row per (ask, external recipient). Labels per message repeat on each recipient's row;
-- warmth is the recipient's own.
CREATE TABLE tags (
    message_id          VARCHAR NOT NULL,
    recipient           VARCHAR NOT NULL,  -- bare lower-case address
    mail_key            VARCHAR NOT NULL,
    sender              VARCHAR,
    sent_at             TIMESTAMPTZ,
    subject             VARCHAR,
    is_ask              BOOLEAN NOT NULL,
    ask_kind            VARCHAR NOT NULL,  -- none | donation | meeting | introduction | interview | volunteering | endorsement | purchase | other
    ask_sentence        VARCHAR,
    ask_size            VARCHAR,           -- the amount or time asked for, where stated ("$50", "30 minutes")
    audience            VARCHAR NOT NULL,  -- mass | personal
    audience_score      DOUBLE NOT NULL,
    audience_reasons    VARCHAR[],
    focus               VARCHAR NOT NULL,  -- self | other | neutral
    other_share         DOUBLE,
    focus_reasons       VARCHAR[],
    warmth              VARCHAR NOT NULL,  -- warm | lapsed | cold
    warmth_reasons      VARCHAR[],
    days_since_contact  INTEGER,
    gave_first          BOOLEAN NOT NULL,
    history_incomplete  BOOLEAN NOT NULL,  -- sent in the mailbox's first weeks: earlier history may be missing
    ruleset_digest      VARCHAR NOT NULL,
    run_id              BIGINT,
    tagged_at           TIMESTAMPTZ,
    PRIMARY KEY (message_id, recipient)
);

-- Derived by `tag`: each ask's sentences with their colour (self = yellow, other = green), for highlighting.
CREATE TABLE tag_sentences (
    message_id VARCHAR NOT NULL,
    idx        INTEGER NOT NULL,
    text       VARCHAR NOT NULL,
    colour     VARCHAR NOT NULL,           -- self | other | neutral
    is_ask     BOOLEAN NOT NULL,           -- the sentence that makes the request
    PRIMARY KEY (message_id, idx)
);

-- Derived by `match`: one row per (sequence, recipient), keyed by the sequence's first touch.
CREATE TABLE outcomes (
    message_id        VARCHAR NOT NULL,    -- the first touch of the sequence
    recipient         VARCHAR NOT NULL,
    outcome           VARCHAR NOT NULL,    -- human | auto | bounce | none | pending
    touches           INTEGER NOT NULL,    -- asks in the sequence (1 + follow-ups)
    first_sent_at     TIMESTAMPTZ,
    last_touch_at     TIMESTAMPTZ,
    window_closes_at  TIMESTAMPTZ,
    answer_message_id VARCHAR,
    answer_from       VARCHAR,
    answered_at       TIMESTAMPTZ,
    matched_by        VARCHAR,             -- in_reply_to | references | dsn
    hours_to_answer   DOUBLE,
    answer_touch      INTEGER,             -- which touch the answer replied to
    auto_message_id   VARCHAR,
    bounce_message_id VARCHAR,
    ruleset_digest    VARCHAR NOT NULL,
    run_id            BIGINT,
    matched_at        TIMESTAMPTZ,
    PRIMARY KEY (message_id, recipient)
);

-- Derived by `match`: which sequence every (ask, recipient) belongs to, and its touch number.
CREATE TABLE touches (
    message_id          VARCHAR NOT NULL,
    recipient           VARCHAR NOT NULL,
    sequence_message_id VARCHAR NOT NULL,
    touch               INTEGER NOT NULL,
    PRIMARY KEY (message_id, recipient)
);

-- A subject with its reply and forward prefixes (Re:, AW:, SV:, Fwd:, RE[2]:, [list tags]) taken off, lower-cased:
-- how a reply that lost its threading headers, or a follow-up, is recognised.
CREATE MACRO subject_key(subject) AS
    regexp_replace(lower(coalesce(subject, '')),
                   '^(\s*(\[[^\]]*\]\s*)?(re|fwd?|fw|aw|wg|sv|vs|antw|odp|tr|rif|r)(\[\d+\])?\s*:\s*)+', '');

-- Each sequence's outcome beside the style of its first touch: the table every reply-rate figure reads.
-- is_request: the first touch asks for something (ask_kind <> 'none'); the report's style figures count these,
-- so a thank-you note or a reply in a running conversation does not pass for an ask style.
CREATE VIEW ask_outcomes AS
SELECT o.*, t.mail_key, t.sender, t.sent_at, t.subject, t.ask_kind, t.ask_sentence, t.audience, t.focus,
       t.warmth, t.other_share, t.gave_first, t.history_incomplete,
       o.outcome IN ('human', 'auto', 'none') AS delivered,
       o.outcome = 'human' AS answered,
       t.ask_kind <> 'none' AS is_request
FROM outcomes o
JOIN tags t USING (message_id, recipient);
