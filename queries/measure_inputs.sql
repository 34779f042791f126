-- The subject and body of the given messages ($hashes: a list of raw_sha256), for the one-time text measures.
select m.raw_sha256, m.subject, m.body_text
from messages m
join (select unnest($hashes) as raw_sha256) wanted using (raw_sha256)
