-- Every stored message with the header fields the stages read and the start of its body, one row per distinct raw content (no raw bytes), in $parts partitions by Message-ID: this is partition $part (0 of 1: all of them).
select
    m.raw_sha256, m.mail_key, m.message_id, m.in_reply_to, m.reference_ids, m.from_addr, m.from_name,
    m.recipients, m.undisclosed, m.sent_at, m.subject, m.content_type, m.dsn_recipients,
    left(m.body_text, 2000) as body_text,     -- enough for auto-reply phrases and return dates; asks use their measures
    m.dsn_status, m.dsn_original_id,
    m.headers ->> 'list-unsubscribe'          as h_list_unsubscribe,
    m.headers ->> 'list-id'                   as h_list_id,
    lower(m.headers ->> 'precedence')         as h_precedence,
    lower(m.headers ->> 'auto-submitted')     as h_auto_submitted,
    m.headers ->> 'x-autoreply'               as h_x_autoreply,
    m.headers ->> 'x-autorespond'             as h_x_autorespond,
    m.headers ->> 'x-auto-response-suppress' as h_x_auto_response_suppress,
    lower(coalesce(m.headers ->> 'x-mailer', m.headers ->> 'user-agent', '')) as h_mailer,
    len(list_filter(json_keys(m.headers), lambda k: (k like 'x-ms-exchange%' and k like '%auto%')
                    or k = 'x-ms-exchange-generated-message-source')) > 0 as h_exchange_auto,
    len(list_filter(json_keys(m.headers), lambda k: k like 'x-campaign%' or k like 'x-mc-%'
                    or k like 'x-mailgun%' or k like 'x-sg-%' or k like 'x-ses%')) > 0 as h_merge_header,
    (select list(distinct l.folder order by l.folder) from locations l where l.raw_sha256 = m.raw_sha256) as folders
from messages m
where hash(m.message_id) % $parts = $part
