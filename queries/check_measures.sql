-- The measures of every closed ask sequence's first touch (requests, bounces left out) and whether it was
-- answered, as of $as_of: what `check` sets a draft's length, questions, reading grade and subject beside.
select o.answered, t.word_count, t.question_count, t.reading_grade, t.subject_words
from ask_outcomes o
join tags t using (message_id, recipient)
where o.is_request and o.outcome in ('human', 'auto', 'none') and o.first_sent_at < cast($as_of as timestamptz)
