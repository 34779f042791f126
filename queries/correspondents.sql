-- The people on the mail stored in Sent folders (or labelled \Sent): its senders, the team, and everyone it went to.
-- The ingest parses their inbound mail whole (ingest.Correspondents).
with sent as (
    select from_addr, recipients
    from messages
    where raw_sha256 in (select raw_sha256 from locations
                         where regexp_matches(lower(folder), $sent_folder)      -- sources.SENT_FOLDER
                            or list_contains(labels, '\Sent'))
)
select distinct addr
from (select from_addr as addr from sent
      union all
      select unnest(list_transform(recipients, lambda r: r.addr)) from sent)
where addr is not null
