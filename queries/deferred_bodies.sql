-- Messages stored with their header only (body_kind 'deferred': list or bulk mail found outside a Sent folder)
-- that the team sent ($addresses, $domains): a mass appeal sent through a mailing tool looks like list mail, and
-- its body is what the tag stage reads, so these are parsed whole before tagging.
select raw_sha256, raw
from messages
where body_kind = 'deferred'
  and (from_addr in (select unnest($addresses)) or regexp_extract(from_addr, '@([^@]+)$', 1) in (select unnest($domains)))
