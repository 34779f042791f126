-- The coloured sentences of this tag run (the tag stage empties the table first).
insert into tag_sentences (message_id, idx, text, colour, is_ask, confidence)
select message_id, idx, text, colour, is_ask, confidence from _tag_sentences
