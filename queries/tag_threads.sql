-- Each mail's thread: the smallest id among the ids linked to its own (_roots: node, root, from connected components).
select i.id as message_id, r.id as thread_id
from _tag_thread_ids i
join _roots using (node)
join _tag_thread_ids r on r.node = _roots.root
