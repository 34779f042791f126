-- The MinHash signatures of the asks long enough to call a template ($min_words), by ask number.
select n.node, mm.signature
from _tag_asks a
join _tag_ask_nodes n using (message_id)
join message_measures mm using (raw_sha256)
where mm.signature is not null and mm.word_count >= $min_words
