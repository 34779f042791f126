-- Data quality: quarantined files, messages without a usable date, bounces, auto-replies, replies not matched to an ask, asks whose history may be missing. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign).
select
    (select count(*) from quarantine)                                                 as quarantined,
    (select count(*) from messages where sent_at is null)                             as no_usable_date,
    (select count(*) from messages where date_source in ('received', 'envelope'))     as date_from_fallback,
    (select count(*) from mails where automated = 'bounce')                           as bounce_messages,
    (select count(*) from mails where automated = 'auto')                             as auto_replies,
    (select count(*) from mails m
      where m.direction = 'in' and m.automated is null
        and (m.in_reply_to is not null or subject_base(m.subject) <> coalesce(m.subject, ''))
        and m.message_id not in (select answer_message_id from outcomes where answer_message_id is not null)) as unmatched_replies,
    (select count(distinct message_id) from period_tags(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar)) where history_incomplete)            as asks_history_incomplete,
    (select count(*) from mails where message_id_reused)                              as reused_message_ids
