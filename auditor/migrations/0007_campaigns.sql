-- Campaigns: an ask belongs to its template cluster (the same text sent to several people), else to its subject
-- without reply prefixes, so a send and its follow-ups are one campaign. `campaign` is the readable name
-- (the earliest subject of the cluster); `template_id` is the cluster, stable only within one tagging run.
ALTER TABLE tags ADD COLUMN template_id BIGINT;
ALTER TABLE tags ADD COLUMN campaign VARCHAR;

CREATE OR REPLACE VIEW ask_outcomes AS
SELECT o.*, t.mail_key, t.sender, t.sent_at, t.subject, t.ask_kind, t.ask_sentence, t.audience, t.focus,
       t.warmth, t.other_share, t.gave_first, t.history_incomplete, t.campaign,
       o.outcome IN ('human', 'auto', 'none') AS delivered,
       o.outcome = 'human' AS answered,
       o.outcome = 'human' AND o.answer_kind = 'positive' AS positive,
       t.ask_kind <> 'none' AS is_request
FROM outcomes o
JOIN tags t USING (message_id, recipient);

-- The period macros gain a campaign filter (NULL: every campaign), matched on the lower-cased name.
CREATE OR REPLACE MACRO period_asks(since, until, sender_addr, campaign_name) AS TABLE
    SELECT * FROM ask_outcomes
    WHERE (since IS NULL OR first_sent_at >= since)
      AND (until IS NULL OR first_sent_at < until)
      AND (sender_addr IS NULL OR sender = sender_addr)
      AND (campaign_name IS NULL OR lower(campaign) = lower(campaign_name));

CREATE OR REPLACE MACRO period_tags(since, until, sender_addr, campaign_name) AS TABLE
    SELECT * FROM tags
    WHERE (since IS NULL OR sent_at >= since)
      AND (until IS NULL OR sent_at < until)
      AND (sender_addr IS NULL OR sender = sender_addr)
      AND (campaign_name IS NULL OR lower(campaign) = lower(campaign_name));

-- The 95% Wilson score interval of k successes in n trials: honest at small n and near 0% or 100%, where the
-- normal approximation gives intervals outside [0, 1].
CREATE MACRO wilson_low(k, n) AS CASE WHEN n > 0 THEN greatest(0.0,
    (k / n + 1.96 * 1.96 / (2 * n) - 1.96 * sqrt((k / n) * (1 - k / n) / n + 1.96 * 1.96 / (4 * n * n)))
    / (1 + 1.96 * 1.96 / n)) END;
CREATE MACRO wilson_high(k, n) AS CASE WHEN n > 0 THEN least(1.0,
    (k / n + 1.96 * 1.96 / (2 * n) + 1.96 * sqrt((k / n) * (1 - k / n) / n + 1.96 * 1.96 / (4 * n * n)))
    / (1 + 1.96 * 1.96 / n)) END;

-- A subject without its reply and forward prefixes, case kept: a campaign's readable name. subject_key (matching)
-- is its lower-cased form, so the two never disagree about what a prefix is.
CREATE MACRO subject_base(subject) AS
    regexp_replace(coalesce(subject, ''),
                   '^(\s*(\[[^\]]*\]\s*)?(re|fwd?|fw|aw|wg|sv|vs|antw|odp|tr|rif|r)(\[\d+\])?\s*:\s*)+', '', 'i');
CREATE OR REPLACE MACRO subject_key(subject) AS lower(subject_base(subject));
