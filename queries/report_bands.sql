-- Reply rate by band of a measure: touches in the sequence, personalization score, visible co-recipients, word count, questions, reading grade and subject words, with n and a 95% Wilson interval, over request sequences. A band is the number of its measure's edges at or below the value (0: below the first edge); the edges are parameters, kept in rules.toml [analysis]. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign), $touches, $personalization, $co_recipients, $word_count, $question_count, $reading_grade, $subject_words (lists of edges).
with asks as (
    select * from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar))
    where is_request
),
measured as (
    select 'touches' as measure, touches::double as value, cast($touches as double[]) as edges, delivered, answered from asks
    union all select 'personalization', personalization, cast($personalization as double[]), delivered, answered from asks
    union all select 'co_recipients', co_recipients, cast($co_recipients as double[]), delivered, answered from asks
    union all select 'word_count', word_count, cast($word_count as double[]), delivered, answered from asks
    union all select 'question_count', question_count, cast($question_count as double[]), delivered, answered from asks
    union all select 'reading_grade', reading_grade, cast($reading_grade as double[]), delivered, answered from asks
    union all select 'subject_words', subject_words, cast($subject_words as double[]), delivered, answered from asks
),
counted as (
    select measure, len(list_filter(edges, lambda e: e <= value)) as band,
           count(*) filter (where answered)  as answered,
           count(*) filter (where delivered) as delivered
    from measured
    where value is not null
    group by all
)
select measure, band, answered, delivered,
       answered / nullif(delivered, 0) as rate,
       wilson_low(answered, delivered)  as low,
       wilson_high(answered, delivered) as high
from counted
order by measure, band
