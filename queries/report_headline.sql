-- The headline: asks sent (and how many make a request), people reached, then over request sequences: answered of closed delivered, pending, median hours to answer. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign).
select
    (select count(distinct message_id) from period_tags(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar)))                                   as asks,
    (select count(distinct message_id) from period_tags(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar)) where ask_kind <> 'none')          as requests,
    (select count(distinct recipient) from period_tags(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar)))                                    as people,
    count(*)                                                                        as sequences,
    count(*) filter (where outcome <> 'pending')                                    as closed,
    count(*) filter (where delivered)                                               as delivered,
    count(*) filter (where answered)                                                as answered,
    count(*) filter (where positive)                                                as positive,
    count(*) filter (where outcome = 'pending')                                     as pending,
    count(*) filter (where outcome = 'bounce')                                      as bounced,
    count(*) filter (where outcome = 'auto')                                        as auto_only,
    median(hours_to_answer) filter (where answered)                                 as median_hours_to_answer,
    min(sent_at)                                                                    as first_ask,
    max(sent_at)                                                                    as last_ask
from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar))
where is_request
