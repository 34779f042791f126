-- Reply outcomes that can be trusted: threads, soft bounces, out-of-office return dates, what an answer says.

ALTER TABLE messages ADD COLUMN dsn_soft_recipients VARCHAR[];   -- temporary failures (4.x.x): not a bounce yet

ALTER TABLE mails ADD COLUMN thread_id VARCHAR;       -- one id per thread: Message-ID/In-Reply-To/References linked
ALTER TABLE mails ADD COLUMN return_date DATE;        -- an out-of-office reply's stated return date

ALTER TABLE outcomes ADD COLUMN answer_by_colleague BOOLEAN;   -- answered by someone else at the recipient's own organisation
ALTER TABLE outcomes ADD COLUMN answer_kind VARCHAR;           -- positive | objection | referral | unsubscribe | neutral
ALTER TABLE outcomes ADD COLUMN answer_phrase VARCHAR;         -- the words that decided answer_kind
ALTER TABLE outcomes ADD COLUMN auto_return_date DATE;         -- from the out-of-office reply: re-ask after this date
ALTER TABLE outcomes ADD COLUMN bounce_status VARCHAR;         -- the DSN status of the bounce (5.1.1 ...)

CREATE OR REPLACE VIEW ask_outcomes AS
SELECT o.*, t.mail_key, t.sender, t.sent_at, t.subject, t.ask_kind, t.ask_sentence, t.audience, t.focus,
       t.warmth, t.other_share, t.gave_first, t.history_incomplete,
       o.outcome IN ('human', 'auto', 'none') AS delivered,
       o.outcome = 'human' AS answered,
       o.outcome = 'human' AND o.answer_kind = 'positive' AS positive,
       t.ask_kind <> 'none' AS is_request
FROM outcomes o
JOIN tags t USING (message_id, recipient);
