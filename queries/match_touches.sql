-- Which sequence each (ask, recipient) belongs to: a later ask to the same person in the same thread (or with the same normalised subject) within the window, before any human answer, is a follow-up.
with asks as (
    select t.message_id, t.recipient, t.sent_at, m.thread_id, subject_key(t.subject) as subject_key
    from tags t
    join mails m using (message_id)
    where t.sent_at is not null
),
human_in as (
    select from_addr, sent_at from mails
    where direction = 'in' and (automated is null or automated = 'list')
),
ordered as (
    select a.*,
           lag(thread_id) over w as prev_thread,
           lag(sent_at) over w as prev_at,
           lag(subject_key) over w as prev_subject
    from asks a
    window w as (partition by recipient order by sent_at, message_id)
),
flagged as (
    select o.*,
           coalesce(o.prev_at is not null
               and (o.thread_id = o.prev_thread or (o.subject_key = o.prev_subject and o.subject_key <> ''))
               and o.sent_at - o.prev_at <= to_days(cast($window_days as integer))
               and not exists (select 1 from human_in h
                               where h.from_addr = o.recipient and h.sent_at > o.prev_at and h.sent_at <= o.sent_at),
               false) as is_follow_up
    from ordered o
),
numbered as (
    select *, sum(case when is_follow_up then 0 else 1 end)
                  over (partition by recipient order by sent_at, message_id rows unbounded preceding) as sequence_no
    from flagged
)
select message_id, recipient,
       first_value(message_id) over s as sequence_message_id,
       cast(row_number() over s as integer) as touch
from numbered
window s as (partition by recipient, sequence_no order by sent_at, message_id)
