-- A report covers a period and, optionally, one sender: these table macros are the one place that says which
-- asks are in it (by the send of their first touch), so every report query filters the same way.
-- since/until: timestamps or NULL (open); sender: an address or NULL (everyone).
CREATE MACRO period_asks(since, until, sender_addr) AS TABLE
    SELECT * FROM ask_outcomes
    WHERE (since IS NULL OR first_sent_at >= since)
      AND (until IS NULL OR first_sent_at < until)
      AND (sender_addr IS NULL OR sender = sender_addr);

CREATE MACRO period_tags(since, until, sender_addr) AS TABLE
    SELECT * FROM tags
    WHERE (since IS NULL OR sent_at >= since)
      AND (until IS NULL OR sent_at < until)
      AND (sender_addr IS NULL OR sender = sender_addr);
