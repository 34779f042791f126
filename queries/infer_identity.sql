-- Senders of the mail stored in Sent folders (or labelled \Sent), with their share: who "me" is when no identity was given.
with sent as (
    select distinct m.mail_key, m.from_addr
    from messages m
    join locations l using (raw_sha256)
    where m.from_addr is not null
      and (regexp_matches(lower(l.folder), $sent_folder)      -- sources.SENT_FOLDER
           or list_contains(l.labels, '\Sent'))     -- Gmail's \All folder: the Sent label
)
select from_addr, count(*) as n, count(*) / sum(count(*)) over () as share
from sent
group by from_addr
order by n desc, from_addr
