-- The candidate pairs ($candidates: node, first) whose signatures agree in at least $similarity of their values: the estimated Jaccard similarity of their texts.
select c.node, c.first
from _candidates c
join _tag_ask_nodes na on na.node = c.node join _tag_asks a on a.message_id = na.message_id
join message_measures ma on ma.raw_sha256 = a.raw_sha256
join _tag_ask_nodes nb on nb.node = c.first join _tag_asks b on b.message_id = nb.message_id
join message_measures mb on mb.raw_sha256 = b.raw_sha256
where list_sum(list_transform(range(1, len(ma.signature) + 1), lambda i: (ma.signature[i] = mb.signature[i])::int))
      / len(ma.signature) >= $similarity
