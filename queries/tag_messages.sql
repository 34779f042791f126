-- Rows of load_messages given to tag.tag_frames (`_given`), in $parts partitions by Message-ID as load_messages cuts them: this is partition $part.
select * from _given where hash(message_id) % $parts = $part
