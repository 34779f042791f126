-- How many different people received each template's text ($members: node, template, for clusters of two or more asks).
select template, count(distinct addr)::int as template_recipients
from (select m.template, unnest(list_transform(a.recipients_ext, lambda r: r.addr)) as addr
      from _members m
      join _tag_ask_nodes n using (node)
      join _tag_asks a using (message_id))
group by template
