-- The names $people (bare lower-case addresses) go by in the mailbox: the display names on the mail they sent and on
-- the team's mail to them, most used first. `check` compares a draft's greeting with them.
select person, name, count(*)::int as uses
from (select from_addr as person, from_name as name from messages
      where from_addr in (select unnest($people)) and from_name is not null
      union all
      select r.addr, r.name from (select unnest(recipients_ext) as r from asks) where r.addr in (select unnest($people)))
where trim(name) <> '' and name not like '%@%'
group by all
order by person, uses desc
