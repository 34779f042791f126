-- One outcome per (sequence, recipient): human answer within the window (from the recipient, or flagged from a colleague at their organisation), auto-reply only, bounce, pending (window still open at $as_of) or none.
with touch as (
    select t.message_id, t.recipient, t.sequence_message_id, t.touch, g.sent_at, g.subject, m.thread_id,
           split_part(t.recipient, '@', 2) as domain, g.sender as asker,
           -- The words a quote's attribution line names the asker by: their name's and their address's.
           list_filter(string_split_regex(lower(coalesce(s.from_name, '') || ' ' || g.sender), '[^[:alnum:]]+'),
                       lambda w: length(w) >= 3) as asker_words
    from touches t
    join tags g using (message_id, recipient)
    join mails m using (message_id)
    join messages s on s.raw_sha256 = m.raw_sha256
),
recipients_of as (
    select message_id, list(recipient) as recipients from tags group by message_id
),
sequences as (
    select sequence_message_id as message_id, recipient,
           cast(count(*) as integer) as touches,
           min(sent_at) as first_sent_at,
           max(sent_at) as last_touch_at,
           max(sent_at) + to_days(cast($window_days as integer)) as window_closes_at,
           subject_key(arg_min(subject, (sent_at, touch))) as subject_key,
           any_value(domain) as domain
    from touch
    group by all
),
-- When the next sequence to the same person under the same subject began: a message without threading headers
-- answers the latest ask it could answer, not every earlier one.
sequence_ends as (
    select message_id, recipient,
           lead(first_sent_at) over (partition by recipient, subject_key order by first_sent_at, message_id) as next_start
    from sequences
),
inbound as (
    select m.message_id, m.from_addr, split_part(m.from_addr, '@', 2) as domain, m.sent_at, m.in_reply_to,
           m.reference_ids, m.automated, m.thread_id, m.return_date, subject_key(m.subject) as subject_key,
           s.dsn_recipients, s.dsn_status, s.dsn_original_id,
           list_transform(list_filter(s.recipients, lambda r: r.field = 'to'), lambda r: r.addr) as to_addrs,
           coalesce(m.in_reply_to, '') = '' and coalesce(len(m.reference_ids), 0) = 0 as unthreaded,
           -- The message it replies to: In-Reply-To, else the last link of References.
           coalesce(nullif(m.in_reply_to, ''), m.reference_ids[-1]) as parent_id, q.attribution
    from mails m
    join messages s using (raw_sha256)
    left join reply_attributions q on q.message_id = m.message_id
    where m.direction = 'in' and m.sent_at is not null
),
-- How many people at each organisation write to the team (the mailbox's own measure of its size): where more do
-- than [match] colleague_org_max_people, colleagues are strangers to each other and do not answer for one another.
org_size as (
    select domain, count(distinct from_addr) as people
    from inbound
    where automated is null or automated = 'list'
    group by all
),
-- Candidate answers are found by equi-joins only, on the thread or on (normalised subject, sender's domain), so
-- the work grows with the mail in a thread, not with everything a person or an organisation ever sent.
-- Who may answer for a recipient: the person, or a colleague at the same organisation's own domain who was not
-- asked themselves (never at a shared free-mail domain).
candidates as (
    select t.message_id, t.recipient, t.sequence_message_id, t.touch, t.sent_at, t.domain,
           i.message_id as answer_id, i.from_addr, i.sent_at as answered_at, i.in_reply_to, i.reference_ids,
           i.domain as answer_domain, true as same_thread, i.unthreaded as headerless,
           i.parent_id = t.message_id as replies_to_touch, list_contains(i.to_addrs, t.asker) as to_asker
    from touch t
    join inbound i on i.thread_id = t.thread_id
    -- Through a list a thread is everyone's conversation: a post there answers the ask when it replies to a touch
    -- itself, or is the asked person's own post without threading headers (others' replies put it in the thread);
    -- their posts that reply to someone else answer that someone.
    where i.sent_at >= t.sent_at
      and (i.automated is null
           or (i.automated = 'list' and (i.parent_id = t.message_id or (i.unthreaded and i.from_addr = t.recipient))))
      -- Where a quote's attribution line names someone, it answers only the asker it names ("On Tuesday, Laurent
      -- Pinchart wrote:"); read for list posts without threading headers (match.attributions_of).
      and (i.attribution is null or list_bool_or(list_transform(t.asker_words, lambda w: contains(i.attribution, w))))
    union all
    -- A reply whose client dropped the threading headers (or that answers a forward we never saw): same
    -- normalised subject, from the person asked or (below) a colleague at their organisation's own domain. Through a
    -- list only the asked person's own post without threading headers: list subjects repeat across senders, and a
    -- post whose headers name another message answers that one. Two equi-joins, by person and by organisation: one
    -- on (subject, domain) alone paired every gmail.com recipient of a campaign with every gmail.com reply to it
    -- (70 s and 40 GB of spill at a million messages).
    select t.message_id, t.recipient, t.sequence_message_id, t.touch, t.sent_at, t.domain,
           i.message_id, i.from_addr, i.sent_at, i.in_reply_to, i.reference_ids, i.domain, false, true,
           false, list_contains(i.to_addrs, t.asker)
    from touch t
    join sequences s on s.message_id = t.sequence_message_id and s.recipient = t.recipient
    join inbound i on i.subject_key = s.subject_key and i.from_addr = t.recipient
    where s.subject_key <> '' and i.thread_id <> t.thread_id
      and (i.automated is null or (i.automated = 'list' and i.unthreaded))
      and (i.attribution is null or list_bool_or(list_transform(t.asker_words, lambda w: contains(i.attribution, w))))
      and i.sent_at >= t.sent_at and i.sent_at <= s.window_closes_at
    union all
    select t.message_id, t.recipient, t.sequence_message_id, t.touch, t.sent_at, t.domain,
           i.message_id, i.from_addr, i.sent_at, i.in_reply_to, i.reference_ids, i.domain, false, true,
           false, list_contains(i.to_addrs, t.asker)
    from touch t
    join sequences s on s.message_id = t.sequence_message_id and s.recipient = t.recipient
    join inbound i on i.subject_key = s.subject_key and i.domain = t.domain
    where s.subject_key <> '' and i.thread_id <> t.thread_id and i.automated is null
      and i.from_addr <> t.recipient and not list_contains($free_mail, t.domain)
      and i.sent_at >= t.sent_at and i.sent_at <= s.window_closes_at
),
-- A message without threading headers answers no sequence after the next one to that person under the same
-- subject began. A colleague answers for the person asked only when the message answers the ask itself (it replies
-- to a touch, or is addressed to the asker), from the person's own small organisation, and was not asked themselves.
answerer as (
    select c.*, c.from_addr <> c.recipient as by_colleague
    from candidates c
    join recipients_of r on r.message_id = c.message_id
    join sequence_ends e on e.message_id = c.sequence_message_id and e.recipient = c.recipient
    left join org_size o on o.domain = c.domain
    where (not c.headerless or e.next_start is null or c.answered_at < e.next_start)
      and (c.from_addr = c.recipient
           or (c.answer_domain = c.domain and not list_contains($free_mail, c.domain)
               and not list_contains(r.recipients, c.from_addr)
               and (coalesce(c.replies_to_touch, false) or coalesce(c.to_asker, false))
               and coalesce(o.people, 0) <= cast($colleague_org_max_people as integer)))
),
threaded as (
    select sequence_message_id, recipient, touch, answer_id, from_addr, answered_at, by_colleague,
           case when not same_thread then 'subject'
                when in_reply_to = message_id then 'in_reply_to'
                when list_contains(reference_ids, message_id) then 'references'
                else 'thread' end as matched_by
    from answerer
),
answers as (
    select sequence_message_id, recipient,
           -- The earliest answer (the person's own before a colleague's at the same moment), and among the
           -- touches it could answer, the one it names (In-Reply-To, then References), else the latest. The
           -- Message-ID breaks what ties remain (two colleagues answering in the same second), so that a re-run
           -- picks the same answer and every column comes from that one answer.
           arg_min(answer_id, pick) as answer_message_id,
           arg_min(from_addr, pick) as answer_from,
           arg_min(answered_at, pick) as answered_at,
           arg_min(matched_by, pick) as matched_by,
           arg_min(case when matched_by <> 'subject' then touch end, pick) as answer_touch,
           arg_min(by_colleague, pick) as answer_by_colleague
    from (select *, (answered_at, by_colleague, case matched_by when 'in_reply_to' then 0 when 'references' then 1
                     when 'thread' then 2 else 3 end, -coalesce(touch, 0), answer_id) as pick
          from threaded)
    group by all
),
-- Out-of-office robots answer from the person's address, often as a new message outside the thread.
autos as (
    select s.message_id as sequence_message_id, s.recipient,
           arg_min(i.message_id, (i.sent_at, i.message_id)) as auto_message_id,
           max(i.return_date) as auto_return_date
    from sequences s
    join inbound i on i.from_addr = s.recipient
    where i.automated = 'auto' and i.sent_at >= s.first_sent_at and i.sent_at <= s.window_closes_at
    group by all
),
-- A bounce names the failed address; the original Message-ID, where the bounce carries it, must be a touch.
bounces as (
    select s.message_id as sequence_message_id, s.recipient,
           arg_min(i.message_id, (i.sent_at, i.message_id)) as bounce_message_id,
           arg_min(i.dsn_status, (i.sent_at, i.message_id)) as bounce_status
    from sequences s
    -- One row per failed address, so the join is on equal addresses: matching on list_contains compared every
    -- sequence with every bounce (98 s at a million messages).
    join (select *, unnest(dsn_recipients) as failed from inbound where automated = 'bounce') i
      on i.failed = s.recipient
    where i.sent_at >= s.first_sent_at and i.sent_at <= s.window_closes_at
      and (i.dsn_original_id is null
           or i.dsn_original_id in (select message_id from touch t
                                    where t.sequence_message_id = s.message_id and t.recipient = s.recipient))
    group by all
)
select s.message_id, s.recipient,
       case
           when counted then 'human'
           when b.bounce_message_id is not null then 'bounce'
           when cast($as_of as timestamptz) < s.window_closes_at then 'pending'
           when u.auto_message_id is not null then 'auto'
           else 'none'
       end as outcome,
       s.touches, s.first_sent_at, s.last_touch_at, s.window_closes_at,
       -- An answer after the window is not an answer: none of its details are kept on the row.
       case when counted then a.answer_message_id end as answer_message_id,
       case when counted then a.answer_from end as answer_from,
       case when counted then a.answered_at end as answered_at,
       case when counted then a.matched_by end as matched_by,
       case when counted then date_diff('second', s.first_sent_at, a.answered_at) / 3600.0 end as hours_to_answer,
       case when counted then coalesce(a.answer_touch, s.touches) end as answer_touch,
       u.auto_message_id, b.bounce_message_id,
       case when counted then a.answer_by_colleague end as answer_by_colleague,
       u.auto_return_date, b.bounce_status
-- A colleague's answer does not count for an address that bounced: the person was never reached.
from (select s.*, coalesce(a.answered_at <= s.window_closes_at, false)
                  and not (a.answer_by_colleague and b.bounce_message_id is not null) as counted
      from sequences s
      left join answers a on a.sequence_message_id = s.message_id and a.recipient = s.recipient
      left join bounces b on b.sequence_message_id = s.message_id and b.recipient = s.recipient) s
left join answers a on a.sequence_message_id = s.message_id and a.recipient = s.recipient
left join autos u on u.sequence_message_id = s.message_id and u.recipient = s.recipient
left join bounces b on b.sequence_message_id = s.message_id and b.recipient = s.recipient
