-- List posts without threading headers from people the team wrote to: what they reply to can only be read from
-- their quoted history's attribution line ("Laurent Pinchart wrote:"), so their text is read (raw, where the
-- ingest deferred the body of list mail).
select m.message_id, s.body_kind, s.body_text, case when s.body_kind = 'deferred' then s.raw end as raw
from mails m
join messages s using (raw_sha256)
where m.direction = 'in' and m.automated = 'list'
  and coalesce(m.in_reply_to, '') = '' and coalesce(len(m.reference_ids), 0) = 0
  and m.from_addr in (select recipient from tags)
