-- Number the asks in the order of their content hash: template clusters are named by their smallest number, so the same mailbox always gets the same template ids.
select message_id, (row_number() over (order by raw_sha256, message_id) - 1)::bigint as node
from _tag_asks
