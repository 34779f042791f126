-- The mail exchanged with $people (bare lower-case addresses) before $as_of, as `check` decides a draft's warmth
-- the way the tag stage decides an ask's: each row one event, with who, when, and its kind (in: they wrote to us,
-- robots and lists left out; out: we sent them something; gift: we sent them something that asked for nothing).
select from_addr as person, sent_at as "at", 'in' as kind
from mails
where direction = 'in' and automated is null and from_addr in (select unnest($people))
  and sent_at < cast($as_of as timestamptz)
union all
select recipient, sent_at, case when ask_kind = 'none' then 'gift' else 'out' end
from tags
where recipient in (select unnest($people)) and sent_at < cast($as_of as timestamptz)
