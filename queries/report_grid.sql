-- Reply rate for every combination of the three axes (mass|personal x self|other|neutral x warm|lapsed|cold), with n, over request sequences.
select audience, focus, warmth,
       count(*) filter (where answered)  as answered,
       count(*) filter (where delivered) as delivered,
       count(*) filter (where answered) / nullif(count(*) filter (where delivered), 0) as rate
from ask_outcomes
where is_request
group by all
order by audience, focus, warmth
