-- The asks of this tag run (the tag stage empties the table first), kept for the next re-tag with the same mails.
insert into asks (message_id, mail_key, raw_sha256, from_addr, sent_at, subject, recipients_ext, co_recipients,
                  undisclosed, h_list_unsubscribe, h_list_id, h_precedence, h_mailer, h_merge_header)
select message_id, mail_key, raw_sha256, from_addr, sent_at, subject, recipients_ext, co_recipients,
       undisclosed, h_list_unsubscribe, h_list_id, h_precedence, h_mailer, h_merge_header
from _tag_asks
