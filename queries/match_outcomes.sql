-- One outcome per (sequence, recipient): human answer within the window (from the recipient, or flagged from a colleague at their organisation), auto-reply only, bounce, pending (window still open at $as_of) or none.
with touch as (
    select t.message_id, t.recipient, t.sequence_message_id, t.touch, g.sent_at, g.subject, m.thread_id,
           split_part(t.recipient, '@', 2) as domain
    from touches t
    join tags g using (message_id, recipient)
    join mails m using (message_id)
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
inbound as (
    select m.message_id, m.from_addr, split_part(m.from_addr, '@', 2) as domain, m.sent_at, m.in_reply_to,
           m.reference_ids, m.automated, m.thread_id, m.return_date, subject_key(m.subject) as subject_key,
           s.dsn_recipients, s.dsn_status, s.dsn_original_id
    from mails m
    join messages s using (raw_sha256)
    where m.direction = 'in' and m.sent_at is not null
),
-- Candidate answers are found by equi-joins only, on the thread or on (normalised subject, sender's domain), so
-- the work grows with the mail in a thread, not with everything a person or an organisation ever sent.
-- Who may answer for a recipient: the person, or a colleague at the same organisation's own domain who was not
-- asked themselves (never at a shared free-mail domain).
candidates as (
    select t.*, i.message_id as answer_id, i.from_addr, i.sent_at as answered_at, i.in_reply_to, i.reference_ids,
           i.domain as answer_domain, i.automated as answer_automated, true as same_thread
    from touch t
    join inbound i on i.thread_id = t.thread_id
    where i.sent_at >= t.sent_at and (i.automated is null or i.automated = 'list')
    union all
    -- A reply whose client dropped the threading headers (or that answers a forward we never saw): same
    -- normalised subject, from the recipient's domain. Lists are left out: their subjects repeat across senders.
    select t.*, i.message_id, i.from_addr, i.sent_at, i.in_reply_to, i.reference_ids, i.domain, i.automated, false
    from touch t
    join sequences s on s.message_id = t.sequence_message_id and s.recipient = t.recipient
    join inbound i on i.subject_key = s.subject_key and i.domain = t.domain
    where s.subject_key <> '' and i.thread_id <> t.thread_id and i.automated is null
      and i.sent_at >= t.sent_at and i.sent_at <= s.window_closes_at
      -- At a free-mail domain only the person answers for themselves (as in `answerer`): said here too, or a
      -- campaign's subject pairs every gmail.com recipient with every gmail.com reply (70 s and 40 GB of spill
      -- at a million messages).
      and (i.from_addr = t.recipient or not list_contains($free_mail, t.domain))
),
answerer as (
    select c.*, c.from_addr <> c.recipient as by_colleague
    from candidates c
    join recipients_of r on r.message_id = c.message_id
    where c.from_addr = c.recipient
       or (c.answer_domain = c.domain and not list_contains($free_mail, c.domain)
           and not list_contains(r.recipients, c.from_addr))
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
from (select s.*, coalesce(a.answered_at <= s.window_closes_at, false) as counted
      from sequences s
      left join answers a on a.sequence_message_id = s.message_id and a.recipient = s.recipient) s
left join answers a on a.sequence_message_id = s.message_id and a.recipient = s.recipient
left join autos u on u.sequence_message_id = s.message_id and u.recipient = s.recipient
left join bounces b on b.sequence_message_id = s.message_id and b.recipient = s.recipient
