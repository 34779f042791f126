-- Out-of-office replies from $people that named a return date on or after $as_of: the latest per person.
select from_addr as person, max(return_date) as return_date, max(sent_at) as said_at
from mails
where automated = 'auto' and return_date is not null and from_addr in (select unnest($people))
  and sent_at < cast($as_of as timestamptz) and return_date >= cast(cast($as_of as timestamptz) as date)
group by from_addr
