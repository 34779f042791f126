-- Messages stored with their header only (body_kind 'deferred') whose body the tag stage reads after all: those
-- the team sent ($addresses, $domains), since a mass appeal sent through a mailing tool looks like list mail; and
-- those taken for a stranger's (flagged $stranger) that are from someone the team's mail went to, or from their
-- organisation's own domain (not $free_mail), since they may answer an ask or warm a person up.
with team_mail as (
    select recipients
    from messages
    where from_addr in (select unnest($addresses)) or regexp_extract(from_addr, '@([^@]+)$', 1) in (select unnest($domains))
),
people as (
    select distinct r.addr
    from (select unnest(recipients) as r from team_mail)
    where r.addr is not null
)
select raw_sha256, raw
from messages
where body_kind = 'deferred'
  and (from_addr in (select unnest($addresses)) or regexp_extract(from_addr, '@([^@]+)$', 1) in (select unnest($domains))
       or (list_contains(flags, $stranger)
           and (from_addr in (select addr from people)
                or regexp_extract(from_addr, '@([^@]+)$', 1) in (select regexp_extract(addr, '@([^@]+)$', 1) from people
                                                                where not list_contains($free_mail, regexp_extract(addr, '@([^@]+)$', 1))))))
