-- The sentences of the chosen example asks, in order, with their colour (self = yellow, other = green) and how sure
-- the colour model was of it.
select message_id, idx, text, colour, confidence, is_ask
from tag_sentences
where list_contains($message_ids, message_id)
order by message_id, idx
