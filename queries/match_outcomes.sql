-- One outcome per (sequence, recipient): human answer within the window, auto-reply only, bounce, pending (window still open at $as_of) or none.
with touch as (
    select t.message_id, t.recipient, t.sequence_message_id, t.touch, g.sent_at, g.subject
    from touches t
    join tags g using (message_id, recipient)
),
sequences as (
    select sequence_message_id as message_id, recipient,
           cast(count(*) as integer) as touches,
           min(sent_at) as first_sent_at,
           max(sent_at) as last_touch_at,
           max(sent_at) + to_days(cast($window_days as integer)) as window_closes_at,
           subject_key(arg_min(subject, sent_at)) as subject_key
    from touch
    group by all
),
inbound as (
    select m.message_id, m.from_addr, m.sent_at, m.in_reply_to, m.reference_ids, m.automated,
           subject_key(m.subject) as subject_key,
           s.dsn_recipients, s.dsn_original_id
    from mails m
    join messages s using (raw_sha256)
    where m.direction = 'in' and m.sent_at is not null
),
-- A person's answer names one of the touches in In-Reply-To or References.
threaded as (
    select t.sequence_message_id, t.recipient, t.touch, i.message_id as answer_id, i.from_addr, i.sent_at,
           case when i.in_reply_to = t.message_id then 'in_reply_to' else 'references' end as matched_by
    from touch t
    join inbound i on i.from_addr = t.recipient
    where i.automated is null and i.sent_at >= t.sent_at
      and (i.in_reply_to = t.message_id or list_contains(i.reference_ids, t.message_id))
),
-- A reply whose client dropped the threading headers: same person, same normalised subject, after the ask.
by_subject as (
    select s.message_id as sequence_message_id, s.recipient, null::integer as touch, i.message_id as answer_id,
           i.from_addr, i.sent_at, 'subject' as matched_by
    from sequences s
    join inbound i on i.from_addr = s.recipient
    where i.automated is null and i.in_reply_to is null and len(coalesce(i.reference_ids, [])) = 0
      and i.subject_key = s.subject_key and s.subject_key <> ''
      and i.sent_at >= s.first_sent_at and i.sent_at <= s.window_closes_at
),
answers as (
    select sequence_message_id, recipient,
           arg_min(answer_id, sent_at) as answer_message_id,
           arg_min(from_addr, sent_at) as answer_from,
           min(sent_at) as answered_at,
           arg_min(matched_by, sent_at) as matched_by,
           arg_min(touch, sent_at) as answer_touch
    from (select * from threaded union all select * from by_subject)
    group by all
),
autos as (
    select s.message_id as sequence_message_id, s.recipient, arg_min(i.message_id, i.sent_at) as auto_message_id
    from sequences s
    join inbound i on i.from_addr = s.recipient
    where i.automated = 'auto' and i.sent_at >= s.first_sent_at and i.sent_at <= s.window_closes_at
    group by all
),
bounces as (
    select s.message_id as sequence_message_id, s.recipient, arg_min(i.message_id, i.sent_at) as bounce_message_id
    from sequences s
    join inbound i on list_contains(i.dsn_recipients, s.recipient)
    where i.automated = 'bounce' and i.sent_at >= s.first_sent_at and i.sent_at <= s.window_closes_at
    group by all
)
select s.message_id, s.recipient,
       case
           when a.answered_at <= s.window_closes_at then 'human'
           when b.bounce_message_id is not null then 'bounce'
           when cast($as_of as timestamptz) < s.window_closes_at then 'pending'
           when u.auto_message_id is not null then 'auto'
           else 'none'
       end as outcome,
       s.touches, s.first_sent_at, s.last_touch_at, s.window_closes_at,
       a.answer_message_id, a.answer_from, a.answered_at, a.matched_by,
       date_diff('second', s.first_sent_at, a.answered_at) / 3600.0 as hours_to_answer,
       coalesce(a.answer_touch, case when a.answer_message_id is not null then s.touches end) as answer_touch,
       u.auto_message_id, b.bounce_message_id
from sequences s
left join answers a on a.sequence_message_id = s.message_id and a.recipient = s.recipient
left join autos u on u.sequence_message_id = s.message_id and u.recipient = s.recipient
left join bounces b on b.sequence_message_id = s.message_id and b.recipient = s.recipient
