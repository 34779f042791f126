-- Who to ask next, as of $as_of: people whose out-of-office named a return date (re-ask after it), warm contacts whose ask went unanswered (follow up once), and lapsed relationships (two-way contact once, none for longer than $window_days; a touch before any ask). Nobody asked again since, or who left an earlier ask unanswered too, is listed. At most $rows of each kind. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign), $as_of, $window_days, $rows.
with asks as (
    select * from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar))
    where is_request and first_sent_at <= cast($as_of as timestamptz)
),
asked_later as (
    select a.message_id, a.recipient
    from asks a
    where exists (select 1 from tags t where t.recipient = a.recipient and t.ask_kind <> 'none'
                                         and t.sent_at > a.last_touch_at and t.sent_at <= cast($as_of as timestamptz))
),
away as (
    select 'away' as kind, recipient as person, subject, first_sent_at as sent_at, auto_return_date as due,
           null::bigint as messages_in, row_number() over (order by auto_return_date, recipient) as rn
    from asks
    where outcome in ('auto', 'none', 'pending') and auto_return_date is not null
      and auto_return_date >= cast(cast($as_of as timestamptz) as date) - 90
      and (message_id, recipient) not in (select * from asked_later)
),
unanswered as (
    select 'warm_unanswered' as kind, recipient as person, subject, first_sent_at as sent_at,
           cast(window_closes_at as date) as due, null::bigint as messages_in,
           row_number() over (order by first_sent_at desc, recipient) as rn
    from asks
    where outcome = 'none' and warmth = 'warm' and auto_return_date is null
      and first_sent_at >= cast($as_of as timestamptz) - to_days(cast($window_days as integer))
      and (message_id, recipient) not in (select * from asked_later)
      and not exists (select 1 from asks b where b.recipient = asks.recipient and b.outcome = 'none'
                                             and b.first_sent_at < asks.first_sent_at
                                             and b.first_sent_at >= cast($as_of as timestamptz) - to_days(cast($window_days as integer)))
),
inbound as (
    select lower(from_addr) as person, max(sent_at) as last_in, count(*) as messages_in
    from mails
    where direction = 'in' and automated is null and from_addr is not null and sent_at <= cast($as_of as timestamptz)
    group by all
),
outbound as (
    select lower(u.r.addr) as person, max(m.sent_at) as last_out
    from mails m
    join messages g on g.raw_sha256 = m.raw_sha256
    cross join unnest(g.recipients) as u(r)
    where m.direction = 'out' and m.sent_at <= cast($as_of as timestamptz)
    group by all
),
lapsed as (
    select 'lapsed' as kind, i.person, null as subject, least(i.last_in, o.last_out) as sent_at,
           null::date as due, i.messages_in,
           row_number() over (order by i.messages_in desc, least(i.last_in, o.last_out) desc, i.person) as rn
    from inbound i
    join outbound o using (person)
    where least(i.last_in, o.last_out) < cast($as_of as timestamptz) - to_days(cast($window_days as integer))
      and not exists (select 1 from tags t where t.recipient = i.person and t.ask_kind <> 'none'
                                             and t.sent_at > i.last_in and t.sent_at <= cast($as_of as timestamptz))
)
select kind, person, subject, sent_at, due, messages_in
from (select * from away union all select * from unanswered union all select * from lapsed)
where rn <= cast($rows as integer)
order by case kind when 'away' then 0 when 'warm_unanswered' then 1 else 2 end, rn
