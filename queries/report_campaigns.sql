-- Reply rate per campaign (a template cluster, else the subject without Re:/Fwd:) over request sequences: first send, senders, mass share, n and a 95% Wilson interval, most delivered first. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign).
select campaign,
       min(first_sent_at)                          as first_sent,
       count(distinct sender)                      as senders,
       count(distinct message_id)                  as asks,
       count(*) filter (where delivered)           as delivered,
       count(*) filter (where answered)            as answered,
       count(*) filter (where outcome = 'pending') as pending,
       avg(case when audience = 'mass' then 1.0 else 0.0 end) as mass_share,
       count(*) filter (where answered) / nullif(count(*) filter (where delivered), 0) as rate,
       wilson_low(count(*) filter (where answered), count(*) filter (where delivered))  as low,
       wilson_high(count(*) filter (where answered), count(*) filter (where delivered)) as high
from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar))
where is_request
group by campaign
order by delivered desc, first_sent, campaign
