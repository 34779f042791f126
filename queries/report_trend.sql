-- Reply rate by month of the first touch, request sequences (pending shown apart). Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign).
select date_trunc('month', first_sent_at) as month,
       count(*) filter (where answered)  as answered,
       count(*) filter (where delivered) as delivered,
       count(*) filter (where outcome = 'pending') as pending,
       count(*) filter (where answered) / nullif(count(*) filter (where delivered), 0) as rate
from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar))
where first_sent_at is not null and is_request
group by all
order by month
