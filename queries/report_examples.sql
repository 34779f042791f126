-- Candidate example asks, one row per ask message: how many it reached and answered, its style, best first by answered share then personal warmth. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign).
select message_id, any_value(subject) as subject, any_value(sender) as sender, min(sent_at) as sent_at,
       any_value(audience) as audience, any_value(focus) as focus, any_value(warmth) as warmth,
       any_value(ask_kind) as ask_kind, any_value(other_share) as other_share,
       count(*) as recipients,
       count(*) filter (where delivered) as delivered,
       count(*) filter (where answered) as answered,
       arg_min(recipient, recipient) as first_recipient,
       count(*) filter (where answered) / nullif(count(*) filter (where delivered), 0) as rate
from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar))
where is_request
group by message_id
having count(*) filter (where delivered) > 0
