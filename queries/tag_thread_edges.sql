-- The links between ids that make threads: each mail to the mail it replies to and to every mail it references (numbered by _tag_thread_ids).
select mine.node as a, theirs.node as b
from (select message_id, in_reply_to as other from _tag_mails where in_reply_to <> ''
      union all
      select message_id, unnest(reference_ids) from _tag_mails) link
join _tag_thread_ids mine on mine.id = link.message_id
join _tag_thread_ids theirs on theirs.id = link.other
