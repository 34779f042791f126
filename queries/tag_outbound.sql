-- One partition of what we sent each person ($part of $parts, by their address), with the ask's kind ('none': a give).
select person, "at", l.ask_kind
from (select message_id, sent_at as "at", unnest(list_transform(recipients_ext, lambda r: r.addr)) as person from _tag_asks) sent
join _tag_labels l using (message_id)
where person is not null and "at" is not null and hash(person) % $parts = $part
