-- Every id the mails name (their own Message-ID, In-Reply-To and References), numbered in sort order, so the smallest number in a thread is its smallest id.
select id, (row_number() over (order by id) - 1)::bigint as node
from (select message_id as id from _tag_mails
      union select in_reply_to from _tag_mails where in_reply_to <> ''
      union select unnest(reference_ids) from _tag_mails)
where id is not null
