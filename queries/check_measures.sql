-- The measures of every closed ask sequence's first touch (requests; bounced and pending ones left out, as the
-- report's analysis counts them) and whether it was answered: what `check` sets a draft's length, questions,
-- reading grade and subject beside.
select o.answered, t.word_count, t.question_count, t.reading_grade, t.subject_words
from ask_outcomes o
join tags t using (message_id, recipient)
where o.is_request and o.outcome not in ('bounce', 'pending') and o.first_sent_at is not null
