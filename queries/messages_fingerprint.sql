-- How many messages are stored and the last run that stored one: a tag run is needed when these change.
select count(*) as n, coalesce(max(run_id), 0) as last_run from messages
