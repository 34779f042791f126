-- Reply rate (and positive-answer rate) per label of each axis over request sequences, the denominator of every rate in the report with n and a 95% Wilson interval. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign).
with labelled as (
    select 'audience' as axis, audience as label, delivered, answered, positive, outcome from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar)) where is_request
    union all select 'focus', focus, delivered, answered, positive, outcome from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar)) where is_request
    union all select 'warmth', warmth, delivered, answered, positive, outcome from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar)) where is_request
    union all select 'ask_kind', ask_kind, delivered, answered, positive, outcome from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar)) where is_request
),
counted as (
    select axis, label,
           count(*) filter (where answered)            as answered,
           count(*) filter (where positive)            as positive,
           count(*) filter (where delivered)           as delivered,
           count(*) filter (where outcome = 'pending') as pending,
           count(*) filter (where outcome = 'bounce')  as bounced
    from labelled
    group by all
)
select axis, label, answered, delivered, pending, bounced,
       answered / nullif(delivered, 0) as rate,
       positive / nullif(delivered, 0) as positive_rate,
       wilson_low(answered, delivered)  as low,
       wilson_high(answered, delivered) as high
from counted
order by axis, label
