-- Reply rate (and positive-answer rate) per label of each axis (audience, focus, warmth over request sequences; ask kind over all) with n and a 95% Wilson interval. Parameters: $since, $until (NULL: open), $sender (NULL: everyone).
with labelled as (
    select 'audience' as axis, audience as label, delivered, answered, positive, outcome from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar)) where is_request
    union all select 'focus', focus, delivered, answered, positive, outcome from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar)) where is_request
    union all select 'warmth', warmth, delivered, answered, positive, outcome from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar)) where is_request
    union all select 'ask_kind', ask_kind, delivered, answered, positive, outcome from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar))
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
),
final as (
    select *,
           answered / nullif(delivered, 0) as rate,
           1.96 as z
    from counted
)
select axis, label, answered, delivered, pending, bounced, rate,
       positive / nullif(delivered, 0) as positive_rate,
       case when delivered > 0 then
           (rate + z * z / (2 * delivered) - z * sqrt(rate * (1 - rate) / delivered + z * z / (4 * delivered * delivered)))
           / (1 + z * z / delivered) end as low,
       case when delivered > 0 then
           (rate + z * z / (2 * delivered) + z * sqrt(rate * (1 - rate) / delivered + z * z / (4 * delivered * delivered)))
           / (1 + z * z / delivered) end as high
from final
order by axis, label
