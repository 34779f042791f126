-- The earlier ask sequences to $people before $as_of and what became of each (newest first): the history `check`
-- sets beside a draft. Parameters: $people (bare lower-case addresses), $as_of.
select recipient, first_sent_at, campaign, subject, ask_kind, outcome, answer_kind, answered_at, auto_return_date,
       touches
from ask_outcomes
where is_request and recipient in (select unnest($people)) and first_sent_at < cast($as_of as timestamptz)
order by recipient, first_sent_at desc
