-- The mails of this tag run, each with its thread (the tag stage empties the table first).
insert into mails (mail_key, message_id, raw_sha256, direction, from_addr, sent_at, subject, in_reply_to,
                   reference_ids, folders, automated, message_id_reused, thread_id, return_date)
select m.mail_key, m.message_id, m.raw_sha256, m.direction, m.from_addr, m.sent_at, m.subject, m.in_reply_to,
       m.reference_ids, m.folders, m.automated, m.message_id_reused, t.thread_id, m.return_date
from _tag_mails m
left join _tag_threads t using (message_id)
