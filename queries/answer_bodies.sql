-- The text of the given answering messages, to read what each answer says.
select m.message_id as answer_message_id, s.body_text
from mails m
join messages s using (raw_sha256)
where list_contains($message_ids, m.message_id)
