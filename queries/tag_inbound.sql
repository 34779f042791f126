-- One partition of the mail people wrote to us ($part of $parts, by their address): robots and lists left out.
select from_addr as person, sent_at as "at"
from _tag_mails
where direction = 'in' and automated is null and from_addr is not null and sent_at is not null
  and hash(from_addr) % $parts = $part
