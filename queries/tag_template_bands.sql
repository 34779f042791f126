-- The MinHash signatures of the asks long enough to call a template ($min_words), by ask number, as hashes: of the
-- whole signature, and of each of its $bands bands of $rows values (LSH). Hashed here, within the database's memory
-- limit: slicing a million signatures in Python took 650 MB more than the rest of the tag stage.
select n.node, hash(mm.signature) as whole,
       list_transform(range(0, $bands), lambda b: hash(mm.signature[b * $rows + 1 : (b + 1) * $rows])) as bands
from _tag_asks a
join _tag_ask_nodes n using (message_id)
join message_measures mm using (raw_sha256)
where mm.signature is not null and mm.word_count >= $min_words
