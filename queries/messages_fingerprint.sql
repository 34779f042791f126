-- How many messages are stored, the last run that stored one, and how many wait for their body: a tag run is
-- needed when these change.
select count(*) as n, coalesce(max(run_id), 0) as last_run, count(*) filter (where body_kind = 'deferred') as deferred
from messages
