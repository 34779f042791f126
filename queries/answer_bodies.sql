-- The text of the human answers among the match stage's outcomes (_match_outcomes), to read what each one says.
select distinct o.answer_message_id, s.body_text
from _match_outcomes o
join mails m on m.message_id = o.answer_message_id
join messages s using (raw_sha256)
where o.outcome = 'human'
