-- Reply rate per sender (team member) over request sequences, with n and a 95% Wilson interval, most asks first. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign).
select sender,
       count(distinct message_id)                  as asks,
       count(*) filter (where delivered)           as delivered,
       count(*) filter (where answered)            as answered,
       count(*) filter (where outcome = 'pending') as pending,
       count(*) filter (where answered) / nullif(count(*) filter (where delivered), 0) as rate,
       wilson_low(count(*) filter (where answered), count(*) filter (where delivered))  as low,
       wilson_high(count(*) filter (where answered), count(*) filter (where delivered)) as high
from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar))
where is_request
group by sender
order by delivered desc, sender
