-- Reply rate by month of the first touch, request sequences (pending shown apart).
select date_trunc('month', first_sent_at) as month,
       count(*) filter (where answered)  as answered,
       count(*) filter (where delivered) as delivered,
       count(*) filter (where outcome = 'pending') as pending,
       count(*) filter (where answered) / nullif(count(*) filter (where delivered), 0) as rate
from ask_outcomes
where first_sent_at is not null and is_request
group by all
order by month
