-- Reply rate for every combination of the three axes (mass|personal x self|other|neutral x warm|lapsed|cold), with n, over request sequences. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign).
select audience, focus, warmth,
       count(*) filter (where answered)  as answered,
       count(*) filter (where delivered) as delivered,
       count(*) filter (where answered) / nullif(count(*) filter (where delivered), 0) as rate
from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar))
where is_request
group by all
order by audience, focus, warmth
