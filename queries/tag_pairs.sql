-- One partition of the (ask, recipient) pairs whose warmth is decided ($part of $parts, by the recipient's address).
select message_id, sent_at, recipient
from (select message_id, sent_at, unnest(list_transform(recipients_ext, lambda r: r.addr)) as recipient from _tag_asks)
where recipient is not null and sent_at is not null and hash(recipient) % $parts = $part
