-- What the user's own asks say about each craft check `auditor check` shows: the closed request sequences (as the
-- report's analysis counts them: bounced and pending ones left out) with and without each feature, how many were
-- answered, and the Wilson 95% interval; `flag` 'all' (has = true) is every closed sequence: the base rate.
with closed as (
    select answered, coalesce(open_questions, 0) > 0 as open_question, coalesce(chunked, false) as chunked,
           coalesce(opt_out, false) as opt_out, coalesce(commitment_stated, false) as commitment_stated,
           coalesce(offers_first, false) as offers_first, coalesce(gratitude, false) as gratitude, true as "all"
    from period_asks(null, null, null, null)
    where is_request and outcome not in ('bounce', 'pending') and first_sent_at is not null
)
select flag, has, count(*)::int as n, (count(*) filter (where answered))::int as answered,
       (count(*) filter (where answered)) / count(*) as p,
       wilson_low(count(*) filter (where answered), count(*)) as low,
       wilson_high(count(*) filter (where answered), count(*)) as high
from (unpivot closed on open_question, chunked, opt_out, commitment_stated, offers_first, gratitude, "all"
      into name flag value has)
group by flag, has
order by flag, has
