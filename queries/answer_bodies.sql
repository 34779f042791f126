-- The text of the answering messages (_answers: answer_message_id), to read what each answer says.
select a.answer_message_id, s.body_text
from _answers a
join mails m on m.message_id = a.answer_message_id
join messages s using (raw_sha256)
