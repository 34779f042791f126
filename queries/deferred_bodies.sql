-- Messages stored with their header only (body_kind 'deferred') whose body the tag stage reads after all: those
-- the team sent ($addresses, $domains), since a mass appeal sent through a mailing tool looks like list mail; and
-- those taken for a stranger's (flagged $stranger) that are from someone the team's mail went to, or from their
-- organisation's own domain (not $free_mail), since they may answer an ask or warm a person up.
-- Not materialized: `mail` is read twice, and a materialized copy would hold every message's raw bytes.
with mail as not materialized (
    select raw_sha256, raw, body_kind, flags, recipients, from_addr,
           regexp_extract(from_addr, '@([^@]+)$', 1) as domain,
           from_addr in (select unnest($addresses)) or domain in (select unnest($domains)) as ours
    from messages
),
people as (
    select distinct r.addr, regexp_extract(r.addr, '@([^@]+)$', 1) as domain
    from (select unnest(recipients) as r from mail where ours)
    where r.addr is not null
)
select raw_sha256, raw
from mail
where body_kind = 'deferred'
  and (ours
       or (list_contains(flags, $stranger)
           and (from_addr in (select addr from people)
                or domain in (select domain from people where not list_contains($free_mail, domain)))))
