-- Compute once, label often: what tagging needs from a message's text that no word list changes (the cleaned
-- text, its sentences, a MinHash signature of its masked word 3-grams, counts, reading grade, sentiment), stored
-- per distinct raw content. `version` says which cleaning rules and code made the row; another version is
-- recomputed. A change of word lists or thresholds re-labels from these rows without reading a body again.
CREATE TABLE message_measures (
    raw_sha256      VARCHAR PRIMARY KEY,
    version         VARCHAR NOT NULL,
    clean           VARCHAR NOT NULL,     -- what the sender wrote in this message: quotes and signature removed
    sentences       VARCHAR[] NOT NULL,
    signature       UBIGINT[],            -- MinHash of the masked text's word 3-grams; NULL when too short
    word_count      INTEGER NOT NULL,
    question_count  INTEGER NOT NULL,     -- sentences ending in a question mark
    subject_words   INTEGER NOT NULL,
    syllables       INTEGER NOT NULL,
    reading_grade   DOUBLE,               -- Flesch-Kincaid grade level; NULL without a sentence
    sentiment       DOUBLE NOT NULL,      -- VADER compound score in [-1, 1]
    measured_at     TIMESTAMPTZ
);

-- Craft features, the measures reply studies use, and personalization, per ask (repeated on each recipient row).
ALTER TABLE tags ADD COLUMN open_questions INTEGER;      -- how/what/why questions that invite an answer in words
ALTER TABLE tags ADD COLUMN closed_questions INTEGER;    -- yes/no and either/or questions
ALTER TABLE tags ADD COLUMN chunked BOOLEAN;             -- the request is cut into a small first step
ALTER TABLE tags ADD COLUMN opt_out BOOLEAN;             -- an easy no is offered ("no worries if not")
ALTER TABLE tags ADD COLUMN commitment_stated BOOLEAN;   -- how much, how long or by when is said
ALTER TABLE tags ADD COLUMN offers_first BOOLEAN;        -- the message gives (an offer, an intro, help) before it asks
ALTER TABLE tags ADD COLUMN gratitude BOOLEAN;
ALTER TABLE tags ADD COLUMN craft_reasons VARCHAR[];
ALTER TABLE tags ADD COLUMN word_count INTEGER;
ALTER TABLE tags ADD COLUMN question_count INTEGER;
ALTER TABLE tags ADD COLUMN subject_words INTEGER;
ALTER TABLE tags ADD COLUMN reading_grade DOUBLE;
ALTER TABLE tags ADD COLUMN sentiment DOUBLE;
ALTER TABLE tags ADD COLUMN personalization DOUBLE;      -- word edits from the template's medoid / words; 1 without a template
ALTER TABLE tags ADD COLUMN co_recipients INTEGER;       -- other people visibly in To/Cc

CREATE OR REPLACE VIEW ask_outcomes AS
SELECT o.*, t.mail_key, t.sender, t.sent_at, t.subject, t.ask_kind, t.ask_sentence, t.audience, t.focus,
       t.warmth, t.other_share, t.gave_first, t.history_incomplete, t.campaign,
       t.open_questions, t.closed_questions, t.chunked, t.opt_out, t.commitment_stated, t.offers_first,
       t.gratitude, t.word_count, t.question_count, t.subject_words, t.reading_grade, t.sentiment,
       t.personalization, t.co_recipients,
       o.outcome IN ('human', 'auto', 'none') AS delivered,
       o.outcome = 'human' AS answered,
       o.outcome = 'human' AND o.answer_kind = 'positive' AS positive,
       t.ask_kind <> 'none' AS is_request
FROM outcomes o
JOIN tags t USING (message_id, recipient);
