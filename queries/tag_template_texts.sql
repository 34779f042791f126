-- The cleaned text of every template member ($members: node, template), a template's members together in message-id order, for the medoid and personalization.
select m.node, m.template, mm.clean
from _members m
join _tag_ask_nodes n using (node)
join _tag_asks a using (message_id)
join message_measures mm using (raw_sha256)
order by m.template, a.message_id
